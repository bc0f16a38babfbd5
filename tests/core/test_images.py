"""Image sniffing and preparation (tripo_addon.core.images) against Pillow."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from tripo_addon.core.errors import BadImage
from tripo_addon.core.images import MAX_EDGE_PX, MAX_INLINE_BYTES, prepare, sniff


def encode(fmt: str, size=(97, 63), mode="RGB", **save) -> bytes:
    im = Image.new(mode, size, (10, 20, 30) if mode == "RGB" else (10, 20, 30, 128))
    d = ImageDraw.Draw(im)
    d.rectangle((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2), fill=(250, 200, 10) + ((255,) if mode == "RGBA" else ()))
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def pillow_size(data: bytes) -> tuple[str, int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.format, im.width, im.height


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend  # no pixels, but whole: the size checks see it


CASES = {
    "png_rgb": lambda: encode("PNG"),
    "png_rgba": lambda: encode("PNG", (33, 517), mode="RGBA"),
    "jpeg_baseline": lambda: encode("JPEG", (97, 63), quality=85),
    "jpeg_progressive": lambda: encode("JPEG", (301, 157), progressive=True, quality=80),
    "jpeg_exif": lambda: encode("JPEG", (64, 48), exif=Image.Exif().tobytes()),
    "jpeg_optimized_large": lambda: encode("JPEG", (1203, 801), optimize=True),
    "webp_lossy": lambda: encode("WEBP", (97, 63), quality=70),
    "webp_lossless": lambda: encode("WEBP", (97, 63), lossless=True),
    "webp_lossy_alpha_vp8x": lambda: encode("WEBP", (131, 45), mode="RGBA", quality=60),
    "webp_lossless_alpha": lambda: encode("WEBP", (4000, 3), mode="RGBA", lossless=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sniff_matches_pillow(case):
    data = CASES[case]()
    fmt, w, h = pillow_size(data)
    info = sniff(data)
    assert info is not None, f"{case} not recognised"
    assert (info.format, info.width, info.height) == (fmt, w, h)
    assert info.mime == {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]


def test_jpeg_thumbnail_inside_exif_is_skipped():
    # An APP1 segment holding an embedded thumbnail's start-of-frame must not be
    # mistaken for the image's own frame.
    data = encode("JPEG", (120, 90))
    fake_thumb = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x20\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    payload = b"Exif\0\0" + fake_thumb
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    crafted = data[:2] + app1 + data[2:]
    assert pillow_size(crafted)[1:] == (120, 90)
    info = sniff(crafted)
    assert info is not None and (info.width, info.height) == (120, 90)


def test_webp_lossless_and_lossy_use_different_chunks():
    # Make sure both VP8 and VP8L code paths are really exercised above.
    assert CASES["webp_lossy"]()[12:16] == b"VP8 "
    assert CASES["webp_lossless"]()[12:16] == b"VP8L"
    assert CASES["webp_lossy_alpha_vp8x"]()[12:16] == b"VP8X"


def test_progressive_jpeg_really_is_progressive():
    data = CASES["jpeg_progressive"]()
    assert b"\xff\xc2" in data and b"\xff\xc0" not in data


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\0" * 20, b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8 ",
                                  b"\xff\xd8\xff", b"hello world, not an image at all"])
def test_sniff_refuses_other_and_broken_data(data):
    assert sniff(data) is None


@pytest.mark.parametrize("ext,mime", [("png", "image/png"), ("jpg", "image/jpeg"), ("webp", "image/webp")])
def test_prepare_file_makes_data_uri(image_files, ext, mime):
    path = image_files[ext]
    with open(path, "rb") as f:
        raw = f.read()
    p = prepare(path)
    assert p.source == path
    assert p.image_url.startswith(f"data:{mime};base64,")
    assert base64.b64decode(p.image_url.split(",", 1)[1]) == raw
    assert p.content_hash == hashlib.sha256(raw).hexdigest()
    assert p.info is not None and (p.info.width, p.info.height) == Image.open(path).size


def test_prepare_with_replacement_bytes(png_path):
    small = encode("JPEG", (20, 10))
    p = prepare(png_path, data=small)
    assert p.image_url.startswith("data:image/jpeg;base64,")
    assert p.content_hash == hashlib.sha256(small).hexdigest()
    with pytest.raises(BadImage, match="not a PNG, JPEG or WebP"):
        prepare(png_path, data=b"GIF89a....")


def test_same_bytes_same_hash_different_bytes_different_hash(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    a.write_bytes(encode("PNG"))
    b.write_bytes(encode("PNG"))
    c.write_bytes(encode("PNG", (98, 63)))
    assert prepare(str(a)).content_hash == prepare(str(b)).content_hash != prepare(str(c)).content_hash


@pytest.mark.parametrize("url", ["https://example.com/images/cat.png?sig=abc", "http://example.com/cat.jpg"])
def test_prepare_url_passed_as_is(url):
    p = prepare(f"  {url} ")
    assert p.image_url == url
    assert p.info is None
    assert p.content_hash == hashlib.sha256(url.encode()).hexdigest()


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.png")
    with pytest.raises(BadImage, match="does not exist") as e:
        prepare(path)
    assert "nope.png" in str(e.value)


def test_folder(tmp_path):
    with pytest.raises(BadImage, match="is a folder"):
        prepare(str(tmp_path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(BadImage, match="empty.png is empty"):
        prepare(str(path))


def test_text_named_png(image_files):
    with pytest.raises(BadImage, match="notes.png is not a PNG, JPEG or WebP image"):
        prepare(image_files["bad"])


def test_gif_refused(tmp_path):
    path = tmp_path / "anim.gif"
    path.write_bytes(encode("GIF"))
    with pytest.raises(BadImage, match="anim.gif is not a PNG, JPEG or WebP image"):
        prepare(str(path))


def test_gif_renamed_png_refused(tmp_path):
    path = tmp_path / "sneaky.png"
    path.write_bytes(encode("GIF"))
    with pytest.raises(BadImage, match="not a PNG, JPEG or WebP"):
        prepare(str(path))


@pytest.mark.parametrize("w,h", [(MAX_EDGE_PX + 1, 10), (10, MAX_EDGE_PX + 1), (16000, 16000)])
def test_too_large_edge(tmp_path, w, h):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(w, h))
    assert sniff(path.read_bytes()).width == w
    with pytest.raises(BadImage, match="too large") as e:
        prepare(str(path))
    assert f"{w}x{h}" in str(e.value) and str(MAX_EDGE_PX) in str(e.value)


def test_edge_at_limit_is_accepted(tmp_path):
    path = tmp_path / "edge.png"
    path.write_bytes(png_header_only(MAX_EDGE_PX, MAX_EDGE_PX))
    assert prepare(str(path)).info.width == MAX_EDGE_PX


def test_too_many_bytes(tmp_path):
    path = tmp_path / "heavy.png"
    path.write_bytes(png_header_only(100, 100) + b"\0" * (MAX_INLINE_BYTES + 1))
    with pytest.raises(BadImage, match="too large"):
        prepare(str(path))


@pytest.mark.parametrize("source", ["ftp://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo=",
                                    "file:///etc/passwd", "s3://bucket/key.png"])
def test_non_http_sources_refused(source):
    with pytest.raises(BadImage, match="neither a local file nor an http"):
        prepare(source)


def test_blank_source_refused():
    with pytest.raises(BadImage, match="No image was given"):
        prepare("   ")


def test_url_without_host_refused():
    with pytest.raises(BadImage, match="not a complete address"):
        prepare("https:///cat.png")
