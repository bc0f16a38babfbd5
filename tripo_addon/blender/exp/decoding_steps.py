"""What the decoder child does with one file: Blender reads it, the picture is turned upright, padding
bytes are made opaque, and it is encoded as PNG or JPEG to fit the limits it was given.

Imported only by ``decoder_child.py``, in the child process (never in the artist's Blender): any
step may meet a reader that crashes. 8-bit pictures are saved with their own values; float and high
bit depth ones as 8-bit through the child's scene with the Standard view transform: what the Image
Editor shows with it.
"""

from __future__ import annotations

import os
import sys

import bpy

from ...core.errors import BadImage
from ...core.images import fitting, pixels
from ...core.images.headers import ImageInfo
from ..compat import save_image_copy


#: Formats whose header may declare another size than the picture Blender makes (EXR: its display
#: window against its data window).
SIZE_MAY_DIFFER = frozenset({"OPEN_EXR"})


class Refused(Exception):
    """The file cannot become a picture to send: ``kind`` says why, ``details`` what the parent words."""

    def __init__(self, kind: str, **details) -> None:
        super().__init__(kind)
        self.kind = kind
        self.details = details


def peak_mb() -> float:
    """This process's peak resident memory, in MB (0 where it cannot be read). Linux's VmHWM is this
    program's own; ``ru_maxrss`` there also counts what the parent held when it forked."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    except (ImportError, OSError):
        return 0.0


def blender_version() -> list[int]:
    """The version of the Blender whose readers this child runs."""
    return list(bpy.app.version)


def decode(request: dict, workdir: str) -> tuple[bytes, dict]:
    """The encoded picture for ``request`` (its path, name, header fields and limits) and what was done."""
    path = request["path"]
    name = request.get("name") or os.path.basename(path)
    info = ImageInfo(**request["info"]) if request.get("info") else None
    max_edge = int(request.get("max_edge", fitting.MAX_EDGE_PX))
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError:
        raise Refused("unreadable") from None
    made = [image]
    try:
        width, height = image.size  # reading .size loads the pixels
        if width == 0 or height == 0:
            raise Refused("unreadable")
        if info is not None and (width, height) != (info.width, info.height) and info.format not in SIZE_MAY_DIFFER:
            raise Refused("unreadable")  # a damaged file read wrong: not the picture its header declares
        is_float = image.is_float
        image = _upright(image, info, max_edge, (width, height), made)
        up_w, up_h = _upright_size(width, height, info)
        fitted = fitting.fit(lambda w, h, fmt, q: _encode(image, made, workdir, w, h, fmt, q),
                             up_w, up_h, _has_alpha(image), name=name,
                             max_bytes=int(request.get("max_bytes", fitting.MAX_INLINE_BYTES)), max_edge=max_edge)
    except BadImage as exc:
        raise Refused("too_large", message=exc.message) from None
    finally:
        for datablock in made:
            bpy.data.images.remove(datablock)
    note = " ".join(n for n in (fitted.note, _float_note(name) if is_float else "") if n)
    return fitted.data, {"ok": True, "format": fitted.format, "width": fitted.width, "height": fitted.height,
                         "note": note}


def _float_note(name: str) -> str:
    return (f"{name} holds more than 8 bits a channel; it was sent as 8-bit colour, as the Image Editor shows "
            "it with the Standard view transform.")


def _upright_size(width: int, height: int, info: ImageInfo | None) -> tuple[int, int]:
    turned = info is not None and info.orientation in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def _has_alpha(image) -> bool:
    return image.depth not in (8, 24, 48, 96)


def _scaled(width: int, height: int, max_edge: int) -> tuple[int, int]:
    scale = min(1.0, max_edge / max(width, height))  # as fitting.fit sizes its first try
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upright(image, info: ImageInfo | None, max_edge: int, size: tuple[int, int], made: list):
    """``image`` scaled within ``max_edge`` (in place: a huge picture is never copied), turned by its
    orientation and with BMP padding made opaque: a new datablock when its pixels had to change."""
    if max(size) > max_edge:
        image.scale(*_scaled(*size, max_edge))
    orientation = info.orientation if info is not None else 1
    maybe_padding = info is not None and info.format == "BMP" and info.bits == 32
    if orientation == 1 and not maybe_padding:
        return image
    import numpy as np

    w, h = image.size
    flat = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(flat)
    rgba = flat.reshape(h, w, 4)
    colorspace, is_float = image.colorspace_settings.name, image.is_float
    has_alpha = _has_alpha(image)
    if info is not None and maybe_padding and pixels.bmp_alpha_is_padding(info, rgba[..., 3]):
        rgba, has_alpha = pixels.make_opaque(rgba), False
    elif orientation == 1:
        return image  # a 32-bit BMP with real alpha: nothing to change
    rgba = pixels.apply_orientation(rgba, orientation, bottom_up=True)
    new_h, new_w = rgba.shape[:2]
    upright = bpy.data.images.new("tripo3d-upright", new_w, new_h, alpha=has_alpha, float_buffer=is_float)
    made.remove(image)
    bpy.data.images.remove(image)
    made.append(upright)
    if not is_float:  # a float buffer holds scene-linear values whatever the file's colour space was
        upright.colorspace_settings.name = colorspace
    upright.pixels.foreach_set(rgba.ravel())
    return upright


def _save_as_shown(image, path: str, file_format: str, quality: int) -> None:
    """A float picture as an 8-bit file, mapped as the Image Editor shows it with the Standard view
    transform (this child's own scene: nothing of the artist's is changed)."""
    scene = bpy.context.scene
    view = scene.view_settings
    view.view_transform, view.look, view.exposure, view.gamma = "Standard", "None", 0.0, 1.0
    settings = scene.render.image_settings
    settings.file_format = file_format
    settings.color_depth = "8"
    settings.color_mode = "RGBA" if file_format == "PNG" and _has_alpha(image) else "RGB"
    settings.quality = quality
    image.save_render(path, scene=scene)


def _encode(image, made: list, workdir: str, width: int, height: int, file_format: str, quality: int) -> bytes:
    """``image`` at ``width`` x ``height`` as ``file_format`` bytes (a scaled copy when smaller)."""
    target = image
    if (width, height) != tuple(image.size):
        target = image.copy()
        made.append(target)
        target.scale(width, height)
    path = os.path.join(workdir, "out.png" if file_format == "PNG" else "out.jpg")
    try:
        if target.is_float:
            _save_as_shown(target, path, file_format, quality)
        else:  # 8-bit: its own values, exactly
            target.file_format = file_format  # never set back: the datablock is the child's own
            save_image_copy(target, path, quality=quality)
        with open(path, "rb") as f:
            return f.read()
    finally:
        if os.path.exists(path):
            os.remove(path)
        if target is not image:
            made.remove(target)
            bpy.data.images.remove(target)
