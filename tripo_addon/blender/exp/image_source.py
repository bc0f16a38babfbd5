"""Turning what the user points at into image bytes the gateway accepts.

Sources: an http(s) URL (sent as is), a local file, or an image datablock
(file-backed, packed, generated, or the Render Result). Images Blender can
read but the gateway cannot (EXR, TIFF, ...) and images over the size limit
are re-encoded as PNG, downscaled to the limit; the note says so.
"""

from __future__ import annotations

import os

import bpy

from ...core import images as core_images
from ...core.errors import BadImage
from ...core.images import MAX_EDGE_PX, MAX_INLINE_BYTES, PreparedImage
from ..compat import save_image_copy


def picture_request(source: str, image=None, *, keep_metadata: bool = False) -> tuple[str, PreparedImage | None, str]:
    """What a job's worker needs to read its picture: (the source to record,
    the picture when it had to be read here, a note). URLs and PNG, JPEG or
    WebP files within the limits are read by the worker, off the main thread;
    a Blender image (already open here) and a file only Blender decodes are
    read now. Only the file's header is read for that choice. ``keep_metadata``:
    a picture read here keeps its EXIF, XMP and IPTC."""
    if image is not None:
        prepared, note = prepare_datablock(image, keep_metadata=keep_metadata)
        return prepared.source, prepared, note
    source = (source or "").strip()
    if not source:
        raise BadImage("No image was given; pick an image, a file or a URL.")
    path = bpy.path.abspath(source) if source.startswith("//") else source
    if core_images.sendable_as_is(path):
        return path, None, ""
    datablock = bpy.data.images.get(source)
    if datablock is not None and not os.path.exists(path):
        prepared, note = prepare_datablock(datablock, keep_metadata=keep_metadata)
        return prepared.source, prepared, note
    if not os.path.exists(path):
        raise BadImage(f"The image file {path} does not exist; check the path.")
    if os.path.isdir(path):
        raise BadImage(f"{path} is a folder, not an image file; give a PNG, JPEG or WebP file.")
    prepared, note = _prepare_file(path, keep_metadata=keep_metadata)
    return path, prepared, note


def prepare_source(source: str) -> tuple[PreparedImage, str]:
    """Return the prepared image and a note for the user ("" when nothing changed)."""
    source = (source or "").strip()
    if not source:
        raise BadImage("No image was given; pick an image, a file or a URL.")
    if core_images.is_url(source):
        return core_images.prepare(source), ""
    path = bpy.path.abspath(source) if source.startswith("//") else source
    image = bpy.data.images.get(source)
    if image is not None and not os.path.exists(path):
        return prepare_datablock(image)
    return _prepare_file(path)


def _prepare_file(path: str, *, keep_metadata: bool = False) -> tuple[PreparedImage, str]:
    core_images.check_header(path)  # refused from its header before anything reads or decodes it
    try:
        data, info = core_images.read_local_image(path)
    except BadImage:
        # Not PNG/JPEG/WebP: Blender may still read it (EXR, TIFF, BMP...).
        if not os.path.isfile(path):
            raise
        return _reencode_file(path)
    if max(info.width, info.height) <= MAX_EDGE_PX and len(data) <= MAX_INLINE_BYTES:
        return core_images.prepare(path, data, keep_metadata=keep_metadata), ""
    return _reencode_file(path)


def _reencode_file(path: str) -> tuple[PreparedImage, str]:
    name = os.path.basename(path)
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError:
        raise _unreadable(path, name) from None
    try:
        if image.size[0] == 0 or image.size[1] == 0:  # reading .size loads the pixels
            raise _unreadable(path, name)
        data, note = _encode_png(image, name, owned=True)
    finally:
        bpy.data.images.remove(image)
    return core_images.prepare(path, data), note


def _unreadable(path: str, name: str) -> BadImage:
    """A file that looks like an image but cannot be read, or that is none."""
    with open(path, "rb") as f:
        head = f.read(64)
    info = core_images.sniff(head + b"\x00" * 64, os.path.basename(path))
    if info is not None and info.blender_reads:
        return BadImage(f"{name} cannot be read: it starts like an image but Blender could not decode it "
                        "(a damaged or cut-short file?); save or copy it again.")
    return BadImage(f"{name} is not a PNG, JPEG or WebP image, nor another image Blender can read; "
                    "convert it to PNG or JPEG and try again.")


def prepare_datablock(image: "bpy.types.Image", *, keep_metadata: bool = False) -> tuple[PreparedImage, str]:
    """Bytes for an image datablock; the source recorded is its file path or name.
    A PNG, JPEG or WebP sent as it is loses its metadata unless ``keep_metadata``."""
    name = image.name
    label = bpy.path.abspath(image.filepath) if image.filepath and image.source == "FILE" else name
    if image.type == "RENDER_RESULT":
        return _render_result(image)
    raw = None
    if image.packed_file is not None:
        raw = bytes(image.packed_file.data)
    elif image.source == "FILE" and image.filepath and not image.is_dirty:
        path = bpy.path.abspath(image.filepath, library=image.library)
        if _sendable_file(path):  # its header first: a large or other file is not read here
            with open(path, "rb") as f:
                raw = f.read()
    if raw is not None:
        info = core_images.sniff(raw)
        if info and info.sendable and max(info.width, info.height) <= MAX_EDGE_PX and len(raw) <= MAX_INLINE_BYTES:
            return core_images.prepare(label, raw, keep_metadata=keep_metadata), ""
    if not image.has_data and image.source == "FILE":
        image.reload()
    if image.size[0] == 0 or image.size[1] == 0:
        raise BadImage(f"The image {name} has no pixels (is its file missing?); pick another image.")
    data, note = _encode_png(image, name)
    return core_images.prepare(label, data), note


def _sendable_file(path: str) -> bool:
    try:
        info = core_images.check_header(path)
    except BadImage:
        return False
    return info.sendable and max(info.width, info.height) <= MAX_EDGE_PX and os.path.getsize(path) <= MAX_INLINE_BYTES


def _render_result(image) -> tuple[PreparedImage, str]:
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".png", prefix="tripo3d-render-")
    os.close(fd)
    try:
        scene = bpy.context.scene
        settings = scene.render.image_settings
        old = settings.file_format
        settings.file_format = "PNG"
        try:
            image.save_render(tmp, scene=scene)
        except RuntimeError:
            raise BadImage("The Render Result is empty; render an image first (F12).") from None
        finally:
            settings.file_format = old
        with open(tmp, "rb") as f:
            data = f.read()
    finally:
        os.remove(tmp)
    info = core_images.sniff(data)
    if info is None:
        raise BadImage("The Render Result could not be saved as PNG; render an image first (F12).")
    if max(info.width, info.height) > MAX_EDGE_PX or len(data) > MAX_INLINE_BYTES:
        raise BadImage(f"The Render Result is {info.width}x{info.height} px, over the {MAX_EDGE_PX} px limit; "
                       "render at a lower resolution.")
    return core_images.prepare("Render Result", data), ""


def _encode_png(image, name: str, *, owned: bool = False) -> tuple[bytes, str]:
    """A PNG (or a much smaller JPEG) of ``image``, at most MAX_EDGE_PX per edge, and what was done.

    ``owned``: the datablock is ours (loaded just for this) and may be scaled
    in place; a user's image is copied first. A file-backed copy would look
    for its pixels in the new file, so the encoded file is written with
    ``save(filepath=..., save_copy=True)``, which changes nothing on the image.
    """
    width, height = image.size
    scale = min(1.0, MAX_EDGE_PX / max(width, height))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    target = image if owned else image.copy()
    try:
        if (new_w, new_h) != (width, height):
            target.scale(new_w, new_h)
        data = _save_as(target, "PNG")
        if target.depth in (8, 24, 48, 96):  # no alpha channel: a JPEG loses nothing the model needs
            jpeg = _save_as(target, "JPEG")
            if len(jpeg) < len(data) // 2:
                data = jpeg
    finally:
        if target is not image:
            bpy.data.images.remove(target)
    if len(data) > MAX_INLINE_BYTES:
        raise BadImage(f"{name} is still over {MAX_INLINE_BYTES // (1024 * 1024)} MB at {new_w}x{new_h}; "
                       "scale it down and try again.")
    if (new_w, new_h) != (width, height):
        return data, f"{name} was downscaled from {width}x{height} to {new_w}x{new_h} px before sending."
    return data, ""


def _save_as(image, file_format: str) -> bytes:
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".png" if file_format == "PNG" else ".jpg", prefix="tripo3d-")
    os.close(fd)
    old = image.file_format
    try:
        image.file_format = file_format
        save_image_copy(image, tmp)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        image.file_format = old
        os.remove(tmp)
