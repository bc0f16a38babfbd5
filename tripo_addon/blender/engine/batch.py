"""The batch loop (many jobs in flight in one Blender), its :class:`Outcome` per image,
and ``generate_blocking`` for scripts.

The batch command, ``api.generate(wait=True)`` in background Blender and the
sidebar all drive one job engine (:mod:`.manager`): network work in worker
threads, imports on the main thread as each model lands. Timers never fire in
background Blender, so this loop pumps the manager's tick itself.

Images are prepared (read, converted, planned) only when a slot is free, so
a folder of thousands never sits in memory at once.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import bpy

from ...core import buglog
from ...core import errors as E
from ...core.engine.jobs import DEFAULT_PARAMS, READY_TO_IMPORT, Job, State
from ...core.engine.planning import Decision, plan
from ...core.net.ratelimit import SharedLimiter
from .. import settings as settings_mod
from ..exp.image_source import prepare_source
from ...core.placement_options import ImportOptions
from .manager import manager
from ..imp.import_step import import_job
from ..user_data import journal

if TYPE_CHECKING:
    from ...core.net.gateway import RetryPolicy

#: Seconds the loop sleeps between ticks while jobs run (workers do the waiting).
PUMP_INTERVAL = 0.02
#: Longest wait, when stopped, for a submit in flight to get its answer on disk.
SUBMIT_GRACE = 30.0

@dataclass
class Outcome:
    """What happened to one requested image, for reports and messages."""

    image: str
    job: Job | None = None
    error: str | None = None
    error_kind: str | None = None
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.job is not None and self.job.state == State.IMPORTED

    def to_report(self) -> dict:
        job = self.job
        status = "COMPLETED" if self.ok else (job.state.upper() if job else "REJECTED")
        return {
            "image": self.image,
            "request_id": job.request_id if job else None,
            "status": status,
            "glb": job.glb_path if job else None,
            "objects": list(job.objects) if self.ok and job else [],
            "error": None if self.ok else (self.error or (job.error if job else None)),
        }


def generate_blocking(
    source: str,
    params: dict | None = None,
    options: ImportOptions | None = None,
    *,
    force: bool = False,
    origin: str = "script",
    settings: settings_mod.Settings | None = None,
    retry: RetryPolicy | None = None,
    on_event: Callable[[Job, str], None] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> Outcome:
    """Take ``source`` from image to imported model, blocking until done.

    The same job engine as the sidebar and the batch command (see
    :mod:`.batch`), for one image. Never raises for an expected failure: the
    outcome carries the message. Resumes an earlier job for the same image and
    options instead of paying again, unless ``force``.
    """
    settings = replace(settings or settings_mod.current(), retry=retry)
    [outcome] = run([source], params, options, settings=settings, jobs=1, force=force, origin=origin,
                    on_event=on_event, log=log)
    return outcome


Done = Callable[[int, Outcome], None]


def _start(source: str, params: dict, options: ImportOptions, settings: settings_mod.Settings,
           force: bool, origin: str, log: Callable[[str], None], keep_paths: bool = False) -> Outcome:
    """Prepare one image and start (or pick up) its job; the outcome is final
    unless its job is now running in the manager."""
    outcome = Outcome(image=source)

    def fail(exc: E.TripoError) -> Outcome:
        outcome.error, outcome.error_kind = exc.message, exc.kind
        return outcome

    try:
        prepared, note = prepare_source(source)
        delivery = settings.delivery(prepared)
    except E.TripoError as exc:
        return fail(exc)
    if note:
        outcome.notes.append(note)
        log(note)
    try:
        p = plan(journal(), prepared, params, force=force, origin=origin, blend_file=bpy.data.filepath,
                 active_ids=manager.active_ids())
    except E.TripoError as exc:  # the journal cannot be written or locked: nothing was sent
        return fail(exc)
    job = outcome.job = p.job
    job.import_options = {**options.__dict__, "keep_paths": keep_paths}
    job.blend_file = bpy.data.filepath  # this run imports it, into this file
    if p.note:
        outcome.notes.append(p.note)
        log(p.note)
    if p.decision in (Decision.UNCERTAIN, Decision.BUSY):
        outcome.error, outcome.error_kind = p.note, job.error_kind or "busy"
        return outcome
    if p.decision == Decision.REIMPORT:
        try:
            outcome.job = import_job(job, options)
        finally:
            p.release()
        return outcome
    try:
        settings_mod.ensure_online()
        manager.start(job, delivery if p.decision == Decision.SUBMIT else None, lock=p.lock)
    except E.TripoError as exc:
        p.release()
        return fail(exc)
    except BaseException:
        p.release()
        raise
    return outcome


def _wait_for_submits_in_flight(limit: float) -> None:
    """A submit already sent is paid for: give its answer time to reach the
    journal (the client's own deadline bounds it), so a re-run resumes it
    instead of reporting "may have been charged"."""
    deadline = time.monotonic() + limit
    for job_id, thread in list(manager.threads.items()):
        job = manager.jobs.get(job_id)
        if job is not None and job.state == State.SUBMITTING:
            thread.join(max(0.0, deadline - time.monotonic()))


def _running(job_id: str) -> bool:
    return job_id in manager.threads or any(j.id == job_id for j, _ in manager.waiting)


def _settle(outcome: Outcome) -> Outcome:
    job = outcome.job
    if job is not None and job.state != State.IMPORTED and not outcome.error:
        outcome.error = job.error or f"{job.label} ended as {job.state.replace('_', ' ')}."
        outcome.error_kind = job.error_kind
    return outcome


def run(
    sources: list[str],
    params: dict | None = None,
    options: ImportOptions | None = None,
    *,
    settings: settings_mod.Settings,
    jobs: int = 8,
    force: bool = False,
    origin: str = "cli",
    keep_paths: bool = False,
    on_done: Done = lambda _i, _o: None,
    on_event: Callable[[Job, str], None] | None = None,
    log: Callable[[str], None] = lambda _m: None,
    tick: Callable[[], None] = lambda: None,
) -> list[Outcome]:
    """Generate every source with at most ``jobs`` in flight; ``on_done(index,
    outcome)`` is called on the main thread as each one ends (imported or not).
    ``tick`` is called on every turn of the loop (progress lines, saving)."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    options = options or ImportOptions()
    outcomes: list[Outcome | None] = [None] * len(sources)
    pending = deque(enumerate(sources))
    active: dict[str, int] = {}  # job id -> index of its source
    previous, previous_limiter = manager.settings_override, manager.limiter
    manager.settings_override = replace(settings, max_concurrent=jobs)
    manager.limiter = SharedLimiter(jobs)
    if on_event is not None:
        manager.listeners.append(on_event)
    try:
        while pending or active:
            while pending and len(active) < jobs:
                index, source = pending.popleft()
                try:
                    outcome = _start(source, params, options, settings, force, origin, log, keep_paths)
                except Exception as exc:  # a bug: this image fails alone, the batch goes on
                    outcome = Outcome(image=source, error_kind="internal",
                                      error=buglog.sentence(source, exc, buglog.record(
                                          journal().directory, exc, f"preparing {source}")))
                outcomes[index] = outcome
                if outcome.job is not None and _running(outcome.job.id):
                    active[outcome.job.id] = index
                else:
                    on_done(index, _settle(outcome))
            manager.tick()
            for job_id, index in list(active.items()):
                if _running(job_id):
                    continue
                outcome = outcomes[index]
                assert outcome is not None
                outcome.job = manager.jobs.get(job_id, outcome.job)
                if outcome.job.state in READY_TO_IMPORT:  # left on offer: this run asked for it
                    outcome.job = manager.import_now(outcome.job, asked=True)
                del active[job_id]
                on_done(index, _settle(outcome))
            tick()
            if active:
                time.sleep(PUMP_INTERVAL)
    finally:
        if on_event is not None and on_event in manager.listeners:
            manager.listeners.remove(on_event)
        if pending or active:  # interrupted: workers stop, the journal keeps every request id
            manager.shutdown(timeout=2.0)
            _wait_for_submits_in_flight(SUBMIT_GRACE)
        manager.settings_override, manager.limiter = previous, previous_limiter
    return [o for o in outcomes if o is not None]

