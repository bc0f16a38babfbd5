"""A job's worker thread, and the queue it tells the main thread through.

Nothing here touches ``bpy``, not even indirectly: the main thread hands the
worker its settings, journal and delivery; the worker does the network steps
(:func:`~.runner.advance`), saves the job at each, and puts a copy of it
on :class:`Events`, which the manager's tick drains on the main thread.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Callable

from .jobs import FINISHED, Job, State

if TYPE_CHECKING:
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


def make_thread(job: Job, make_client: Callable[[threading.Event], GatewayClient], run_settings: RunSettings,
                storage: StorageConfig | None, journal: Journal, delivery: Delivery | None, stop: threading.Event,
                events: Events, token: str) -> threading.Thread:
    """On the main thread: the (unstarted) thread that runs ``job``'s network
    steps on its own copy of the job. ``make_client(stop)`` is called in the
    thread (the HTTP library loads there). Its last event is "done" with ``token``."""
    from .runner import advance  # loaded by the first job, not when the add-on registers

    worker_job = Job.from_dict(job.to_dict())

    def post(j: Job, event: str) -> None:
        events.put((j.id, event, j.to_dict()))

    def work() -> None:
        client = None
        try:
            # Made here: the HTTP library loads in the worker, not while Generate waits.
            client = make_client(stop)
            advance(worker_job, client, journal, delivery=delivery, storage=storage,
                    settings=run_settings, on_event=post)
        except Exception as exc:  # a bug must not kill the job silently
            worker_job.error = f"The job stopped unexpectedly ({type(exc).__name__}); it is saved and can be resumed."
            worker_job.error_kind = "internal"
            if worker_job.state not in FINISHED:
                worker_job.state = State.INTERRUPTED
            try:
                journal.save(worker_job)
            except OSError:
                pass
        finally:
            if client is not None:
                client.close()
            events.put((worker_job.id, "done", {**worker_job.to_dict(), "_worker": token}))

    return threading.Thread(target=work, name=f"tripo3d-{job.id[:8]}", daemon=True)
