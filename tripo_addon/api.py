"""Functions for scripts and the Python console: ``generate``, ``wait`` and ``jobs``.

    from bl_ext.user_default.tripo3d import api      # installed extension
    job = api.generate("//photo.png")                # starts, returns at once
    job = api.wait(job.id)                           # blocks until imported or failed
    print(job.state, job.objects, job.error)

``generate(..., wait=True)`` does both. The same job engine runs whether
Blender has a window (timers apply the results) or not (``wait`` applies
them). In a window, waiting blocks the interface: use it in scripts, and
the operator ``bpy.ops.tripo3d.generate`` from buttons.
"""

from __future__ import annotations

from .core import errors as E
from .core.gameready import merge_extra
from .core.jobs import Job


def generate(source: str = "", *, texture: str = "", texture_alignment: str = "", orientation: str = "",
             extra: dict | None = None, force: bool = False, wait: bool = False, timeout: float | None = None,
             context=None) -> Job:
    """Start a job for ``source`` (image name, file path or URL; "" = the panel's choice).

    ``extra`` holds more gateway fields, sent as they are (``{"face_limit": 8000,
    "pbr": True}``: fields Tripo's own API takes; the gateway documents only the
    three above and may ignore others). They are part of what names the job, so
    another ``face_limit`` is another (paid) job.

    Returns the job at once (its worker reads the picture and plans it; the
    job list and ``api.wait`` follow it), or, with ``wait``, once it is
    imported or has failed. Raises :class:`~.core.errors.TripoError` with a
    clear message when it cannot start (with ``wait``, also when the picture
    turned out unusable or the same job is already being made).
    """
    import bpy

    from .blender.engine.manager import manager
    from .blender.engine.start import start_job
    from .blender.ui.properties import panel_request

    source, image, params, options = panel_request(context or bpy.context, source, {
        "texture": texture, "texture_alignment": texture_alignment, "orientation": orientation,
    })
    params = merge_extra(params, extra)
    job = start_job(source, params, options, force=force, origin="script", image=image)
    if not wait:
        return job
    done = manager.wait(job.id, timeout)
    refused = manager.refused.get(job.id)
    if refused is not None:
        raise E.error_of_kind(refused.error_kind, refused.error or f"{refused.label} was not started.")
    return done


def wait(job_id: str, timeout: float | None = None) -> Job:
    """Block until the job is imported or has failed; return it."""
    from .blender.engine.manager import manager

    return manager.wait(job_id, timeout)


def jobs(everything: bool = False) -> list[Job]:
    """The jobs in the job list, oldest first: this session's, every
    unfinished one and the newest finished ones. ``everything=True`` reads
    the whole journal too (about a second per 10,000 jobs)."""
    from .blender.engine.manager import manager
    from .blender.user_data import journal

    found = {job.id: job for job in journal().all()} if everything else {}
    found.update(manager.jobs)  # the live copies win over the records
    return sorted(found.values(), key=lambda j: j.created_at)
