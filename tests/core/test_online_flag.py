"""Online access off: the worker sends nothing more, checked right before each
request (core.net.online's flag, which the main thread keeps current), whether or
not the main thread has paused the job yet. Counted at the gateway simulator."""

from __future__ import annotations

import threading
import time

import pytest

from tripo_addon.core.engine import worker
from tripo_addon.core.engine.runner import RunSettings, advance
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.net.online import ONLINE


@pytest.fixture(autouse=True)
def online_again():
    ONLINE.set(True)
    yield
    ONLINE.set(True)


@pytest.fixture
def new_job(journal, prepared, params):
    job = Job(source=prepared.source, params=params, content_hash=prepared.content_hash)
    journal.save(job)
    return job


def _requests(sim) -> tuple:
    s = sim.stats()
    return s["submit_attempts"], s["status_requests"], s["downloads"]


def test_no_request_leaves_once_the_flag_is_off_then_the_job_resumes(sim, make_client, journal, new_job, prepared):
    sim.configure(queue_seconds=0.3, processing_seconds=0.6)
    seen = {}

    def on_event(job, _event):
        # In the worker, right after the submit's answer: the flag goes off as
        # the main thread would turn it off; no stop event is set (not paused yet).
        if job.request_id and "at_off" not in seen:
            ONLINE.set(False)
            seen["at_off"] = _requests(sim)

    client = make_client()
    done = {}
    t = threading.Thread(target=lambda: done.update(job=advance(
        new_job, client, journal, image_url=prepared.image_url, settings=RunSettings(poll_interval=0.05),
        on_event=on_event)))
    t.start()
    t.join(timeout=10)
    assert not t.is_alive()
    time.sleep(1.2)  # long after the job finished on the server: nothing asked, nothing fetched
    assert _requests(sim) == seen["at_off"], (seen, _requests(sim))
    job = done["job"]
    assert job.state == State.QUEUED and job.request_id and not client.stop.is_set()
    assert journal.load(job.id).state == State.QUEUED  # as a pause leaves it, resumable

    ONLINE.set(True)
    resumed = advance(journal.load(job.id), make_client(), journal, settings=RunSettings(poll_interval=0.05))
    assert resumed.state == State.DOWNLOADED
    assert sim.stats()["submits"] == 1


def test_nothing_is_submitted_while_the_flag_is_off(sim, client, journal, new_job, prepared):
    ONLINE.set(False)
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=RunSettings(poll_interval=0.05))
    assert job.state == State.NEW and not job.request_id  # never sent: it resumes as new
    assert sim.stats()["submit_attempts"] == 0


class _Settings:
    """What a worker needs of the settings, for a plain-Python worker."""

    retry = None
    storage = None

    def __init__(self, make_client):
        self._make = make_client

    def client(self, stop=None, retry=None, limiter=None):
        return self._make(stop=stop)

    def run_settings(self):
        return RunSettings(poll_interval=0.05)


def test_the_workers_last_event_says_online_access_went_off(sim, make_client, journal, new_job, prepared):
    """So the main thread pauses a job its worker left early, even if online
    access was on again before the job timer saw it off."""
    sim.configure(queue_seconds=0.5, processing_seconds=0.5)
    submitted = advance(new_job, make_client(), journal, image_url=prepared.image_url,
                        settings=RunSettings(poll_interval=0.05, max_wait=0.01))
    assert submitted.request_id  # queued; now its worker polls it
    job = journal.load(submitted.id)
    job.state, job.error, job.error_kind = State.QUEUED, None, None
    events = worker.Events()
    thread = worker.make_thread(job, _Settings(make_client), journal, None, threading.Event(), events, "tok")
    thread.start()
    time.sleep(0.2)
    ONLINE.set(False)
    ONLINE.set(True)  # on again at once
    thread.join(timeout=10)
    last = None
    while not events.empty():
        last = events.get_nowait()
    assert last[1] == "done" and last[2]["_worker"] == "tok"
    assert last[2]["_offline"] is True, last[2]
