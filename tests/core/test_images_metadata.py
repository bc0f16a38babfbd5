"""Metadata stays home (tripo_addon.core.images.metadata and prepare): EXIF with GPS
and a serial number, XMP, IPTC, comments and text chunks are gone, the pixels
are identical (Pillow decodes both), a JPEG's coded data byte for byte."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from tripo_addon.core.images import prepare, sniff
from tripo_addon.core.images.metadata import strip

SECRETS = (b"Jane Doe", b"SERIAL-12345", b"Secret Street", b"private note", b"xmp-creator-name")
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description dc:creator="xmp-creator-name"/></rdf:RDF></x:xmpmeta>')
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def private_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x013B] = "Jane Doe"  # Artist
    exif[0x010E] = "Secret Street"  # ImageDescription
    exif[274] = orientation
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)})  # GPS
    return exif.tobytes()


def photo(mode: str = "RGB", size=(120, 80)) -> Image.Image:
    rng = np.random.default_rng(11)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8), "RGBA").convert(mode)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def private_jpeg(orientation: int = 1, **kw) -> bytes:
    buf = io.BytesIO()
    photo().save(buf, format="JPEG", exif=private_exif(orientation), comment=b"private note", icc_profile=ICC,
                 quality=90, **kw)
    data = buf.getvalue()
    iptc = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + struct.pack(">I", 14) + b"\x1c\x02\x50\x00\x08Jane Doe" + b"\0"
    extra = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP) + segment(0xED, iptc)
    extra += segment(0xE5, b"maker notes SERIAL-12345")
    trailer = b"MotionPhoto video by Jane Doe"  # what some phones append after the picture
    return data[:2] + extra + data[2:] + trailer


def scans(data: bytes) -> bytes:
    """From the first start-of-scan to the end of image: the coded picture."""
    return data[data.index(b"\xff\xda") : data.rindex(b"\xff\xd9") + 2]


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


def no_secrets(data: bytes) -> None:
    for secret in SECRETS:
        assert secret not in data, secret


@pytest.mark.parametrize("kw", [{}, {"progressive": True}, {"subsampling": 0, "optimize": True}])
def test_jpeg_loses_its_metadata_not_a_bit_of_its_picture(kw):
    data = private_jpeg(**kw)
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif().get_ifd(0x8825) and "xmp" in im.info and "photoshop" in im.info
    clean = strip(data, sniff(data))
    no_secrets(clean)
    with Image.open(io.BytesIO(clean)) as im:
        assert len(im.getexif()) == 0 and not im.getexif().get_ifd(0x8825)
        for key in ("exif", "xmp", "photoshop", "comment"):
            assert key not in im.info, key
        assert im.info.get("icc_profile") == ICC  # the colours' meaning stays
        assert "jfif" in im.info
    assert scans(clean) == scans(data[: data.rindex(b"\xff\xd9") + 2])  # the coded data byte for byte
    assert clean.endswith(b"\xff\xd9")
    assert np.array_equal(pixels(clean), pixels(data))


def test_a_turned_jpeg_keeps_only_its_orientation():
    data = private_jpeg(orientation=6)
    clean = strip(data, sniff(data))
    no_secrets(clean)
    with Image.open(io.BytesIO(clean)) as im:
        assert dict(im.getexif()) == {274: 6}
    assert sniff(clean).orientation == 6
    assert np.array_equal(pixels(clean), pixels(data))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def private_png(mode: str = "RGBA") -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_text("Comment", "private note", zip=True)
    info.add_itxt("Description", "Secret Street", lang="en", tkey="Description")
    info.add(b"gAMA", struct.pack(">I", 45455))
    buf = io.BytesIO()
    photo(mode).save(buf, format="PNG", pnginfo=info, exif=private_exif(), icc_profile=ICC)
    data = buf.getvalue()
    stamp = png_chunk(b"tIME", struct.pack(">HBBBBB", 2026, 12, 7, 13, 0, 0))
    return data[:33] + stamp + data[33:] + b"xmp-creator-name after the end"


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "P"])
def test_png_loses_text_exif_and_time_keeps_colour_chunks(mode):
    data = private_png(mode)
    with Image.open(io.BytesIO(data)) as im:
        assert im.text and im.getexif()
    clean = strip(data, sniff(data))
    no_secrets(clean)
    assert b"tIME" not in clean and b"eXIf" not in clean
    with Image.open(io.BytesIO(clean)) as im:
        assert im.text == {} and len(im.getexif()) == 0
        assert im.info.get("icc_profile") == ICC and "gamma" in im.info
    with Image.open(io.BytesIO(clean)) as im:
        im.verify()  # every chunk's checksum holds
    assert np.array_equal(pixels(clean), pixels(data))
    assert clean.endswith(png_chunk(b"IEND", b""))


@pytest.mark.parametrize("kw", [{"lossless": True}, {"quality": 80}])
@pytest.mark.parametrize("mode", ["RGBA", "RGB"])
def test_webp_loses_exif_and_xmp_flags_and_size_follow(mode, kw):
    buf = io.BytesIO()
    photo(mode).save(buf, format="WEBP", exif=private_exif(), xmp=XMP, icc_profile=ICC, **kw)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        assert "exif" in im.info and "xmp" in im.info
    clean = strip(data, sniff(data))
    no_secrets(clean)
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8
    assert clean[12:16] == b"VP8X" and clean[20] & 0x0C == 0  # no EXIF or XMP announced
    with Image.open(io.BytesIO(clean)) as im:
        assert "exif" not in im.info and "xmp" not in im.info and im.info.get("icc_profile") == ICC
    assert np.array_equal(pixels(clean), pixels(data))


def test_a_turned_webp_keeps_only_its_orientation():
    buf = io.BytesIO()
    photo().save(buf, format="WEBP", exif=private_exif(8), lossless=True)
    clean = strip(buf.getvalue(), sniff(buf.getvalue()))
    no_secrets(clean)
    with Image.open(io.BytesIO(clean)) as im:
        assert dict(im.getexif()) == {274: 8}


def test_prepare_sends_no_metadata_unless_asked(tmp_path):
    one, two = tmp_path / "IMG_0001.jpg", tmp_path / "copy.jpg"
    one.write_bytes(private_jpeg())
    two.write_bytes(strip(private_jpeg(), sniff(private_jpeg())))
    sent = prepare(str(one))
    no_secrets(sent.data)
    assert np.array_equal(pixels(sent.data), pixels(one.read_bytes()))
    # The same picture with or without its metadata is one job: the hash is that of what is sent.
    assert prepare(str(two)).content_hash == sent.content_hash
    kept = prepare(str(one), keep_metadata=True)
    assert kept.data == one.read_bytes() and kept.content_hash != sent.content_hash
    replaced = prepare(str(one), data=private_png())
    no_secrets(replaced.data)


def test_other_formats_are_returned_unchanged():
    buf = io.BytesIO()
    photo().save(buf, format="TIFF")
    assert strip(buf.getvalue(), sniff(buf.getvalue())) == buf.getvalue()
