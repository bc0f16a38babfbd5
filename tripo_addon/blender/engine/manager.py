"""The job engine inside Blender: jobs run while Blender stays responsive.

Each job's steps (planning, upload, submit, poll, download) run in a worker
thread (core.engine.worker) that never touches ``bpy``; it stores the job in
the journal and puts copies of it on a queue. :meth:`JobManager.tick` drains
that queue on the main thread, imports finished models, reports, and redraws
the panel: a ``bpy.app.timers`` callback pumps it in a window, a loop
(:meth:`JobManager.wait`, .batch) where timers never fire.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

import bpy

from ...core import errors as E
from ...core.fsutil import same_source
from ...core.jobs import FINISHED, NOT_SENT, READY_TO_IMPORT, Job, State
from ...core.journal.locks import JobLock
from ...core.net.ratelimit import SharedLimiter
from . import pausing
from .. import settings as settings_mod
from . import internal_errors, recovery, upload_cleanup
from ...core.engine import worker
from ..user_data import journal, journal_if_open
from ..windows import call_waiting, redraw
from .landing import Landing
from .placeholders import Placeholders

if TYPE_CHECKING:
    from ...core.engine.intake import StartRequest
    from ...core.storage.delivery import Delivery


#: Seconds between ticks while jobs run, and when idle.
ACTIVE_INTERVAL = 0.1
IDLE_INTERVAL = 0.5
#: Longest time one tick spends applying events, so the UI never stalls on a burst.
TICK_BUDGET = 0.004
#: Seconds between retries of journal records that could not be written.
FLUSH_INTERVAL = 5.0
#: Seconds after start-up before uploaded images left behind are cleaned up.
SWEEP_DELAY = 3.0


class JobManager(Landing, Placeholders):
    """Every job this Blender runs or lists, and the workers that run them (one instance: ``manager``)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}  # main thread's view, newest state from the workers
        self.events = worker.Events()
        self.threads: dict[str, threading.Thread] = {}
        self.stops: dict[str, threading.Event] = {}
        self.waiting: deque = deque()  # (job, delivery, request) waiting for a free slot
        self.stop_requested: set[str] = set()
        self.listeners: list[Callable[[Job, str], None]] = []
        self.imported_hooks: list[Callable[[Job], None]] = []  # after each import, on the main thread
        #: After Generate starts (or picks up) a job: (job, its image datablock or None);
        #: the thumbnails hook in here so they are built then, never in draw().
        self.started_hooks: list[Callable[[Job, object], None]] = []
        self.messages: deque = deque(maxlen=20)  # (time, level, text) shown in the panel
        #: Jobs picked up from an earlier session whose file was never saved: their
        #: models are offered in the job list rather than dropped into any open scene.
        self.offer_only: set[str] = set()
        #: The claim on each job this process works on (see core.journal.JobLock).
        self.locks: dict[str, JobLock] = {}
        #: Downloaded models found when a file was opened: imported by the next tick.
        self.import_soon: set[str] = set()
        #: Which worker currently owns each job: a stopped worker's late "done"
        #: (after disable/enable or Reload Scripts) must not end its successor.
        self.worker_tokens: dict[str, str] = {}
        #: Downloaded models waiting for the artist to leave Edit/Sculpt/Paint mode.
        self.waiting_for_object_mode: set[str] = set()
        #: Jobs a bug stopped: their workers' remaining events are dropped.
        self.ignored: set[str] = set()
        #: Shared by every job's client: a 429 pauses them all and lowers capacity().
        self.limiter: SharedLimiter | None = None
        #: Settings a batch run drives the jobs with (its key, route, --jobs...); None = the preferences'.
        self.settings_override: settings_mod.Settings | None = None
        #: When (monotonic) the tick next retries journal records a full disk refused.
        self.flush_due = 0.0
        #: When (monotonic) the tick cleans up uploaded images left behind; None = not due.
        self.sweep_due: float | None = None
        #: Jobs paused because online access went off -> their delivery (None once sent); see pausing.
        self.paused: dict[str, Delivery | None] = {}
        self.deliveries: dict[str, Delivery | None] = {}  # each running job's, kept for a pause
        self.online_seen: bool | None = None
        #: What the next report is about: "" (the panel), a job id (its row), "connection"...
        self.topic = ""
        #: A new job's placeholder id -> the job it was planned as (an existing one
        #: when the same image and options were asked for before).
        self.aliases: dict[str, str] = {}
        #: Notes from planning a new job (e.g. "generated before"), by the planned job's id.
        self.start_notes: dict[str, list[str]] = {}
        #: Jobs whose model was on disk already: imported when their worker ends.
        self.reimport: set[str] = set()
        #: New jobs' requests until their worker has planned them (kept for a pause).
        self.requests: dict[str, StartRequest] = {}
        #: Placeholders that never became a job (the picture refused, the same job
        #: already being made...), each with why: for the console and the batch.
        self.refused: dict[str, Job] = {}

    def settings(self) -> settings_mod.Settings:
        return self.settings_override or settings_mod.current()

    def capacity(self, settings: settings_mod.Settings | None = None) -> int:
        """Jobs allowed in flight now: the setting, lowered for a while after a 429."""
        allowed = (settings or self.settings()).max_concurrent
        return min(allowed, self.limiter.allowed) if self.limiter is not None else allowed

    # -- starting and stopping ----------------------------------------------------

    def active_ids(self) -> set[str]:
        return set(self.threads) | {job.id for job, _delivery, _request in self.waiting}

    def start(self, job: Job, delivery: Delivery | None = None, lock: JobLock | None = None,
              request: StartRequest | None = None, settings: settings_mod.Settings | None = None,
              image=None) -> None:
        """Run ``job``'s steps in the background (main thread only).

        ``request``: a new job, ``job`` being its placeholder (the worker plans
        it; ``image`` is its Blender image, if any, for the started hooks).
        ``delivery`` says how a job's image travels (None when resuming);
        ``lock`` is the job's claim; the manager releases it when the job ends.
        ``settings``: the caller's snapshot of them (else they are read now).
        """
        settings = settings or self.settings()
        active = self.active_ids()
        if request is not None:
            for other in (self.jobs.get(i) for i in active):
                if other is not None and same_source(other.source, job.source) and other.params == job.params:
                    raise E.TripoError(f"{other.label} is already being generated with these options"
                                       + ("; wait for it to finish before paying for another." if request.force
                                          else ". Shift+click Generate to pay for another one."))
            request.active_ids = frozenset(active)  # planning says "already being generated" for these
        self.jobs[job.id] = job
        if job.id in active:
            if lock is not None:
                lock.release()
            return
        if lock is not None:
            self.locks[job.id] = lock
        if request is not None:
            self.requests[job.id] = request
        if len(self.threads) >= self.capacity(settings):
            self.waiting.append((job, delivery, request))
        else:
            try:
                self._spawn(job, delivery, request, settings)
            except BaseException:
                self.release_claim(job.id)
                raise
        if request is not None:  # after the worker started: the panel follows it from here
            for hook in list(self.started_hooks):
                hook(job, image)

    def release_claim(self, job_id: str) -> None:
        """Give up this process's claim on a job (its lock), if it holds one."""
        lock = self.locks.pop(job_id, None)
        if lock is not None:
            lock.release()

    def _spawn(self, job: Job, delivery: Delivery | None, request: StartRequest | None = None,
               settings: settings_mod.Settings | None = None) -> None:
        settings = settings or self.settings()
        # The workers' online flag is current already: every way here made it so (a new job's
        # settings.for_a_job, Resume's ensure_online, the tick's pausing.watch, recovery).
        stop = threading.Event()
        if self.limiter is None:
            self.limiter = SharedLimiter(settings.max_concurrent)
        import uuid

        token = uuid.uuid4().hex
        self.worker_tokens[job.id] = token
        self.ignored.discard(job.id)  # resumed after a bug: this worker's events count (the old one's carry its token)
        # The journal is found here: a worker never calls bpy, not even for a folder.
        thread = worker.make_thread(job, settings, journal(), delivery, stop, self.events, token, self.limiter,
                                    request)
        self.threads[job.id] = thread
        self.deliveries[job.id] = delivery
        self.stops[job.id] = stop
        thread.start()

    def stop_tracking(self, job_id: str) -> None:
        """Stop waiting for a job. The server may still finish it and charge for it."""
        self.paused.pop(job_id, None)  # a paused job ends as stopped like any other
        if job_id in self.stops:
            self.stop_requested.add(job_id)
            self.stops[job_id].set()
            return
        self.waiting = deque(item for item in self.waiting if item[0].id != job_id)
        self.release_claim(job_id)
        job = self.jobs.get(job_id)
        if job is not None and not job.finished:
            self._mark_stopped(job)

    def _mark_stopped(self, job: Job) -> None:
        if job.state in NOT_SENT:
            job.error = "Stopped before it was sent; nothing was charged."
        else:
            job.error = ("Stopped tracking; the gateway may still finish this job and charge for it. "
                         "Generate the same image again to pick it up.")
        job.state = State.STOPPED
        job.error_kind = E.Stopped.kind
        if job.content_hash:  # a placeholder (never planned) has no record
            journal().save(job)
        if (job.delivery or {}).get("key") and not job.request_id:
            self.clean_uploads()  # its image, uploaded to the user's bucket, is not needed now

    def clean_uploads(self) -> None:
        """Delete, in the background, uploaded images no job needs any more. Main thread only."""
        upload_cleanup.clean_later(self, journal())

    def remove(self, job_id: str) -> None:
        if job_id in self.threads:
            return
        self.jobs.pop(job_id, None)
        journal().remove(job_id)

    def shutdown(self, timeout: float = 1.0) -> None:
        """Ask every worker to stop and give them a moment; the journal keeps the rest."""
        for stop in self.stops.values():
            stop.set()
        deadline = time.monotonic() + timeout
        for thread in list(self.threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        # Ended workers give up their claim now (the add-on may be enabled again
        # in this session); one still blocked in a socket keeps it until it ends.
        for job_id, thread in list(self.threads.items()):
            if not thread.is_alive():
                self.threads.pop(job_id, None)
                self.stops.pop(job_id, None)
                self.release_claim(job_id)
        for job, _delivery, _request in self.waiting:
            self.release_claim(job.id)
        self.waiting.clear()
        self.sweep_due = None

    # -- the main-thread side ---------------------------------------------------------

    def tick(self) -> float:
        """Timer callback: apply worker events, import, report. Returns the next interval."""
        pausing.watch(self)
        deadline = time.perf_counter() + TICK_BUDGET
        changed = False
        while time.perf_counter() < deadline:
            try:
                job_id, event, data = self.events.get_nowait()
            except IndexError:  # none left
                break
            if event == "sweep":
                upload_cleanup.report(self, data)
                continue
            if job_id in self.ignored:
                continue
            if "_worker" in data and data["_worker"] != self.worker_tokens.get(job_id):
                continue  # an earlier worker of this job, stopped and replaced: its successor owns it now
            changed = True
            try:
                if event == "planned":
                    job = self._planned(job_id, data)
                    for listener in list(self.listeners):
                        listener(job, event)
                    continue
                job = Job.from_dict(data)
                self.jobs[job_id] = job
                if event == "done":
                    self._finish(job, cut_offline=bool(data.get("_offline")))
                for listener in list(self.listeners):
                    listener(job, event)
            except Exception as exc:  # a bug: this job is marked, every other job goes on
                self._bug(job_id, data, exc)
        if changed:
            redraw()
        opened = journal_if_open()
        if opened is not None and opened.unsaved and time.monotonic() >= self.flush_due:
            # Records a full or read-only disk refused are kept in memory: retry now and then.
            self.flush_due = time.monotonic() + FLUSH_INTERVAL
            try:
                opened.flush_unsaved()
            except OSError:
                pass
        for job_id in list(self.import_soon):
            self.import_soon.discard(job_id)
            job = self.jobs.get(job_id)
            if job is not None and job.state in READY_TO_IMPORT and job_id not in self.threads:
                self.import_now(job)
        if self.waiting_for_object_mode and getattr(bpy.context, "mode", "") == "OBJECT":
            for job_id in list(self.waiting_for_object_mode):
                job = self.jobs.get(job_id)
                self.waiting_for_object_mode.discard(job_id)
                if job is not None and job.state in READY_TO_IMPORT:
                    self.import_now(job)
        call_waiting()  # reports for the status bar, once no worker can run Python during them
        if self.sweep_due is not None and time.monotonic() >= self.sweep_due:
            self.sweep_due = None
            self.clean_uploads()
        return ACTIVE_INTERVAL if (self.threads or self.waiting or not self.events.empty()) else IDLE_INTERVAL

    def _bug(self, job_id: str, data: dict, exc: BaseException) -> None:
        internal_errors.mark_job(self, job_id, data, exc)

    def _finish(self, job: Job, cut_offline: bool = False) -> None:
        self.worker_tokens.pop(job.id, None)
        self.threads.pop(job.id, None)
        self.stops.pop(job.id, None)
        delivery = self.deliveries.pop(job.id, None)
        if cut_offline and job.id not in self.stop_requested and pausing.cut_short(job):
            # Its worker met online access off before the tick did (it may be on
            # again already): paused like the others, resumed when it is on.
            self.paused.setdefault(job.id, delivery)
        if job.id in self.paused:
            return  # paused (online access off): it keeps its claim and resumes later
        asked_again = job.id in self.reimport
        self.reimport.discard(job.id)
        self.requests.pop(job.id, None)
        if not job.content_hash and job.state == State.REJECTED:  # a placeholder that never became a job
            self.refused[job.id] = job
            if job.id in self.aliases:  # the same job exists: its own row says the rest
                self.jobs.pop(job.id, None)
            self.report_job(job, "ERROR", job.error or f"{job.label} was not started.")
        elif job.id in self.stop_requested:
            self.stop_requested.discard(job.id)
            self._mark_stopped(job)
            self.report_job(job, "WARNING", f"{job.label}: {job.error}")
        elif asked_again:
            self.import_now(job, asked=True)  # asked for now: no new charge
        elif job.state in READY_TO_IMPORT:
            self.import_now(job)
        elif job.state in FINISHED or job.state == State.INTERRUPTED:
            self.report_job(job, "ERROR", f"{job.label}: {job.error or job.state}")
        self.release_claim(job.id)
        while self.waiting and len(self.threads) < self.capacity():
            next_job, delivery, request = self.waiting.popleft()
            try:
                self._spawn(next_job, delivery, request)
            except E.TripoError as exc:
                self.release_claim(next_job.id)
                next_job.fail(State.REJECTED if next_job.state in NOT_SENT else State.INTERRUPTED, exc)
                if request is None:  # a placeholder has no record
                    journal().save(next_job)
                self.report_job(next_job, "ERROR", f"{next_job.label}: {exc.message}")

    # -- recovery ------------------------------------------------------------------

    def recover(self, resume: bool | None = None) -> None:
        """Pick up the journal: resume unfinished jobs, offer or import finished ones (see .recovery)."""
        if recovery.recover(self, resume):
            # A little later, from the tick: registration itself sends nothing.
            self.sweep_due = time.monotonic() + SWEEP_DELAY

    # -- for scripts -----------------------------------------------------------------

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until ``job_id`` is finished (imported or failed), driving the tick."""
        deadline = None if timeout is None else time.monotonic() + timeout
        asked = job_id
        while True:
            self.tick()
            job_id = self.resolve(asked)
            job = self.jobs.get(job_id) or self.jobs.get(asked)
            running = job_id in self.active_ids() or asked in self.active_ids()
            if job is not None and not running and self.events.empty() and (
                job.finished or job.state == State.INTERRUPTED or job.state in READY_TO_IMPORT
            ):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{job.label if job else job_id} is still {job.state if job else 'unknown'}")
            time.sleep(0.05)


manager = JobManager()


@atexit.register
def _stop_workers_on_quit() -> None:
    # Workers hold no bpy state; the journal already has every request id.
    manager.shutdown(timeout=1.0)
