"""BMP padding is never alpha, and top-down rows (tripo_addon.core.images.pixels),
checked against Pillow decoding the same files."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from tripo_addon.core.images import sniff
from tripo_addon.core.images.pixels import bmp_alpha_is_padding, fix_bmp, flip_rows

W, H = 6, 5


def colours(fourth: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    if fourth is not None:
        rgba[..., 3] = fourth
    return rgba


def bmp32(rgba: np.ndarray, *, compression: int = 0, dib: int = 40, alpha_mask: int = 0xFF000000,
          top_down: bool = False) -> bytes:
    """A 32-bit BMP of ``rgba`` (top row first), written from the format's specification."""
    rows = rgba if top_down else rgba[::-1]
    body = rows[..., [2, 1, 0, 3]].tobytes()  # BGRA, 4 bytes a pixel: no row padding
    core = struct.pack("<IiiHHIIiiII", dib, W, -H if top_down else H, 1, 32, compression, len(body), 2835, 2835, 0, 0)
    if dib >= 56:
        core += struct.pack("<IIII", 0xFF0000, 0xFF00, 0xFF, alpha_mask) + bytes(dib - 56)
    offset = 14 + len(core)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + core + body


def as_blender_reads_it(data: bytes, info) -> np.ndarray:
    """The naive reading: the fourth byte taken as alpha, rows top first."""
    offset = struct.unpack("<I", data[10:14])[0]
    rows = np.frombuffer(data[offset:], np.uint8).reshape(H, W, 4)[..., [2, 1, 0, 3]]
    return rows if info.top_down else flip_rows(rows)


def pillow_rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("name,data,padding", [
    ("BI_RGB, fourth byte 0", lambda: bmp32(colours(0)), True),
    ("BI_RGB, fourth byte garbage", lambda: bmp32(colours()), True),
    ("BI_RGB, top-down", lambda: bmp32(colours(0), top_down=True), True),
    ("V5 bitfields, no alpha mask", lambda: bmp32(colours(7), compression=3, dib=124, alpha_mask=0), True),
    ("V5 bitfields, alpha mask, all alpha 0", lambda: bmp32(colours(0), compression=3, dib=124), True),
    ("V5 bitfields, real alpha", lambda: bmp32(colours(), compression=3, dib=124), False),
])
def test_padding_bytes_are_never_alpha(name, data, padding):
    data = data()
    info = sniff(data)
    naive = as_blender_reads_it(data, info)
    assert bmp_alpha_is_padding(info, naive[..., 3]) is padding, name
    fixed = fix_bmp(naive, info)
    want = pillow_rgba(data)
    assert np.array_equal(fixed[..., :3], want[..., :3]), name  # colours exactly the reference's
    if padding:
        assert (fixed[..., 3] == 255).all(), name  # opaque, never a transparent picture
        assert (want[..., 3] == 255).all() or name.startswith("V5"), name
    else:
        assert np.array_equal(fixed[..., 3], want[..., 3]), name


def test_other_images_are_left_alone():
    png = io.BytesIO()
    Image.fromarray(colours(0), "RGBA").save(png, format="PNG")
    info = sniff(png.getvalue())
    assert not bmp_alpha_is_padding(info, colours(0)[..., 3])
    rgba = colours(0)
    assert fix_bmp(rgba, info) is rgba  # a PNG's zero alpha is the artist's: kept


def test_float_pixels_made_opaque_with_one():
    data = bmp32(colours(0))
    floats = as_blender_reads_it(data, sniff(data)).astype(np.float32) / 255
    assert (fix_bmp(floats, sniff(data))[..., 3] == 1.0).all()
