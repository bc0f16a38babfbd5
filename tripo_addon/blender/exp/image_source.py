"""Turning what the user points at into what a job sends.

Sources: an http(s) URL (sent as is), a local file, or an image datablock (file-backed, packed,
generated, or the Render Result). A file is left for the job's worker, off the main thread: it is
sent as it is, or decoded apart by Blender's reader in a child process
(:mod:`...core.images.decoder_client`), so a reader that crashes never takes this Blender down. An
image already open in Blender is read here; one the gateway cannot take as it is, or over the size
limit, is re-encoded as PNG (or JPEG), downscaled to the limit; the note says so.
"""

from __future__ import annotations

import os

import bpy

from ...core import images as core_images
from ...core.errors import BadImage
from ...core.images import MAX_EDGE_PX, MAX_INLINE_BYTES, PreparedImage
from ..compat import save_image_copy


#: Formats Blender writes as well as reads (a copy of an image in one of them saves as PNG).
WRITABLE_FORMATS = frozenset({"BMP", "IRIS", "PNG", "JPEG", "JPEG2000", "TARGA", "TARGA_RAW", "CINEON", "DPX",
                              "OPEN_EXR_MULTILAYER", "OPEN_EXR", "HDR", "TIFF", "WEBP"})


def picture_request(source: str, image=None, *, keep_metadata: bool = False) -> tuple[str, PreparedImage | None, str]:
    """What a job's worker needs to read its picture: (the source to record,
    the picture when it had to be read here, a note). URLs and files are read
    by the worker, off the main thread (a file Blender must decode goes to the
    decoder child from there); a Blender image, already open here, is read now.
    Here a file is only looked up, never read. ``keep_metadata``: a picture
    read here keeps its EXIF, XMP and IPTC."""
    if image is not None:
        prepared, note = prepare_datablock(image, keep_metadata=keep_metadata)
        return prepared.source, prepared, note
    source = (source or "").strip()
    if not source:
        raise BadImage("No image was given; pick an image, a file or a URL.")
    if core_images.is_url(source):
        return source, None, ""
    path = bpy.path.abspath(source) if source.startswith("//") else source
    datablock = bpy.data.images.get(source)
    if datablock is not None and not os.path.exists(path):
        prepared, note = prepare_datablock(datablock, keep_metadata=keep_metadata)
        return prepared.source, prepared, note
    if not os.path.exists(path):
        raise BadImage(f"The image file {path} does not exist; check the path.")
    if os.path.isdir(path):
        raise BadImage(f"{path} is a folder, not an image file; give a PNG, JPEG or WebP file.")
    return path, None, ""


def prepare_source(source: str) -> tuple[PreparedImage, str]:
    """The prepared image and a note for the user ("" when nothing changed), read now: the steps a
    job's worker takes for a URL or a file (a file Blender must decode goes to the decoder child)."""
    from ...core.images.decoder_client import prepare_local
    from .decoding import shared

    label, prepared, note = picture_request(source)  # the same lookup as a job's start
    if prepared is not None:
        return prepared, note
    if core_images.is_url(label):
        return core_images.prepare(label), ""
    return prepare_local(label, shared())


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


def _encode_png(image, name: str) -> tuple[bytes, str]:
    """A PNG (or a much smaller JPEG) of ``image``, at most MAX_EDGE_PX per edge, and what was done.

    The user's image is copied first, and the copy scaled and saved. A file-backed copy would look
    for its pixels in the new file, so the encoded file is written with
    ``save(filepath=..., save_copy=True)``, which changes nothing on the image.
    """
    width, height = image.size
    scale = min(1.0, MAX_EDGE_PX / max(width, height))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    target = _copy(image)
    try:
        if (new_w, new_h) != (width, height):
            target.scale(new_w, new_h)
        data = _save_as(target, "PNG")
        if target.depth in (8, 24, 48, 96):  # no alpha channel: a JPEG loses nothing the model needs
            jpeg = _save_as(target, "JPEG")
            if len(jpeg) < len(data) // 2:
                data = jpeg
    finally:
        bpy.data.images.remove(target)
    if len(data) > MAX_INLINE_BYTES:
        raise BadImage(f"{name} is still over {MAX_INLINE_BYTES // (1024 * 1024)} MB at {new_w}x{new_h}; "
                       "scale it down and try again.")
    if (new_w, new_h) != (width, height):
        return data, f"{name} was downscaled from {width}x{height} to {new_w}x{new_h} px before sending."
    return data, ""


def _copy(image):
    """A copy of the user's image that Blender can save as PNG. A copy of a file-backed image keeps
    its file format, and Blender cannot write some it reads (DDS...): those get a new image with
    the same pixels."""
    if image.source != "FILE" or image.file_format in WRITABLE_FORMATS:
        return image.copy()
    import numpy as np

    width, height = image.size
    pixels = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    copy = bpy.data.images.new(image.name + " (copy)", width, height, alpha=image.depth not in (8, 24, 48, 96),
                               float_buffer=image.is_float)
    copy.colorspace_settings.name = image.colorspace_settings.name
    copy.pixels.foreach_set(pixels)
    return copy


def _save_as(image, file_format: str) -> bytes:
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".png" if file_format == "PNG" else ".jpg", prefix="tripo3d-")
    os.close(fd)
    try:
        # Never set back: ``image`` is a copy of ours, and the format of some
        # (DDS, ...) is one an image may not be given ("enum '' not found").
        image.file_format = file_format
        save_image_copy(image, tmp)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.remove(tmp)
