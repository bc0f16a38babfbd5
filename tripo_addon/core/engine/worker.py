"""A job's worker thread, and the queue it tells the main thread through.

Nothing here touches ``bpy``, not even indirectly: the main thread hands the
worker its request, settings, journal and delivery; the worker plans a new
job (.intake), does the network steps (.runner), saves the job at each, and
puts a copy of it on :class:`Events`, which the manager's tick drains on the
main thread.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from typing import TYPE_CHECKING, Protocol

from .. import errors as E
from ..jobs import FINISHED, NOT_SENT, Job, State
from ..net.online import ONLINE

if TYPE_CHECKING:
    from .intake import Intake, StartRequest
    from ..storage.delivery import Delivery
    from ..journal.store import Journal
    from ..net.gateway import GatewayClient
    from .runner import RunSettings
    from ..storage.config import StorageConfig


class Events:
    """What the workers tell the main thread, in order. A deque's append and
    popleft are atomic, so no lock (nor the queue module, at every start)."""

    def __init__(self) -> None:
        self._items: deque = deque()

    def put(self, item: tuple) -> None:
        self._items.append(item)

    def get_nowait(self) -> tuple:
        return self._items.popleft()  # IndexError when there is none

    def empty(self) -> bool:
        return not self._items

    def snapshot(self) -> list[tuple]:
        """The events not applied yet, left in place (a deque's copy is atomic too)."""
        return list(self._items.copy())


class JobSettings(Protocol):
    """What a worker needs of the settings (the Blender layer's Settings has it)."""

    retry: object
    storage: StorageConfig | None

    def client(self, stop: threading.Event | None = None, retry=None, limiter=None) -> GatewayClient: ...

    def run_settings(self) -> RunSettings: ...


def make_thread(job: Job, settings: JobSettings, journal: Journal, delivery: Delivery | None,
                stop: threading.Event, events: Events, token: str, limiter=None,
                request: StartRequest | None = None) -> threading.Thread:
    """On the main thread: the (unstarted) thread that runs ``job``'s steps on
    its own copy of the job, with the client made in the thread (the HTTP
    library loads there; a key or address it refuses fails the job). Its last
    event is "done" with ``token``.

    With ``request`` (a new job), ``job`` is only a placeholder: the thread
    first prepares the picture and plans the job (.intake), says so with a
    "planned" event (the placeholder's id, the planned job, the decision, the
    notes, the claim and the delivery), and goes on as that job.

    The "done" event also says whether online access went off meanwhile
    (``_offline``): a job cut short by it is paused, not left unfinished."""
    from .planning import Decision  # loaded by the first job, not when the add-on registers
    from .runner import advance

    worker_job = copy.deepcopy(job)  # the thread's own copy (the main thread keeps changing its view)

    def post(j: Job, event: str) -> None:
        events.put((j.id, event, {**j.to_dict(), "_worker": token}))

    def work() -> None:
        nonlocal worker_job
        client = None
        planned = request is None  # a placeholder has no record to save
        times_off = ONLINE.times_off
        try:
            delivery_now = delivery
            if request is not None:
                intake = _take_in(request, journal, worker_job, events)
                if intake is None:
                    return  # refused, or the job is another's: the placeholder ends
                worker_job, planned = intake.job, True
                if intake.decision == Decision.REIMPORT:
                    return  # its model is on disk: the main thread imports it
                delivery_now = intake.delivery
            if stop.is_set():
                return
            try:
                client = settings.client(stop=stop, retry=settings.retry, limiter=limiter)
            except E.TripoError as exc:  # the key or the gateway address: nothing is sent
                worker_job.fail(State.REJECTED if worker_job.state in NOT_SENT else State.INTERRUPTED, exc)
                journal.save(worker_job)
                return
            advance(worker_job, client, journal, delivery=delivery_now, storage=settings.storage,
                    settings=settings.run_settings(), on_event=post)
        except Exception as exc:  # a bug must not kill the job silently: its traceback goes to the bug log
            from .. import buglog

            log = buglog.record(journal.directory, exc, f"the worker of job {worker_job.id}")
            worker_job.error = (f"The job stopped unexpectedly ({type(exc).__name__}); it is saved and can be resumed"
                                + (f". The details are in {log}." if log else "."))
            worker_job.error_kind = "internal"
            if worker_job.state not in FINISHED:
                worker_job.state = State.INTERRUPTED
            if planned:
                try:
                    journal.save(worker_job)
                except OSError:
                    pass
        finally:
            if client is not None:
                client.close()
            events.put((worker_job.id, "done", {**worker_job.to_dict(), "_worker": token,
                                                "_offline": ONLINE.times_off != times_off}))

    return threading.Thread(target=work, name=f"tripo3d-{job.id[:8]}", daemon=True)


def _take_in(request: StartRequest, journal: Journal, placeholder: Job, events: Events) -> Intake | None:
    """Plan the placeholder's request; None when it ends here (refused,
    already being made, or maybe paid before): the placeholder then carries why."""
    from .intake import take_in
    from .planning import Decision

    try:
        intake = take_in(request, journal, placeholder.id)
    except E.TripoError as exc:  # nothing was sent, no record was made
        placeholder.fail(State.REJECTED, exc)
        return None
    continuing = intake.decision in (Decision.SUBMIT, Decision.RESUME, Decision.REIMPORT)
    events.put((placeholder.id, "planned", {
        "job": intake.job.to_dict(), "decision": intake.decision, "notes": intake.notes,
        "lock": intake.plan.lock if continuing else None, "delivery": intake.delivery,
    }))
    if not continuing:
        placeholder.state = State.REJECTED
        placeholder.error = " ".join(intake.notes) or f"{placeholder.label} was not started."
        placeholder.error_kind = "busy" if intake.decision == Decision.BUSY else E.SubmitUncertain.kind
        return None
    return intake
