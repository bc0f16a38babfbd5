"""A rendered preview of each imported model, for the job list.

After an import in a window, Blender's own preview renderer (the one the
Asset Browser uses) draws the model's largest mesh. It renders in a job of
its own, so a timer waits for the pixels, gives the job's row that picture
instead of the source image, and keeps it beside the GLB so a later session
shows it too, even once the model has left the scene. One model at a time:
a queue, so a burst of imports never has several renders fighting.
Background Blender has no job list to show it in, and a render per model
would slow a batch: nothing is queued there.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque

import bpy

from ...core import preview_png
from ...core.jobs import Job
from . import thumbnails
from ..engine.manager import manager
from ..windows import redraw

#: How often the timer looks for the finished render, and how long it waits.
POLL_SECONDS = 0.25
GIVE_UP_SECONDS = 60.0

_queue: deque[str] = deque()  # job ids waiting for a render
#: The render under way: (job id, object name, when it started), or None.
_current: list = [None]


def _largest_mesh(job: Job):
    """The job's mesh with the most vertices: the model itself, not an empty
    parent (an empty renders as nothing)."""
    meshes = [o for o in (bpy.data.objects.get(n) for n in job.objects) if o is not None and o.type == "MESH"]
    return max(meshes, key=lambda o: len(o.data.vertices), default=None)


def on_imported(job: Job) -> None:
    """Manager hook after an import: queue a render unless the model already has a picture."""
    if bpy.app.background or not job.glb_path or job.id in _queue:
        return
    if os.path.isfile(preview_png.path_for(job.glb_path)):
        thumbnails.use_result_file(job)  # Import Again: the same model, the same picture
        return
    _queue.append(job.id)
    if not bpy.app.timers.is_registered(_step):
        bpy.app.timers.register(_step, first_interval=0.0)


def _start_next() -> bool:
    while _queue:
        job = manager.jobs.get(_queue.popleft())
        obj = _largest_mesh(job) if job is not None else None
        if obj is None:
            continue
        try:
            obj.asset_generate_preview()  # renders in Blender's preview job; the object needs no asset mark
        except (RuntimeError, AttributeError):
            continue
        _current[0] = (job.id, obj.name, time.monotonic())
        return True
    return False


def _finish(job_id: str, size, pixels) -> None:
    job = manager.jobs.get(job_id)
    if job is None:
        return
    thumbnails.use_result_pixels(job, size, pixels)
    if job.glb_path:
        try:
            preview_png.write(preview_png.path_for(job.glb_path), size[0], size[1], pixels)
        except OSError:
            pass  # the row still shows it in this session; only a later one would not
    redraw()


def _step() -> float | None:
    # A timer callback must never raise: Blender would drop it for the session.
    try:
        return _advance()
    except Exception as exc:
        from ...core import buglog
        from ..user_data import journal

        _current[0] = None
        log = buglog.record(journal().directory, exc, "the model preview")
        print(f"Tripo3D: {buglog.sentence('the model preview', exc, log)}", file=sys.stderr)
        return POLL_SECONDS if _queue else None


def _advance() -> float | None:
    if _current[0] is None and not _start_next():
        return None
    job_id, name, started = _current[0]
    obj = bpy.data.objects.get(name)
    preview = obj.preview if obj is not None else None
    if preview is not None and preview.image_size[0] > 0:
        pixels = preview.image_pixels_float[:]
        if preview_png.has_content(pixels):
            _current[0] = None
            _finish(job_id, tuple(preview.image_size), pixels)
            return 0.0 if _queue else None
    if obj is None or time.monotonic() - started > GIVE_UP_SECONDS:
        _current[0] = None  # removed meanwhile, or never rendered: the row keeps the source image
        return 0.0 if _queue else None
    return POLL_SECONDS


def register() -> None:
    if on_imported not in manager.imported_hooks:
        manager.imported_hooks.append(on_imported)


def unregister() -> None:
    if on_imported in manager.imported_hooks:
        manager.imported_hooks.remove(on_imported)
    if bpy.app.timers.is_registered(_step):
        bpy.app.timers.unregister(_step)
    _queue.clear()
    _current[0] = None
