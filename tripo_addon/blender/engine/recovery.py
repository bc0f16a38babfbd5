"""Picking up the journal when Blender starts or a file is opened: unfinished jobs resume, finished
ones are imported into the file that started them (or offered in the job list); nothing is paid twice."""

from __future__ import annotations

import bpy

from ...core import session
from ...core.jobs import NOT_SENT, READY_TO_IMPORT, REMOTE_ACTIVE, Job, State
from ...core.journal.locks import JobLock
from ..user_data import journal
from . import pausing


def recover(manager, resume: bool | None = None) -> bool:
    """``resume`` defaults to "only with a window": in background Blender the
    batch command or script drives its own jobs (timers never fire there),
    so by default this only lists them. Returns whether it resumed jobs."""
    if resume is None:
        resume = not bpy.app.background
    # Resuming: the flag the resumed workers read is made current before they start.
    online = pausing.sync_flag() if resume else bpy.app.online_access
    jobs = journal().at_start()
    # Read only when there is a job: reading the settings loads the bucket code.
    have_key = bool(jobs) and bool(manager.settings().api_key)
    for job in jobs:
        if job.id in manager.active_ids():
            continue
        manager.jobs[job.id] = job
        if not resume:
            continue
        try:
            lock = journal().try_lock(job.key)
        except OSError as exc:  # a file system that cannot lock: listed, not resumed
            manager.report("WARNING", getattr(exc, "message", None) or str(exc))
            return resume
        if lock is None:
            continue  # another Blender process is working on it right now
        try:
            _recover_one(manager, job, online, have_key, lock)
        finally:
            if job.id not in manager.locks:
                lock.release()
    return resume


def _recover_one(manager, job: Job, online: bool, have_key: bool, lock: JobLock) -> None:
    if job.state == State.SUBMITTING:
        from ...core.engine.runner import mark_submit_unknown

        mark_submit_unknown(job)
        journal().save(job)
        manager.report("WARNING", job.error or "")
    elif job.state in NOT_SENT:
        # The image bytes were only in memory: it was never sent.
        job.state = State.STOPPED
        job.error = "Blender closed before this job was sent; nothing was charged."
        journal().save(job)
    elif job.state in REMOTE_ACTIVE and job.request_id and online and have_key:
        if _unsaved_elsewhere(job):
            manager.offer_only.add(job.id)
        manager.start(job, lock=lock)
    elif job.state in READY_TO_IMPORT and session.lands_in(job.blend_file, job.session, bpy.data.filepath):
        # Not here: this runs inside Blender's file-load handler, where an import
        # and its undo step crash Blender 4.3; the next tick imports it.
        manager.import_soon.add(job.id)
    elif job.state in REMOTE_ACTIVE and job.request_id and not online and have_key:
        if _unsaved_elsewhere(job):
            manager.offer_only.add(job.id)
        manager.paused[job.id] = None  # resumes (with a claim taken then) when online access is on


def _unsaved_elsewhere(job: Job) -> bool:
    """A job started in an unsaved file of another Blender process (an earlier
    session): its model is offered in the job list, never dropped into a file.
    One of this process's (the add-on disabled and enabled again, or its
    scripts reloaded) still lands in this session's unsaved file."""
    return not job.blend_file and not session.is_current(job.session)
