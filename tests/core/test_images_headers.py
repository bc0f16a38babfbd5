"""Headers of every format the add-on recognises (tripo_addon.core.images.headers),
checked against Pillow where it writes the format and against the format's
specification where it does not; and the limits, refused before any body is read."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tripo_addon.core.errors import BadImage
from tripo_addon.core.images import check_header, prepare, read_local_image, sendable_as_is, sniff
from tripo_addon.core.images.headers import HEAD_BYTES

PILLOW_NAMES = {"TGA": "TARGA", "SGI": "IRIS"}


def picture(mode: str, size=(97, 61)) -> Image.Image:
    rng = np.random.default_rng(7)
    base = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8), "RGBA")
    return base.convert(mode)


def saved(mode: str, fmt: str, size=(97, 61), **kw) -> bytes:
    buf = io.BytesIO()
    picture(mode, size).save(buf, format=fmt, **kw)
    return buf.getvalue()


PILLOW_CASES = {
    "png_l": lambda: saved("L", "PNG"),
    "png_la": lambda: saved("LA", "PNG"),
    "png_p": lambda: saved("P", "PNG"),
    "png_16": lambda: saved("I;16", "PNG"),
    "png_rgba": lambda: saved("RGBA", "PNG", (3000, 2)),
    "jpeg_gray": lambda: saved("L", "JPEG"),
    "jpeg_cmyk": lambda: saved("CMYK", "JPEG"),
    "jpeg_progressive": lambda: saved("RGB", "JPEG", (640, 480), progressive=True),
    "webp_lossy": lambda: saved("RGB", "WEBP"),
    "webp_alpha": lambda: saved("RGBA", "WEBP", (129, 3)),
    "webp_lossless": lambda: saved("RGBA", "WEBP", lossless=True),
    "bmp_1": lambda: saved("1", "BMP"),
    "bmp_8": lambda: saved("P", "BMP"),
    "bmp_24": lambda: saved("RGB", "BMP"),
    "bmp_32": lambda: saved("RGBA", "BMP"),
    "tiff_raw": lambda: saved("RGB", "TIFF"),
    "tiff_lzw": lambda: saved("RGBA", "TIFF", compression="tiff_lzw"),
    "tiff_deflate_16": lambda: saved("I;16", "TIFF", compression="tiff_adobe_deflate"),
    "tiff_jpeg": lambda: saved("RGB", "TIFF", compression="jpeg"),
    "tiff_cmyk": lambda: saved("CMYK", "TIFF", compression="packbits"),
    "tiff_float": lambda: saved("F", "TIFF"),
    "tiff_big": lambda: saved("RGB", "TIFF", big_tiff=True),
    "tiff_big_lzw": lambda: saved("RGBA", "TIFF", big_tiff=True, compression="tiff_lzw"),
    "gif": lambda: saved("P", "GIF"),
    "tga_rgb": lambda: saved("RGB", "TGA"),
    "tga_rle_rgba": lambda: saved("RGBA", "TGA", compression="tga_rle"),
    "tga_gray": lambda: saved("L", "TGA"),
    "sgi_l": lambda: saved("L", "SGI"),
    "sgi_rgba": lambda: saved("RGBA", "SGI"),
    "jp2": lambda: saved("RGB", "JPEG2000", irreversible=False),
    "jp2_la": lambda: saved("LA", "JPEG2000"),
    "j2k": lambda: saved("RGB", "JPEG2000", no_jp2=True),
    "dds_rgba": lambda: saved("RGBA", "DDS"),
    "dds_dxt1": lambda: saved("RGB", "DDS", pixel_format="DXT1", size=(96, 64)),
}


@pytest.mark.parametrize("case", sorted(PILLOW_CASES))
def test_header_matches_pillow(case, tmp_path):
    data = PILLOW_CASES[case]()
    with Image.open(io.BytesIO(data)) as im:
        want = (PILLOW_NAMES.get(im.format, im.format), im.width, im.height)
    ext = ".tga" if case.startswith("tga") else ".img"
    info = sniff(data, name="x" + ext)
    assert info is not None, case
    assert (info.format, info.width, info.height) == want
    path = tmp_path / ("picture" + ext)
    path.write_bytes(data)
    assert check_header(str(path)) == info  # from the file, read piecewise: the same answer


def test_alpha_declared_as_pillow_sees_it():
    for case in ("png_la", "png_rgba", "webp_alpha", "webp_lossless", "tiff_lzw", "sgi_rgba", "jp2_la"):
        assert sniff(PILLOW_CASES[case]()).alpha is True, case
    for case in ("png_l", "png_16", "jpeg_gray", "webp_lossy", "bmp_24", "tiff_raw", "sgi_l"):
        assert sniff(PILLOW_CASES[case]()).alpha is False, case


def test_channels_as_pillow_counts_them():
    for case in ("png_l", "png_la", "png_p", "png_rgba", "jpeg_gray", "jpeg_cmyk", "tiff_raw", "tiff_cmyk",
                 "sgi_rgba", "jp2", "jp2_la", "j2k"):
        data = PILLOW_CASES[case]()
        with Image.open(io.BytesIO(data)) as im:
            want = 1 if im.mode == "P" else len(im.getbands())
        assert sniff(data).channels == want, case


def test_tiff_details():
    jpeg = sniff(PILLOW_CASES["tiff_jpeg"]())
    assert (jpeg.compression, jpeg.bits) == (7, 24) and jpeg.photometric in (2, 6)  # JPEG: RGB or YCbCr
    cmyk = sniff(PILLOW_CASES["tiff_cmyk"]())
    assert (cmyk.compression, cmyk.photometric, cmyk.bits) == (32773, 5, 32)


def tiff_big_endian(width: int, height: int, orientation: int) -> bytes:
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (274, 3, orientation),
               (277, 3, 1), (273, 4, 8), (279, 4, width * height)]
    pixels = bytes(width * height)
    ifd_at = 8 + len(pixels)
    ifd = struct.pack(">H", len(entries))
    for tag, typ, value in entries:
        packed = struct.pack(">H", value) + b"\0\0" if typ == 3 else struct.pack(">I", value)
        ifd += struct.pack(">HHI", tag, typ, 1) + packed
    return b"MM\x00*" + struct.pack(">I", ifd_at) + pixels + ifd + b"\0\0\0\0"


def test_big_endian_tiff_with_its_ifd_at_the_end(tmp_path):
    data = tiff_big_endian(600, 500, 6)  # the IFD is 300 KB in, past the first read
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (500, 600) and im.getexif()[274] == 6  # Pillow gives the upright size
    path = tmp_path / "late.tif"
    path.write_bytes(data)
    info = check_header(str(path))
    assert (info.format, info.width, info.height, info.orientation) == ("TIFF", 600, 500, 6)
    assert info.upright_size == (500, 600)


def bmp_header(width: int, height: int, bits: int, compression: int = 0, dib: int = 40,
               masks: tuple[int, ...] = ()) -> bytes:
    if dib == 12:
        core = struct.pack("<IHHHH", 12, width, height, 1, bits)
    else:
        core = struct.pack("<IiiHHIIiiII", dib, width, height, 1, bits, compression, 0, 2835, 2835, 0, 0)
        core += struct.pack(f"<{len(masks)}I", *masks) + bytes(dib - 40 - 4 * len(masks))
    return b"BM" + struct.pack("<IHHI", 0, 0, 0, 14 + len(core)) + core


@pytest.mark.parametrize("header,want", [
    (bmp_header(10, -7, 24), (10, 7, True, False)),  # top-down: a negative height
    (bmp_header(10, 7, 32), (10, 7, False, False)),  # BI_RGB: the fourth byte is padding
    (bmp_header(10, 7, 32, 3, 124, (0xFF0000, 0xFF00, 0xFF, 0xFF000000)), (10, 7, False, True)),
    (bmp_header(10, 7, 32, 3, 108, (0xFF0000, 0xFF00, 0xFF, 0)), (10, 7, False, False)),
    (bmp_header(300, 200, 24, dib=12), (300, 200, False, False)),  # OS/2
])
def test_bmp_variants(header, want):
    info = sniff(header)
    assert (info.width, info.height, info.top_down, info.alpha) == want


def exr_header(x0: int, y0: int, x1: int, y1: int) -> bytes:
    def attr(name: bytes, typ: bytes, value: bytes) -> bytes:
        return name + b"\0" + typ + b"\0" + struct.pack("<i", len(value)) + value

    channels = b"".join(c + b"\0" + struct.pack("<iBxxxii", 1, 0, 1, 1) for c in (b"B", b"G", b"R")) + b"\0"
    return (b"\x76\x2f\x31\x01" + struct.pack("<I", 2) + attr(b"channels", b"chlist", channels)
            + attr(b"compression", b"compression", b"\0")
            + attr(b"dataWindow", b"box2i", struct.pack("<iiii", x0, y0, x1, y1))
            + attr(b"displayWindow", b"box2i", struct.pack("<iiii", 0, 0, 9, 9)) + b"\0")


HAND_CASES = {  # written from each format's specification
    "exr": (exr_header(-2, 3, 317, 202), ("OPEN_EXR", 320, 200)),
    "hdr": (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\nEXPOSURE=1.0\n\n-Y 480 +X 640\n" + bytes(16), ("HDR", 640, 480)),
    "hdr_rgbe": (b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n+X 64 -Y 32\n" + bytes(16), ("HDR", 64, 32)),
    "psd": (b"8BPS" + struct.pack(">H6xHIIHH", 1, 4, 300, 500, 8, 3), ("PSD", 500, 300)),
    "dpx": (b"SDPX" + bytes(764) + struct.pack(">HHII", 0, 1, 2048, 1080) + bytes(40), ("DPX", 2048, 1080)),
    "dpx_le": (b"XPDS" + bytes(764) + struct.pack("<HHII", 0, 1, 720, 576) + bytes(40), ("DPX", 720, 576)),
    "cineon": (b"\x80\x2a\x5f\xd7" + bytes(188) + struct.pack(">BBxx", 0, 3) + struct.pack(">BBBxII", 0, 0, 10, 1828, 1332)
               + bytes(64), ("CINEON", 1828, 1332)),
    "dds": (b"DDS " + struct.pack("<IIIIIII", 124, 0x1007, 256, 512, 0, 0, 1) + bytes(104), ("DDS", 512, 256)),
    "jp2_box": (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + struct.pack(">I4s4sI4s", 20, b"ftyp", b"jp2 ", 0, b"jp2 ")
                + struct.pack(">I4s", 45, b"jp2h") + struct.pack(">I4sIIHBBBB", 22, b"ihdr", 300, 400, 4, 7, 7, 0, 0),
                ("JPEG2000", 400, 300)),
    "j2k": (b"\xff\x4f\xff\x51" + struct.pack(">HHIIIIIIIIH", 47, 0, 1030, 790, 6, 10, 1024, 1024, 0, 0, 3) + bytes(12),
            ("JPEG2000", 1024, 780)),
    "iris": (b"\x01\xda" + struct.pack(">BBHHHH", 0, 1, 3, 123, 45, 3) + bytes(500), ("IRIS", 123, 45)),
}


@pytest.mark.parametrize("case", sorted(HAND_CASES))
def test_header_from_the_specification(case):
    data, want = HAND_CASES[case]
    info = sniff(data)
    assert info is not None and (info.format, info.width, info.height) == want


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\0" * 20, b"BM" + bytes(60), b"II*\x00" + bytes(20),
                                  b"DDS " + bytes(10), b"#?RADIANCE\n", b"8BPS", b"\x76\x2f\x31\x01" + bytes(8),
                                  b"plain words, not a picture"])
def test_broken_or_unknown_headers_are_none(data):
    assert sniff(data, name="x.tga") is None


def png_declaring(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def bytes_read_by_this_process() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's /proc/self/io to count reads")
@pytest.mark.parametrize("reader", [check_header, prepare, read_local_image])
def test_over_the_pixel_limit_refused_before_the_body_is_read(tmp_path, reader):
    path = tmp_path / "bomb.png"
    with open(path, "wb") as f:  # a sparse 2 GB file declaring 100k x 100k
        f.write(png_declaring(100_000, 100_000))
        f.truncate(2_000_000_000)
    before = bytes_read_by_this_process()
    with pytest.raises(BadImage, match=r"bomb.png declares 100000x100000 pixels, over the limit") as e:
        reader(str(path))
    read = bytes_read_by_this_process() - before
    assert read <= HEAD_BYTES + 64 * 1024, f"{read} bytes read"
    assert "TRIPO3D_MAX_PIXELS" in str(e.value) and "\n" not in str(e.value)
    assert sendable_as_is(str(path)) is False


def test_pixel_limit_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    path.write_bytes(saved("RGB", "PNG", (300, 200)))
    assert check_header(str(path)).width == 300
    monkeypatch.setenv("TRIPO3D_MAX_PIXELS", "50000")
    with pytest.raises(BadImage, match="300x200 pixels, over the limit of 50,000 pixels"):
        check_header(str(path))
    assert check_header(str(path), max_pixels=60_000).height == 200
    monkeypatch.setenv("TRIPO3D_MAX_PIXELS", "lots")  # not a number: the default stands
    assert check_header(str(path)).width == 300


def test_over_the_byte_cap_refused_from_its_size(tmp_path):
    path = tmp_path / "heavy.bmp"
    with open(path, "wb") as f:
        f.write(bmp_header(100, 100, 24))
        f.truncate(3_000_000)
    with pytest.raises(BadImage, match=r"heavy.bmp is 0.0 GB, over the 0.000\d+ GB a picture may have; save it"):
        check_header(str(path), max_bytes=1_000_000)
    with open(path, "r+b") as f:
        f.truncate(3 * 2**30)  # sparse: over the default 2 GB
    with pytest.raises(BadImage, match=r"heavy.bmp is 3.0 GB, over the 2 GB a picture may have"):
        check_header(str(path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_is_refused_without_reading_it(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # opening it to read would wait for a writer forever
    with pytest.raises(BadImage, match="pipe.png is not a regular file"):
        check_header(str(pipe))


def test_missing_empty_and_not_an_image(tmp_path):
    with pytest.raises(BadImage, match="does not exist"):
        check_header(str(tmp_path / "gone.png"))
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(BadImage, match="empty.tif is empty"):
        check_header(str(tmp_path / "empty.tif"))
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(BadImage, match="notes.png is not a PNG, JPEG or WebP image, nor another image Blender"):
        check_header(str(tmp_path / "notes.png"))


@pytest.mark.parametrize("fmt, ext, kind", [("TIFF", "tif", "TIFF"), ("PNG", "png", "PNG"), ("JPEG", "jpg", "JPEG")])
def test_a_picture_cut_short_is_called_damaged_not_something_else(tmp_path, fmt, ext, kind):
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (40, 90, 160)).save(out, format=fmt, **({"compression": "tiff_lzw"} if fmt == "TIFF"
                                                                        else {}))
    whole = out.getvalue()
    cut = tmp_path / f"cut.{ext}"
    # TIFF keeps its header (IFD) at the end: the first half lacks it. The others: their first 12 bytes.
    cut.write_bytes(whole[: len(whole) // 2] if fmt == "TIFF" else whole[:12])
    with pytest.raises(BadImage, match=f"cut.{ext} cannot be read: it looks like a {kind} file, but its header is damaged or cut short"):
        check_header(str(cut))
