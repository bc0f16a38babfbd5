"""A small RGBA PNG from the float pixels Blender hands out for a preview.

The rendered preview of a model is kept next to its GLB, so the job list can
show it in a later session even when the model is no longer in the scene.
Written here (stdlib zlib) rather than through a temporary image datablock:
that would add an image to the artist's file and an entry to its undo history.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence

from .fsutil import quiet_remove, replace


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_rgba(width: int, height: int, pixels: Sequence[float]) -> bytes:
    """PNG bytes of ``pixels``: RGBA floats in 0..1, rows bottom-up as Blender
    stores them (a PNG's rows go top-down)."""
    if width <= 0 or height <= 0 or len(pixels) != width * height * 4:
        raise ValueError(f"expected {width}x{height} RGBA pixels, got {len(pixels)} values")
    as_bytes = bytes(min(255, max(0, int(v * 255.0 + 0.5))) for v in pixels)
    stride = width * 4
    rows = b"".join(b"\x00" + as_bytes[y * stride:(y + 1) * stride] for y in range(height - 1, -1, -1))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 6)) + _chunk(b"IEND", b"")


def shrink(width: int, height: int, pixels: Sequence[float], size: int = 32) -> tuple[int, int, list[float]]:
    """A ``size``-pixel version (box filter) of RGBA float pixels, for the
    small icon Blender draws in a list row (a preview holds both sizes)."""
    fx, fy = max(1, width // size), max(1, height // size)
    w, h = width // fx, height // fy
    out: list[float] = []
    for y in range(h):
        for x in range(w):
            acc = [0.0, 0.0, 0.0, 0.0]
            for yy in range(y * fy, y * fy + fy):
                row = (yy * width + x * fx) * 4
                for i in range(row, row + fx * 4, 4):
                    acc[0] += pixels[i]
                    acc[1] += pixels[i + 1]
                    acc[2] += pixels[i + 2]
                    acc[3] += pixels[i + 3]
            n = fx * fy
            out.extend(v / n for v in acc)
    return w, h, out


def has_content(pixels: Sequence[float]) -> bool:
    """Whether anything was drawn (a preview still being rendered is all transparent)."""
    return any(a > 0.0 for a in pixels[3::4])


def write(path: str, width: int, height: int, pixels: Sequence[float]) -> None:
    """Write the PNG whole or not at all (a temp file renamed into place)."""
    data = encode_rgba(width, height, pixels)
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temp, "wb") as f:
            f.write(data)
        replace(temp, path)
    except OSError:
        quiet_remove(temp)
        raise


def path_for(glb_path: str) -> str:
    """Where a model's preview lives: beside its GLB."""
    return os.path.splitext(glb_path)[0] + ".preview.png"
