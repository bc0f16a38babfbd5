"""Thumbnails of the chosen image and of each job's picture, for the panels."""

from __future__ import annotations

import os

import bpy

from ...core import preview_png
from ...core.fsutil import path_key
from ...core.jobs import Job
from ..engine.manager import manager
from ..windows import redraw

# Thumbnails. draw() only reads icon ids made beforehand. Never let a
# thumbnail be built while the panel draws: a file preview from
# ``bpy.utils.previews.load()`` is loaded by Blender's "Loading previews" job
# (an ID preview by its icon job) the first time it is drawn, and that job
# sends NC_WINDOW notifiers every 0.1 s and at its end, which redraw EVERY
# region of the window (~110-160 ms each under software OpenGL), right after
# the click that started a job.
_previews = None
#: job id -> icon id of the job's picture (0: the plain image icon); see ensure_job_icon.
_job_icons: dict[str, int] = {}
#: job id -> where that thumbnail came from ("result": the rendered model, see
#: .model_preview; "datablock", "file" or "none": the source image), for tests.
job_icon_sources: dict[str, str] = {}
#: absolute file path -> icon id of its loaded thumbnail (0: could not be read).
_file_icons: dict[str, int] = {}
_file_icons_pending: set[str] = set()


def _image_preview_icon(image) -> int:
    """The icon of an image datablock's own preview if Blender has already
    built its preview-size pixels (the Generate panel's thumbnail of the
    chosen image is that preview), else 0. Reading it starts no preview job.
    The job list draws it with template_icon(), i.e. at that same size, so
    Blender never has to make another size of it."""
    try:
        preview = image.preview
        if preview is not None and preview.image_size[0] > 0:
            return preview.icon_id
    except (AttributeError, ReferenceError):
        pass
    return 0


def _file_icon(path: str, *, load: bool = True) -> int:
    """A thumbnail of an image file. With ``load`` it is read now, on this
    (main) thread, from the OS thumbnail cache (made there once): reading
    ``image_size`` makes Blender load the deferred preview synchronously, so
    no "Loading previews" job and no whole-window redraws follow. Without
    ``load``: 0 unless already loaded (what draw() uses)."""
    if _previews is None or not path:
        return 0
    key = os.path.abspath(path)
    icon = _file_icons.get(key)
    if icon is not None or not load:
        return icon or 0
    icon = 0
    if _safe_to_preview(key):
        try:
            preview = _previews[key] if key in _previews else _previews.load(key, key, "IMAGE")
            icon = preview.icon_id if preview.image_size[0] > 0 else 0
        except (KeyError, RuntimeError):
            icon = 0
    _file_icons[key] = icon
    return icon


def _safe_to_preview(path: str) -> bool:
    """Whether Blender may make a file's thumbnail here, in the artist's Blender: only a PNG, JPEG or
    WebP within the pixel limit, from its header. Blender's other readers may crash on a file (that
    one is decoded apart when sent: .exp.decoding); such a file shows the plain image icon."""
    from ...core.errors import BadImage
    from ...core.images import check_header

    try:
        return check_header(path).sendable
    except BadImage:
        return False


def _file_icon_later(path: str) -> int:
    """For draw(): the file's thumbnail if loaded, else 0 now and a one-shot
    timer loads it (outside draw()) and redraws the sidebars."""
    if not path or _previews is None:
        return 0
    key = os.path.abspath(path)
    if key in _file_icons:
        return _file_icons[key]
    if key not in _file_icons_pending:
        _file_icons_pending.add(key)

        def load() -> None:
            _file_icons_pending.discard(key)
            if _previews is not None:
                _file_icon(key)
                redraw()

        bpy.app.timers.register(load, first_interval=0.0)
    return 0


def _image_for_source(source: str):
    """The image datablock a job's source names (its file or its name), if any."""
    if not source:
        return None
    image = bpy.data.images.get(source)
    if image is not None:
        return image
    key = path_key(os.path.abspath(source)) if os.path.isabs(source) else None
    if key is None:
        return None
    for image in bpy.data.images:
        if image.source == "FILE" and image.filepath and path_key(
                bpy.path.abspath(image.filepath, library=image.library)) == key:
            return image
    return None


def ensure_job_icon(job: Job, image=None) -> int:
    """Make the job's thumbnail once, outside draw(): the model's kept picture
    when there is one, else the datablock's existing preview (free), else the
    file's, loaded now."""
    if job.id in _job_icons:
        return _job_icons[job.id]
    icon, origin = 0, "none"
    if bpy.app.background:  # no panel to show it in
        _job_icons[job.id] = icon
        job_icon_sources[job.id] = origin
        return icon
    icon = use_result_file(job)
    if icon:
        return icon
    image = image if image is not None else _image_for_source(job.source)
    if image is not None:
        icon = _image_preview_icon(image)
        origin = "datablock" if icon else origin
    if not icon and job.source and not job.source.startswith(("http://", "https://")):
        icon = _file_icon(job.source)
        origin = "file" if icon else origin
    _job_icons[job.id] = icon
    job_icon_sources[job.id] = origin
    return icon


def _icon_listener(job: Job, _event: str) -> None:
    """Manager listener (its timer tick): a thumbnail for a job that did not
    come from the operator (resumed from the journal) on its first event."""
    if job.id not in _job_icons:
        ensure_job_icon(job)


def thumbnail_icon(kind: str, value) -> int:
    if kind == "image" and value is not None:
        preview = getattr(value, "preview", None)
        if preview is None and hasattr(value, "preview_ensure"):
            # Once per image: Blender renders it in its icon job (the chosen
            # image's thumbnail is the point of this panel).
            preview = value.preview_ensure()
        return preview.icon_id if preview else 0
    if kind == "path" and value:
        return _file_icon_later(value)
    return 0


def job_icon(job: Job) -> int:
    return _job_icons.get(job.id, 0)


def result_icon(job: Job) -> int:
    """The rendered model's picture, or 0 while the row still shows the source image."""
    return _job_icons.get(job.id, 0) if job_icon_sources.get(job.id) == "result" else 0


def use_result_pixels(job: Job, size, pixels) -> None:
    """Show a freshly rendered model in the job's row (pixels copied into our own
    collection: the row keeps it even if the object is deleted)."""
    if _previews is None:
        return
    key = f"result:{job.id}"
    preview = _previews[key] if key in _previews else _previews.new(key)
    preview.image_size = size
    preview.image_pixels_float = pixels
    w, h, small = preview_png.shrink(size[0], size[1], pixels)  # the row draws the small icon
    preview.icon_size = (w, h)
    preview.icon_pixels_float = small
    _job_icons[job.id] = preview.icon_id
    job_icon_sources[job.id] = "result"


def use_result_file(job: Job) -> int:
    """Show the model's kept picture (beside its GLB) in the job's row; its icon,
    or 0 when there is none (then nothing is remembered: it may be written later)."""
    path = preview_png.path_for(job.glb_path) if job.glb_path else ""
    icon = _file_icon(path) if path and os.path.isfile(path) else 0
    if icon:
        _job_icons[job.id] = icon
        job_icon_sources[job.id] = "result"
    return icon



def ensure_listed_icons() -> None:
    """Thumbnails of the jobs the panel lists, after the journal was read."""
    try:
        jobs = sorted(manager.jobs.values(), key=lambda j: j.created_at, reverse=True)[:12]
        for job in jobs:
            ensure_job_icon(job)
    except AttributeError:
        pass  # bpy.data is not readable while Blender starts; load_post does it


def register() -> None:
    global _previews
    import bpy.utils.previews

    _previews = bpy.utils.previews.new()
    if _icon_listener not in manager.listeners:
        manager.listeners.append(_icon_listener)
    if ensure_job_icon not in manager.started_hooks:
        manager.started_hooks.append(ensure_job_icon)


def unregister() -> None:
    global _previews
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    if _icon_listener in manager.listeners:
        manager.listeners.remove(_icon_listener)
    if ensure_job_icon in manager.started_hooks:
        manager.started_hooks.remove(ensure_job_icon)
    _job_icons.clear()
    job_icon_sources.clear()
    _file_icons.clear()
    _file_icons_pending.clear()
