"""The job list's data: one item per job on the window manager (a UIList needs a collection
property), and the helpers the panels read.

It is kept in step with the manager from the main thread, never in draw(), where Blender forbids
writing."""

from __future__ import annotations

import os

import bpy
from bpy.props import CollectionProperty, IntProperty, StringProperty

from ...core.engine import job_display
from ...core.fsutil import same_source
from ..engine.manager import manager
from .properties import chosen_params, chosen_source, panel_settings

#: Server-time estimate from this user's own past jobs; refreshed when a job finishes.
_estimate: list = [None]


class TRIPO3D_PG_job_item(bpy.types.PropertyGroup):
    job_id: StringProperty()  # type: ignore[valid-type]


def ordered_ids() -> list[str]:
    return [j.id for j in sorted(manager.jobs.values(), key=lambda j: j.created_at, reverse=True)]


def sync(select: str | None = None) -> None:
    """Make the list match the manager's jobs (newest first); ``select`` a job."""
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None or not hasattr(wm, "tripo3d_jobs"):
        return
    ids = ordered_ids()
    items = wm.tripo3d_jobs
    if [i.job_id for i in items] != ids:
        current = items[wm.tripo3d_job_index].job_id if 0 <= wm.tripo3d_job_index < len(items) else None
        items.clear()
        for job_id in ids:
            items.add().job_id = job_id
        keep = select or current
        wm.tripo3d_job_index = ids.index(keep) if keep in ids else 0
    elif select in ids:
        wm.tripo3d_job_index = ids.index(select)


def active_job(context):
    wm = context.window_manager
    items = getattr(wm, "tripo3d_jobs", None)
    if not items or not 0 <= wm.tripo3d_job_index < len(items):
        return None
    return manager.jobs.get(items[wm.tripo3d_job_index].job_id)


def job_row_status(job) -> job_display.Status:
    return job_display.status(
        job, running=job.id in manager.threads, waiting=any(item[0].id == job.id for item in manager.waiting),
        paused=job.id in manager.paused, estimate=_estimate[0],
        object_mode=job.id in manager.waiting_for_object_mode)


def refresh_estimate() -> None:
    _estimate[0] = job_display.server_estimate(manager.jobs.values())


def existing_result(context):
    """A finished job with a model on disk for the chosen image and these
    options (by name and options: hashing the image in draw() would stall)."""
    kind, value = chosen_source(context)
    if kind == "image":
        if value is None:
            return None
        names = {value.name}
        if value.filepath and value.source == "FILE":
            names.add(bpy.path.abspath(value.filepath, library=value.library))
    else:
        names = {value} if value else set()
    if not names:
        return None
    params = chosen_params(panel_settings(context))
    for job in sorted(manager.jobs.values(), key=lambda j: j.created_at, reverse=True):
        if any(same_source(job.source, n) for n in names) and job.params == params and job.glb_path and job.id not in manager.threads \
                and job.state in ("imported", "downloaded") and os.path.exists(job.glb_path):
            return job
    return None


def _listener(job, event: str) -> None:
    if event == "done":
        refresh_estimate()
    sync()


def _started(job, _image) -> None:
    sync(select=job.id)


def register() -> None:
    bpy.utils.register_class(TRIPO3D_PG_job_item)
    bpy.types.WindowManager.tripo3d_jobs = CollectionProperty(type=TRIPO3D_PG_job_item)
    bpy.types.WindowManager.tripo3d_job_index = IntProperty(name="Job", default=0)
    if _listener not in manager.listeners:
        manager.listeners.append(_listener)
    if _started not in manager.started_hooks:
        manager.started_hooks.append(_started)


def unregister() -> None:
    if _listener in manager.listeners:
        manager.listeners.remove(_listener)
    if _started in manager.started_hooks:
        manager.started_hooks.remove(_started)
    del bpy.types.WindowManager.tripo3d_jobs
    del bpy.types.WindowManager.tripo3d_job_index
    bpy.utils.unregister_class(TRIPO3D_PG_job_item)
    _estimate[0] = None
