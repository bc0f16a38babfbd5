"""Metadata stays home (tripo_addon.core.images.metadata and prepare): EXIF with GPS
and a serial number, XMP, IPTC, comments and text chunks are gone, the pixels
are identical (Pillow decodes both), a JPEG's coded data byte for byte."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from image_samples import ICC, SECRETS, XMP, photo, private_exif, private_jpeg
from PIL import Image, PngImagePlugin

from tripo_addon.core.images import prepare, sniff
from tripo_addon.core.images.metadata import strip

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
