"""The orientation tag in every format that carries one, and turning the pixels
upright (tripo_addon.core.images.orientation, .pixels), against Pillow's
``ImageOps.exif_transpose`` as the reference."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from tripo_addon.core.images import sniff
from tripo_addon.core.images.orientation import from_tiff_header
from tripo_addon.core.images.pixels import apply_orientation

ORIENTATIONS = range(1, 9)


def asymmetric(size=(7, 4)) -> Image.Image:
    """A picture whose every pixel differs, so any wrong turn or mirror shows."""
    w, h = size
    grid = np.arange(w * h * 3, dtype=np.uint16).reshape(h, w, 3) * 5 % 256
    return Image.fromarray(grid.astype(np.uint8), "RGB")


def with_orientation(fmt: str, orientation: int, **kw) -> bytes:
    im = asymmetric((40, 24))
    buf = io.BytesIO()
    if fmt == "TIFF":
        im.save(buf, format="TIFF", tiffinfo={274: orientation}, **kw)
    else:
        exif = Image.Exif()
        exif[274] = orientation
        exif[0x010F] = "Camera maker"
        im.save(buf, format=fmt, exif=exif.tobytes(), **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,kw", [("JPEG", {}), ("PNG", {}), ("WEBP", {"lossless": True}), ("WEBP", {}),
                                    ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"})])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_orientation_read_as_pillow_reads_it(fmt, kw, orientation):
    data = with_orientation(fmt, orientation, **kw)
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif().get(274, 1) == orientation
    info = sniff(data)
    assert info is not None and info.orientation == orientation


def test_no_tag_and_bad_values_are_upright():
    assert sniff(asymmetric_bytes("JPEG")).orientation == 1
    exif = Image.Exif()
    exif[274] = 9  # not one of the eight
    assert from_tiff_header(exif.tobytes()) == 1
    assert from_tiff_header(b"Exif\0\0garbage") == 1


def asymmetric_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    asymmetric().save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_pixels_turned_upright_as_pillow_does(orientation):
    data = with_orientation("PNG", orientation)  # lossless: every pixel can be compared
    with Image.open(io.BytesIO(data)) as im:
        stored = np.asarray(im.convert("RGB"))
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = apply_orientation(stored, sniff(data).orientation)
    assert got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_bottom_up_rows_as_blender_holds_them(orientation):
    data = with_orientation("PNG", orientation)
    with Image.open(io.BytesIO(data)) as im:
        stored = np.asarray(im.convert("RGBA"))
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGBA"))
    blender_rows = stored[::-1]  # Blender's first row is the bottom one
    got = apply_orientation(blender_rows, orientation, bottom_up=True)
    assert np.array_equal(got[::-1], want)


def test_upright_size_follows_the_turn():
    for orientation in ORIENTATIONS:
        info = sniff(with_orientation("JPEG", orientation))
        with Image.open(io.BytesIO(with_orientation("JPEG", orientation))) as im:
            assert info.upright_size == ImageOps.exif_transpose(im).size
