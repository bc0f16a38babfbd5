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

from ...core import buglog
from ...core import errors as E
from ...core.jobs import DEFAULT_PARAMS, READY_TO_IMPORT, Job, State
from ...core.net.ratelimit import SharedLimiter
from .. import settings as settings_mod
from ...core.placement_options import ImportOptions
from .manager import manager
from .start import start_job
from ..user_data import journal

if TYPE_CHECKING:
    from ...core.net.gateway import RetryPolicy

#: Seconds the loop sleeps between ticks while jobs run (workers do the waiting).
PUMP_INTERVAL = 0.02
#: Longest wait, when stopped, for a submit in flight to get its answer on disk.
SUBMIT_GRACE = 30.0
#: ``Outcome.error_kind`` of a model that was imported but whose post-process step failed
#: (it is taken out of the scene again), and its report status.
POST_PROCESS, POST_PROCESS_FAILED = "post_process", "POST_PROCESS_FAILED"

@dataclass
class Outcome:
    """What happened to one requested image, for reports and messages."""

    image: str
    job: Job | None = None
    error: str | None = None
    error_kind: str | None = None
    notes: list = field(default_factory=list)
    exports: list = field(default_factory=list)  # files the post-process step wrote

    @property
    def ok(self) -> bool:
        # An imported model whose post-process step failed is not a result.
        return self.job is not None and self.job.state == State.IMPORTED and self.error is None

    def to_report(self) -> dict:
        job = self.job
        status = "COMPLETED" if self.ok else (
            POST_PROCESS_FAILED if self.error_kind == POST_PROCESS else job.state.upper() if job else "REJECTED")
        return {
            "image": self.image,
            "request_id": job.request_id if job else None,
            "status": status,
            "glb": job.glb_path if job else None,
            "objects": list(job.objects) if self.ok and job else [],
            "error": None if self.ok else (self.error or (job.error if job else None)),
            "exports": list(self.exports) if self.ok else [],
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
#: Called on the main thread with each imported outcome before ``on_done``; it may
#: fail the outcome (setting its error) but never raises (see :mod:`.post_process`).
PostStep = Callable[[Outcome], None]


def _start(source: str, params: dict, options: ImportOptions, force: bool, origin: str,
           keep_paths: bool = False) -> Outcome:
    """Start one image's job; the outcome is final unless its job now runs."""
    outcome = Outcome(image=source)
    try:
        outcome.job = start_job(source, params, replace(options, keep_paths=keep_paths), force=force, origin=origin)
    except E.TripoError as exc:
        outcome.error, outcome.error_kind = exc.message, exc.kind
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
    return job_id in manager.active_ids() or manager.resolve(job_id) in manager.active_ids()


def _ended(placeholder_id: str, outcome: Outcome) -> None:
    """Fill ``outcome`` from what its job became (main thread, once it ran)."""
    job_id = manager.resolve(placeholder_id)
    refused = manager.refused.get(placeholder_id)
    outcome.job = manager.jobs.get(job_id) or refused or outcome.job
    outcome.notes.extend(manager.start_notes.pop(job_id, []))
    if refused is not None:
        outcome.error, outcome.error_kind = refused.error, refused.error_kind
        if outcome.job is refused:
            outcome.job = None  # no job was made for it
    elif outcome.job is not None and outcome.job.state in READY_TO_IMPORT:  # left on offer: this run asked for it
        outcome.job = manager.import_now(outcome.job, asked=True)


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
    post_process: PostStep | None = None,
    on_event: Callable[[Job, str], None] | None = None,
    log: Callable[[str], None] = lambda _m: None,
    tick: Callable[[], None] = lambda: None,
) -> list[Outcome]:
    """Generate every source with at most ``jobs`` in flight; ``on_done(index,
    outcome)`` is called on the main thread as each one ends (imported or not),
    after ``post_process(outcome)`` for an imported one. ``tick`` is called on
    every turn of the loop (progress lines, saving)."""
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

    def finish(index: int, outcome: Outcome) -> None:
        _settle(outcome)
        if post_process is not None and outcome.ok:
            post_process(outcome)
        on_done(index, outcome)

    try:
        while pending or active:
            while pending and len(active) < jobs:
                index, source = pending.popleft()
                try:
                    outcome = _start(source, params, options, force, origin, keep_paths)
                except Exception as exc:  # a bug: this image fails alone, the batch goes on
                    outcome = Outcome(image=source, error_kind="internal",
                                      error=buglog.sentence(source, exc, buglog.record(
                                          journal().directory, exc, f"preparing {source}")))
                outcomes[index] = outcome
                if outcome.job is not None and _running(outcome.job.id):
                    active[outcome.job.id] = index
                else:
                    finish(index, outcome)
            manager.tick()
            for job_id, index in list(active.items()):
                if _running(job_id):
                    continue
                outcome = outcomes[index]
                assert outcome is not None
                _ended(job_id, outcome)
                for note in outcome.notes:
                    log(note)
                del active[job_id]
                finish(index, outcome)
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

