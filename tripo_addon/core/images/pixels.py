"""Array transforms that make a decoded picture the picture: orientation, BMP
padding bytes that are not alpha, row order (numpy arrays, height x width x channels).

Used by the decoder process on the pixels Blender read; pure numpy, so the
rules are tested against a reference decoder in plain pytest.
"""

from __future__ import annotations

import numpy as np

from .headers import ImageInfo

BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS = 0, 3, 6


def apply_orientation(pixels: np.ndarray, orientation: int, *, bottom_up: bool = False) -> np.ndarray:
    """``pixels`` turned upright for EXIF/TIFF ``orientation`` (1..8).

    ``bottom_up``: the first row is the picture's bottom (Blender's order);
    the result keeps the same row order as the input.
    """
    a = pixels[::-1] if bottom_up else pixels
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)  # 90 degrees clockwise
    elif orientation == 7:
        a = a[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        a = np.rot90(a, 1)  # 90 degrees counter-clockwise
    a = a[::-1] if bottom_up else a
    return np.ascontiguousarray(a)


def bmp_alpha_is_padding(info: ImageInfo, alpha: np.ndarray | None = None) -> bool:
    """Whether a BMP's fourth byte is padding, not alpha: a 32-bit BI_RGB file,
    a 32-bit file with no alpha mask, or one whose alpha is 0 everywhere (what
    many Windows tools write). Anything not a 32-bit BMP is False."""
    if info.format != "BMP" or info.bits != 32:
        return False
    if info.compression not in (BI_BITFIELDS, BI_ALPHABITFIELDS) or info.alpha_mask == 0:
        return True
    return alpha is not None and alpha.size > 0 and not alpha.any()


def make_opaque(pixels: np.ndarray) -> np.ndarray:
    """RGBA ``pixels`` with alpha set to fully opaque (1.0 for floats, the top value for integers)."""
    out = pixels.copy()
    out[..., 3] = 1.0 if np.issubdtype(out.dtype, np.floating) else np.iinfo(out.dtype).max
    return out


def fix_bmp(pixels: np.ndarray, info: ImageInfo) -> np.ndarray:
    """RGBA pixels of a BMP with padding bytes made opaque (see :func:`bmp_alpha_is_padding`)."""
    if pixels.ndim == 3 and pixels.shape[2] == 4 and bmp_alpha_is_padding(info, pixels[..., 3]):
        return make_opaque(pixels)
    return pixels


def flip_rows(pixels: np.ndarray) -> np.ndarray:
    """Rows in the other order (top-down <-> bottom-up)."""
    return np.ascontiguousarray(pixels[::-1])
