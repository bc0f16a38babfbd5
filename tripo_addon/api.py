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

from .core.engine.jobs import Job


def generate(source: str = "", *, texture: str = "", texture_alignment: str = "", orientation: str = "",
             force: bool = False, wait: bool = False, timeout: float | None = None, context=None) -> Job:
    """Start a job for ``source`` (image name, file path or URL; "" = the panel's choice).

    Raises :class:`~.core.errors.TripoError` with a clear message when it cannot start.
    """
    import bpy

    from .blender.engine.manager import manager
    from .blender.engine.start import start_generate

    job, note = start_generate(context or bpy.context, source, {
        "texture": texture, "texture_alignment": texture_alignment, "orientation": orientation,
    }, force=force)
    if note:
        print(f"Tripo3D: {note}")
    return manager.wait(job.id, timeout) if wait else manager.jobs.get(job.id, job)


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
