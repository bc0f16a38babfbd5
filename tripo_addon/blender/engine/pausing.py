"""Pausing and resuming jobs with online access: switching it off pauses every
running job without another request; switching it on resumes them.

Called from :meth:`~.manager.JobManager.tick` on the main thread. A paused job
keeps its claim (lock) and, when it was not sent yet, its delivery, so resuming
costs nothing new. Its worker is stopped, not marked stopped: the runner
returns with the state unchanged and the journal holds the rest.
"""

from __future__ import annotations

import bpy

from ...core.jobs import NOT_SENT, REMOTE_ACTIVE, Job, State
from ...core.net.online import ONLINE
from ..user_data import journal


def watch(manager) -> None:
    """Pause or resume when Blender's online access changed since the last tick.

    First the flag workers read right before each request (core.net.online) is
    made current: a worker then sends nothing more, even before its job is paused
    here. Also called when the preference changes (registration's subscription)."""
    online = sync_flag()
    if manager.online_seen is not None and online != manager.online_seen and not online:
        pause_all(manager)
    manager.online_seen = online
    if online and manager.paused:
        resume_all(manager)  # again at later ticks for workers that had not ended yet


def sync_flag() -> bool:
    """Main thread: Blender's online access, copied into the workers' flag."""
    online = bool(bpy.app.online_access)
    ONLINE.set(online)
    return online


#: The owner of the subscription to the preference (any object, kept for unsubscribing).
_SUBSCRIBER = object()


def subscribe() -> None:
    """Keep the workers' flag current as soon as the preference changes (in a
    window Blender sends the change at once; the job timer would see it up to a
    tick later). The callback only copies it: pausing is the tick's."""
    sync_flag()
    bpy.msgbus.subscribe_rna(key=(bpy.types.PreferencesSystem, "use_online_access"), owner=_SUBSCRIBER,
                             args=(), notify=_preference_changed, options={"PERSISTENT"})


def unsubscribe() -> None:
    bpy.msgbus.clear_by_owner(_SUBSCRIBER)


def _preference_changed() -> None:
    try:
        sync_flag()
    except Exception:  # noqa: BLE001 (never raise into Blender's notifier; the tick copies it too)
        pass


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


def cut_short(job: Job) -> bool:
    """Whether a job whose worker ended is where a stop leaves it (not sent yet,
    or waiting on the gateway, or mid-download), not at an end of its own."""
    return job.state in NOT_SENT or (job.state in REMOTE_ACTIVE and job.state != State.INTERRUPTED)


def is_paused(manager, job_id: str) -> bool:
    return job_id in manager.paused
