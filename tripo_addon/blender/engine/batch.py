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
from ..exp import decoding
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
    #: The input of this run whose job this one shares (the same picture and options): no new charge.
    same_as: str | None = None
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
            "error": None if self.ok else E.scrub(self.error or (job.error if job else None) or "") or None,
            **({"same_picture_as": self.same_as} if self.same_as else {}),
            "exports": list(self.exports) if self.ok else [],
        }

    @property
    def same_picture_note(self) -> str:
        """"NAME: same picture as OTHER; no new charge" ("" when it has its own job)."""
        return f"{self.image}: same picture as {self.same_as}; no new charge" if self.same_as else ""


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


def _busy_key(placeholder_id: str) -> str | None:
    """The job key a placeholder was refused for as "already being generated", if it was."""
    refused = manager.refused.get(placeholder_id)
    planned = manager.jobs.get(manager.resolve(placeholder_id))
    if refused is None or refused.error_kind != "busy" or planned is None or not planned.content_hash:
        return None
    return planned.key


def _own_key(placeholder_id: str) -> str | None:
    """The key of the job a placeholder became, once planned as its own (not refused as busy)."""
    job_id = manager.resolve(placeholder_id)
    job = manager.jobs.get(job_id)
    if job is None or not job.content_hash or placeholder_id in manager.refused:
        return None
    # Refused as busy, a placeholder follows the other job but keeps its own worker's entries.
    return job.key if job_id == placeholder_id or placeholder_id not in manager.threads else None


def _share(outcome: Outcome, owner: Outcome) -> Outcome:
    """``outcome`` is the same picture as ``owner``'s: it answers with that job, no new charge."""
    outcome.same_as, outcome.job, outcome.exports = owner.image, owner.job, list(owner.exports)
    outcome.error = outcome.error_kind = None
    if owner.error and not owner.ok:
        outcome.error, outcome.error_kind = owner.error, owner.error_kind
    return outcome


def _internal(outcome: Outcome, exc: Exception, doing: str) -> Outcome:
    """A bug while handling one input: it fails alone with one sentence; the traceback goes to the bug log."""
    log = buglog.record(journal().directory, exc, f"{doing} {outcome.image}")
    outcome.error, outcome.error_kind = buglog.sentence(outcome.image, exc, log), "internal"
    return outcome


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
    owners: dict[str, int] = {}  # job key -> the input of this run whose job it is
    sharing: dict[int, str] = {}  # input -> the key of the job it waits for (the same picture as another's)

    def finish(index: int, outcome: Outcome) -> None:
        _settle(outcome)
        if post_process is not None and outcome.ok:
            post_process(outcome)
        on_done(index, outcome)

    try:
        while pending or active or sharing:
            while pending and len(active) < jobs:
                index, source = pending.popleft()
                try:
                    outcome = _start(source, params, options, force, origin, keep_paths)
                except Exception as exc:  # a bug: this image fails alone, the batch goes on
                    outcome = _internal(Outcome(image=source), exc, "preparing")
                outcomes[index] = outcome
                if outcome.job is not None and _running(outcome.job.id):
                    active[outcome.job.id] = index
                else:
                    finish(index, outcome)
            manager.tick()
            for job_id, index in list(active.items()):
                key = _own_key(job_id)
                if key is not None:
                    owners.setdefault(key, index)
                if _running(job_id):
                    continue
                outcome = outcomes[index]
                assert outcome is not None
                del active[job_id]
                try:
                    key = _busy_key(job_id)
                    _ended(job_id, outcome)
                except Exception as exc:  # a bug: this image fails alone, the batch goes on
                    key = None
                    _internal(outcome, exc, "finishing")
                for note in outcome.notes:
                    log(note)
                if key is not None:  # maybe the same picture as another input of this run: answered with it
                    sharing[index] = key
                    continue
                first = owners.get(_own_key(job_id) or "")
                if first not in (None, index) and outcomes[first] is not None:
                    outcome.same_as = outcomes[first].image  # its model, on disk already, imported again
                finish(index, outcome)
            _answer_shared(sharing, owners, outcomes, active, on_done)
            tick()
            if active or sharing:
                time.sleep(PUMP_INTERVAL)
    finally:
        if on_event is not None and on_event in manager.listeners:
            manager.listeners.remove(on_event)
        if pending or active or sharing:  # interrupted: workers stop, the journal keeps every request id
            manager.shutdown(timeout=2.0)
            _wait_for_submits_in_flight(SUBMIT_GRACE)
            _answer_stopped(active, sharing, owners, outcomes, on_done)
        manager.settings_override, manager.limiter = previous, previous_limiter
        decoding.stop()  # the decoder child ends with the batch; the next job starts another
    return [o for o in outcomes if o is not None]


def _answer_stopped(active: dict[str, int], sharing: dict[int, str], owners: dict[str, int], outcomes: list,
                    on_done: Done) -> None:
    """Stopped mid-run: each input in flight answers with what the journal holds of its job, so
    the report carries every request id already paid for."""
    planned = {job_id: data["job"]["id"] for job_id, event, data in manager.events.snapshot() if event == "planned"}
    for placeholder_id, index in active.items():
        outcome = outcomes[index]
        job_id = planned.get(placeholder_id) or manager.resolve(placeholder_id)
        job = journal().load(job_id) or manager.jobs.get(job_id) or outcome.job
        outcome.job = job if job is not None and job.content_hash else None
        outcome.error, outcome.error_kind = _stopped_sentence(outcome.job), E.Stopped.kind
    for index, key in sharing.items():
        owner = owners.get(key)
        if owner is not None and owner != index and outcomes[owner] is not None:
            _share(outcomes[index], outcomes[owner])
            outcomes[index].error = outcomes[owner].error or _stopped_sentence(outcomes[owner].job)
    for index in [*active.values(), *sharing]:
        try:
            on_done(index, outcomes[index])
        except Exception:  # the stop goes on: the journal has every request id anyway
            pass


def _stopped_sentence(job: Job | None) -> str:
    if job is not None and job.state == State.SUBMIT_UNKNOWN and job.error:
        return job.error
    if job is not None and job.request_id:
        return (f"Stopped before it finished (request {job.request_id}, already paid); run the same command "
                "again to resume it without paying twice.")
    return "Stopped before it was sent; nothing was charged."


def _answer_shared(sharing: dict[int, str], owners: dict[str, int], outcomes: list, active: dict[str, int],
                   on_done: Done) -> None:
    """Answer each input that waits for the job of the same picture, once that job ended; one
    whose job is no input's of this run (another Blender process has it) fails with why."""
    running = set(active.values())
    unplanned = any(manager.jobs.get(manager.resolve(job_id)) is None
                    or not manager.jobs[manager.resolve(job_id)].content_hash for job_id in active)
    for index, key in list(sharing.items()):
        owner = owners.get(key)
        if owner is None and unplanned:
            continue  # the input it shares with may not be planned yet
        if owner is not None and owner in running:
            continue
        del sharing[index]
        outcome = outcomes[index]
        if owner is not None and owner != index and outcomes[owner] is not None:
            _share(outcome, outcomes[owner])
        elif outcome.job is not None and not outcome.job.request_id:
            outcome.job = None  # another process's job, never paid for here: nothing to point at
        on_done(index, _settle(outcome))

