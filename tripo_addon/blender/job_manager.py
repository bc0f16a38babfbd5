"""Jobs that run while Blender stays responsive.

Each job's network work (:func:`~..core.runner.advance`) runs in a worker
thread that never touches ``bpy``; it stores the job in the journal and puts
copies of it on a queue. A persistent ``bpy.app.timers`` callback,
:meth:`JobManager.tick`, drains that queue on the main thread, imports
finished models, reports, and redraws the panel. Where timers do not fire
(background mode), :meth:`JobManager.wait` drives the same tick.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections import deque
from typing import Callable

import bpy

from ..core import errors as E
from ..core.jobs import FINISHED, READY_TO_IMPORT, REMOTE_ACTIVE, Job, State
from ..core.journal import JobLock
from ..core.runner import advance, mark_submit_unknown
from . import settings as settings_mod
from .service import import_job, journal

#: Seconds between ticks while jobs run, and when idle.
ACTIVE_INTERVAL = 0.1
IDLE_INTERVAL = 0.5
#: Longest time one tick spends applying events, so the UI never stalls on a burst.
TICK_BUDGET = 0.004


class JobManager:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}  # main thread's view, newest state from the workers
        self.events: queue.Queue = queue.Queue()
        self.threads: dict[str, threading.Thread] = {}
        self.stops: dict[str, threading.Event] = {}
        self.waiting: deque = deque()  # (job, image_url) waiting for a free slot
        self.stop_requested: set[str] = set()
        self.listeners: list[Callable[[Job, str], None]] = []
        self.messages: deque = deque(maxlen=20)  # (time, level, text) shown in the panel
        #: Jobs picked up from an earlier session whose file was never saved: their
        #: models are offered in the job list rather than dropped into any open scene.
        self.offer_only: set[str] = set()
        #: The claim on each job this process works on (see core.journal.JobLock).
        self.locks: dict[str, JobLock] = {}

    # -- starting and stopping ----------------------------------------------------

    def active_ids(self) -> set[str]:
        return set(self.threads) | {job.id for job, _ in self.waiting}

    def start(self, job: Job, image_url: str | None = None, lock: JobLock | None = None) -> None:
        """Run ``job``'s network steps in the background (main thread only).

        ``lock`` is the job's claim; the manager releases it when the job ends.
        """
        self.jobs[job.id] = job
        if job.id in self.active_ids():
            if lock is not None:
                lock.release()
            return
        if lock is not None:
            self.locks[job.id] = lock
        if len(self.threads) >= settings_mod.current().max_concurrent:
            self.waiting.append((job, image_url))
            return
        try:
            self._spawn(job, image_url)
        except BaseException:
            self._release(job.id)
            raise

    def _release(self, job_id: str) -> None:
        lock = self.locks.pop(job_id, None)
        if lock is not None:
            lock.release()

    def _spawn(self, job: Job, image_url: str | None) -> None:
        settings = settings_mod.current()
        stop = threading.Event()
        client = settings.client(stop=stop)  # raises NoApiKey before any thread starts
        run_settings = settings.run_settings()
        worker_job = Job.from_dict(job.to_dict())  # the worker owns its own copy

        def post(j: Job, event: str) -> None:
            self.events.put((j.id, event, j.to_dict()))

        def work() -> None:
            try:
                advance(worker_job, client, journal(), image_url=image_url, settings=run_settings, on_event=post)
            except Exception as exc:  # a bug must not kill the job silently
                worker_job.error = f"The job stopped unexpectedly ({type(exc).__name__}); it is saved and can be resumed."
                worker_job.error_kind = "internal"
                if worker_job.state not in FINISHED:
                    worker_job.state = State.INTERRUPTED
                try:
                    journal().save(worker_job)
                except OSError:
                    pass
            finally:
                client.close()
                self.events.put((worker_job.id, "done", worker_job.to_dict()))

        thread = threading.Thread(target=work, name=f"tripo3d-{job.id[:8]}", daemon=True)
        self.threads[job.id] = thread
        self.stops[job.id] = stop
        thread.start()

    def stop_tracking(self, job_id: str) -> None:
        """Stop waiting for a job. The server may still finish it and charge for it."""
        if job_id in self.stops:
            self.stop_requested.add(job_id)
            self.stops[job_id].set()
            return
        self.waiting = deque((j, u) for j, u in self.waiting if j.id != job_id)
        self._release(job_id)
        job = self.jobs.get(job_id)
        if job is not None and not job.finished:
            self._mark_stopped(job)

    def _mark_stopped(self, job: Job) -> None:
        if job.state == State.NEW:
            job.error = "Stopped before it was sent; nothing was charged."
        else:
            job.error = ("Stopped tracking; the gateway may still finish this job and charge for it. "
                         "Generate the same image again to pick it up.")
        job.state = State.STOPPED
        job.error_kind = E.Stopped.kind
        journal().save(job)

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
                self._release(job_id)
        for job, _url in self.waiting:
            self._release(job.id)
        self.waiting.clear()

    # -- the main-thread side ---------------------------------------------------------

    def tick(self) -> float:
        """Timer callback: apply worker events, import, report. Returns the next interval."""
        deadline = time.perf_counter() + TICK_BUDGET
        changed = False
        while time.perf_counter() < deadline:
            try:
                job_id, event, data = self.events.get_nowait()
            except queue.Empty:
                break
            job = Job.from_dict(data)
            self.jobs[job_id] = job
            changed = True
            if event == "done":
                self._finish(job)
            for listener in list(self.listeners):
                listener(job, event)
        if changed:
            redraw()
        return ACTIVE_INTERVAL if (self.threads or self.waiting or not self.events.empty()) else IDLE_INTERVAL

    def _finish(self, job: Job) -> None:
        self.threads.pop(job.id, None)
        self.stops.pop(job.id, None)
        if job.id in self.stop_requested:
            self.stop_requested.discard(job.id)
            self._mark_stopped(job)
            self.report("WARNING", f"{job.label}: {job.error}")
        elif job.state in READY_TO_IMPORT:
            self.import_now(job)
        elif job.state in FINISHED or job.state == State.INTERRUPTED:
            self.report("ERROR", f"{job.label}: {job.error or job.state}")
        self._release(job.id)
        while self.waiting and len(self.threads) < settings_mod.current().max_concurrent:
            next_job, url = self.waiting.popleft()
            try:
                self._spawn(next_job, url)
            except E.TripoError as exc:
                self._release(next_job.id)
                next_job.fail(State.REJECTED if next_job.state == State.NEW else State.INTERRUPTED, exc)
                journal().save(next_job)
                self.report("ERROR", f"{next_job.label}: {exc.message}")

    def import_now(self, job: Job, *, asked: bool = False) -> Job:
        """Import a downloaded job into the open file, or leave it on offer.

        ``asked``: the user asked for this import; otherwise the model only goes
        into the file that started the job.
        """
        elsewhere = job.blend_file != bpy.data.filepath or job.id in self.offer_only
        if not asked and elsewhere:
            self.report("INFO", f"{job.label} is ready; it was started in another file, import it from the job list.")
            return job
        self.offer_only.discard(job.id)
        with _window_context():
            job = import_job(job)
        self.jobs[job.id] = job
        if job.state == State.IMPORTED:
            self.report("INFO", f"{job.label}: imported {len(job.objects)} object(s) (request {job.request_id}).")
        else:
            self.report("ERROR", f"{job.label}: {job.error}")
        redraw()
        return job

    def report(self, level: str, text: str) -> None:
        """Status bar, Info log, console and the panel: one sentence each."""
        self.messages.append((time.time(), level, text))
        print(f"Tripo3D: {text}", flush=True)
        try:
            with _window_context():
                bpy.ops.tripo3d.report("EXEC_DEFAULT", level=level, message=text)
        except (RuntimeError, AttributeError):
            pass  # no window (background mode): the console line is the report

    # -- recovery ------------------------------------------------------------------

    def recover(self, resume: bool | None = None) -> None:
        """Pick up the journal: resume unfinished jobs, offer or import finished ones.

        ``resume`` defaults to "only with a window": in background Blender the
        batch command or script drives its own jobs (timers never fire there),
        so by default this only lists them.
        """
        if resume is None:
            resume = not bpy.app.background
        online = bpy.app.online_access
        have_key = bool(settings_mod.current().api_key)
        for job in journal().all():
            if job.id in self.active_ids():
                continue
            self.jobs[job.id] = job
            if not resume:
                continue
            lock = journal().try_lock(job.key)
            if lock is None:
                continue  # another Blender process is working on it right now
            try:
                self._recover_one(job, online, have_key, lock)
            finally:
                if job.id not in self.locks:
                    lock.release()

    def _recover_one(self, job: Job, online: bool, have_key: bool, lock: JobLock) -> None:
        if job.state == State.SUBMITTING:
            mark_submit_unknown(job)
            journal().save(job)
            self.report("WARNING", job.error or "")
        elif job.state == State.NEW:
            # The image bytes were only in memory: it was never sent.
            job.state = State.STOPPED
            job.error = "Blender closed before this job was sent; nothing was charged."
            journal().save(job)
        elif job.state in REMOTE_ACTIVE and job.request_id and online and have_key:
            if not job.blend_file:
                self.offer_only.add(job.id)
            self.start(job, lock=lock)
        elif job.state in READY_TO_IMPORT and job.blend_file and job.blend_file == bpy.data.filepath:
            self.import_now(job)

    # -- for scripts -----------------------------------------------------------------

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until ``job_id`` is finished (imported or failed), driving the tick."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.tick()
            job = self.jobs.get(job_id)
            running = job_id in self.threads or any(j.id == job_id for j, _ in self.waiting)
            if job is not None and not running and self.events.empty() and (
                job.finished or job.state == State.INTERRUPTED or job.state in READY_TO_IMPORT
            ):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{job.label if job else job_id} is still {job.state if job else 'unknown'}")
            time.sleep(0.05)


#: The sidebar tab of the add-on's panels (ui.py uses it as bl_category).
CATEGORY = "Tripo3D"


def redraw() -> None:
    """Redraw the sidebars that show the job list (only them: tagging the whole
    area would redraw every 3D Viewport's scene at each progress step), and
    only those open on the add-on's tab: a sidebar showing another tab has
    nothing of ours to update, and each redraw costs the whole window a
    refresh."""
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR"):
                for region in area.regions:
                    if region.type == "UI" and region.width > 1 and getattr(
                            region, "active_panel_category", CATEGORY) in (CATEGORY, "UNSUPPORTED"):
                        region.tag_redraw()


class _window_context:
    """Give operators a window when called from a timer (none in background mode)."""

    def __enter__(self):
        wm = getattr(bpy.context, "window_manager", None)
        window = bpy.context.window or (wm.windows[0] if wm and wm.windows else None)
        self._override = bpy.context.temp_override(window=window) if window and not bpy.context.window else None
        if self._override:
            self._override.__enter__()
        return self

    def __exit__(self, *exc):
        if self._override:
            return self._override.__exit__(*exc)
        return False


manager = JobManager()


@atexit.register
def _stop_workers_on_quit() -> None:
    # Workers hold no bpy state; the journal already has every request id.
    manager.shutdown(timeout=1.0)
