"""The kept picture of a model: a valid RGBA PNG, rows in the right order."""

from __future__ import annotations

import os
import struct
import zlib

import pytest

from tripo_addon.core import preview_png


def _decode(data: bytes) -> tuple[int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = body
        pos += 12 + length
    w, h, depth, colour, _c, _f, _i = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 6) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[y * (w * 4 + 1):(y + 1) * (w * 4 + 1)] for y in range(h)]
    assert all(r[0] == 0 for r in rows)
    return w, h, [r[1:] for r in rows]


def test_rows_are_flipped_and_values_rounded_and_clamped():
    # 2x3, Blender's order: the first row is the BOTTOM one.
    bottom = [1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    middle = [0.0, 1.0, 0.0, 1.0, -0.2, 1.7, 0.0, 0.0]
    top = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    w, h, rows = _decode(preview_png.encode_rgba(2, 3, bottom + middle + top))
    assert (w, h) == (2, 3)
    assert rows[0] == bytes([0, 0, 255, 255, 0, 0, 0, 0])
    assert rows[1] == bytes([0, 255, 0, 255, 0, 255, 0, 0])
    assert rows[2] == bytes([255, 0, 0, 255, 128, 128, 128, 128])


@pytest.mark.parametrize("w,h,n", [(2, 2, 15), (0, 2, 0), (2, -1, 0)])
def test_wrong_sizes_are_refused(w, h, n):
    with pytest.raises(ValueError):
        preview_png.encode_rgba(w, h, [0.0] * n)


def test_has_content_looks_at_alpha_only():
    assert not preview_png.has_content([1.0, 1.0, 1.0, 0.0] * 4)
    assert preview_png.has_content([0.0, 0.0, 0.0, 0.0] * 3 + [0.0, 0.0, 0.0, 0.01])


def test_written_whole_beside_the_glb(tmp_path):
    glb = str(tmp_path / "robot_1a2b.glb")
    path = preview_png.path_for(glb)
    assert path == str(tmp_path / "robot_1a2b.preview.png")
    preview_png.write(path, 1, 1, [0.2, 0.4, 0.6, 1.0])
    assert _decode(open(path, "rb").read())[2] == [bytes([51, 102, 153, 255])]
    assert os.listdir(tmp_path) == ["robot_1a2b.preview.png"]  # no temp file left


def test_a_missing_folder_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        preview_png.write(str(tmp_path / "gone" / "x.preview.png"), 1, 1, [0.0, 0.0, 0.0, 1.0])
    assert os.listdir(tmp_path) == []


def test_shrink_averages_blocks_for_the_row_icon():
    # 4x4 -> 2x2 with size=2: each output pixel is the mean of a 2x2 block.
    px = []
    for y in range(4):
        for x in range(4):
            px += [1.0 if x < 2 else 0.0, 0.5, 1.0 if y % 2 else 0.0, 1.0 if x < 2 else 0.0]
    w, h, out = preview_png.shrink(4, 4, px, size=2)
    assert (w, h) == (2, 2)
    assert out == [1.0, 0.5, 0.5, 1.0, 0.0, 0.5, 0.5, 0.0] * 2
    w, h, out = preview_png.shrink(128, 128, [0.25] * (128 * 128 * 4))
    assert (w, h) == (32, 32) and len(out) == 32 * 32 * 4 and set(out) == {0.25}
