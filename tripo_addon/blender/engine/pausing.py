"""Pausing and resuming jobs with online access: switching it off pauses every
running job without another request; switching it on resumes them.

Called from :meth:`~.manager.JobManager.tick` on the main thread. A paused job
keeps its claim (lock) and, when it was not sent yet, its delivery, so resuming
costs nothing new. Its worker is stopped, not marked stopped: the runner
returns with the state unchanged and the journal holds the rest.
"""

from __future__ import annotations

import bpy

from ...core.jobs import NOT_SENT
from ..user_data import journal


def watch(manager) -> None:
    """Pause or resume when Blender's online access changed since the last tick."""
    online = bool(bpy.app.online_access)
    if manager.online_seen is not None and online != manager.online_seen and not online:
        pause_all(manager)
    manager.online_seen = online
    if online and manager.paused:
        resume_all(manager)  # again at later ticks for workers that had not ended yet


def pause_all(manager) -> int:
    count = 0
    for job_id, stop in list(manager.stops.items()):
        if job_id in manager.stop_requested:
            continue  # the user stopped it: it ends as stopped
        manager.paused[job_id] = manager.deliveries.get(job_id)
        stop.set()
        count += 1
    while manager.waiting:
        job, delivery, _request = manager.waiting.popleft()  # a placeholder's request stays in manager.requests
        manager.paused[job.id] = delivery
        count += 1
    if count:
        manager.report("WARNING", f"Online access is off: {count} job(s) paused, no requests are made; "
                                  "they resume when it is on again.")
    return count


def resume_all(manager) -> int:
    """Start the paused jobs again (main thread; their workers have ended or are ending)."""
    resumed = 0
    for job_id in list(manager.paused):
        if job_id in manager.threads:
            continue  # its worker has not returned yet: the next tick tries again
        delivery = manager.paused.pop(job_id)
        job = manager.jobs.get(job_id)
        if job is None or job.finished:
            manager.release_claim(job_id)
            continue
        request = manager.requests.get(job_id)  # not planned yet: its worker claims it
        lock = None if request is not None else (manager.locks.get(job_id) or journal().try_lock(job.key))
        if lock is None and request is None:
            continue  # another Blender process took it meanwhile
        try:
            manager.start(job, delivery if job.state in NOT_SENT else None, lock=lock, request=request)
            resumed += 1
        except Exception as exc:  # noqa: BLE001 (no key now, ...): said, and the job stays listed
            manager.release_claim(job_id)
            manager.report("ERROR", f"{job.label}: could not resume ({getattr(exc, 'message', exc)}).")
    if resumed:
        manager.report("INFO", f"Online access is on: {resumed} paused job(s) resumed.")
    return resumed


def is_paused(manager, job_id: str) -> bool:
    return job_id in manager.paused
