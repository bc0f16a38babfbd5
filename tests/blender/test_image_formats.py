"""Every image Blender reads becomes a PNG or JPEG within the caps, and a bad
one fails alone with a sentence (issue: images of every kind)."""

from __future__ import annotations

import io
import os

import bpy
import pytest
from helpers import make_image

from tripo_addon.blender.exp.image_source import prepare_source
from tripo_addon.core import errors as E
from tripo_addon.core.images import MAX_EDGE_PX, MAX_INLINE_BYTES, sniff

pytestmark = pytest.mark.matrix  # saving images differs between Blender versions (compat.py)


def _pil(path, fmt, mode="RGB", size=(120, 90), **kw):
    from PIL import Image

    im = Image.open(io.BytesIO(make_image("PNG", size=size))).convert(mode)
    im.save(path, format=fmt, **kw)
    return str(path)


def _blender_float(path, file_format):
    img = bpy.data.images.new("float-src", 64, 48, float_buffer=True)
    img.pixels.foreach_set([0.25, 2.5, 0.5, 1.0] * (64 * 48))  # over 1.0: a real HDR value
    img.filepath_raw = str(path)
    img.file_format = file_format
    img.save()
    bpy.data.images.remove(img)
    return str(path)


@pytest.mark.parametrize("kind", ["tiff", "tiff16", "bmp", "tga", "png16", "exr", "hdr"])
def test_every_format_blender_reads_is_sent_as_png_or_jpeg(blender, tmp_path, kind):
    path = {
        "tiff": lambda: _pil(tmp_path / "a.tif", "TIFF"),
        "tiff16": lambda: _pil(tmp_path / "a16.tif", "TIFF", mode="I;16"),
        "bmp": lambda: _pil(tmp_path / "a.bmp", "BMP"),
        "tga": lambda: _pil(tmp_path / "a.tga", "TGA"),
        "png16": lambda: _pil(tmp_path / "a16.png", "PNG", mode="I;16"),
        "exr": lambda: _blender_float(tmp_path / "a.exr", "OPEN_EXR"),
        "hdr": lambda: _blender_float(tmp_path / "a.hdr", "HDR"),
    }[kind]()
    images_before = set(bpy.data.images.keys())
    prepared, _note = prepare_source(path)
    info = sniff(prepared.data)
    assert info is not None and info.format in ("PNG", "JPEG"), kind
    assert max(info.width, info.height) <= MAX_EDGE_PX and len(prepared.data) <= MAX_INLINE_BYTES
    assert set(bpy.data.images.keys()) == images_before  # nothing of ours is left in the file


def test_a_photo_over_the_byte_cap_is_made_to_fit(blender, tmp_path):
    import random

    from PIL import Image

    rnd = random.Random(7)
    im = Image.frombytes("RGB", (3000, 2000), bytes(rnd.getrandbits(8) for _ in range(3000 * 2000 * 3)))
    path = tmp_path / "noisy.png"
    im.save(path)
    assert os.path.getsize(path) > MAX_INLINE_BYTES
    prepared, _note = prepare_source(str(path))
    assert len(prepared.data) <= MAX_INLINE_BYTES and sniff(prepared.data).format == "JPEG"


def test_gif_is_converted_where_blender_reads_it_and_said_where_not(blender, tmp_path):
    # Blender reads GIF only through FFmpeg, which some builds have (the PyPI 4.2
    # module) and others lack (4.5): converted, or one sentence, never a traceback.
    path = _pil(tmp_path / "a.gif", "GIF", mode="P")
    try:
        probe = bpy.data.images.load(path)
        readable = probe.size[0] > 0
        bpy.data.images.remove(probe)
    except RuntimeError:
        readable = False
    if readable:
        prepared, _note = prepare_source(path)
        assert sniff(prepared.data).format in ("PNG", "JPEG")
    else:
        with pytest.raises(E.BadImage, match="Blender could not decode this GIF file"):
            prepare_source(path)


@pytest.mark.parametrize("kind", ["garbage", "truncated_png", "unreadable"])
def test_a_bad_file_fails_with_a_sentence(blender, tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "garbage":
        path.write_bytes(b"\x00\x01 not an image at all " * 50)
    elif kind == "truncated_png":
        path.write_bytes(make_image("PNG", size=(200, 200))[:60])
    else:
        path.write_bytes(make_image("PNG"))
        os.chmod(path, 0)
        if os.access(path, os.R_OK):  # root reads anything: make it a folder-less dangling link instead
            os.remove(path)
            os.symlink(tmp_path / "nowhere" / "x.png", path)
    with pytest.raises(E.BadImage) as info:
        prepare_source(str(path))
    text = info.value.message
    assert len(text.splitlines()) == 1 and "Traceback" not in text
    if kind != "garbage":
        assert "cannot be read" in text or "does not exist" in text
