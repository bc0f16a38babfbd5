"""advance(): submit, poll and download a job against the simulator, journaling every step."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tripo_addon.core.glb import check_glb_file
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.engine.runner import RunSettings, advance

FAST = RunSettings(poll_interval=0.02)


@pytest.fixture
def new_job(journal, prepared, params):
    job = Job(source=prepared.source, params=params, content_hash=prepared.content_hash)
    journal.save(job)
    return job


def on_disk(journal, job) -> dict:
    with open(os.path.join(journal.jobs_dir, f"{job.id}.json"), encoding="utf-8") as f:
        return json.load(f)


def distinct(states):
    out = []
    for s in states:
        if not out or out[-1] != s:
            out.append(s)
    return out


def test_happy_path(sim, client, journal, new_job, prepared):
    sim.configure(queue_seconds=0.15, processing_seconds=0.3)
    events = []
    disk_at_first_queued = {}

    def on_event(job, event):
        events.append((event, job.state))
        if job.state == State.QUEUED and not disk_at_first_queued:
            disk_at_first_queued.update(on_disk(journal, job))

    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST, on_event=on_event)

    assert job.state == State.DOWNLOADED
    # The request id was on disk at the moment the first "queued" event fired.
    assert disk_at_first_queued["request_id"] == job.request_id
    assert disk_at_first_queued["state"] == State.QUEUED
    assert job.request_id in [j["request_id"] for j in sim.jobs()]
    assert distinct(s for _e, s in events) == [
        State.SUBMITTING, State.QUEUED, State.PROCESSING, State.COMPLETED, State.DOWNLOADING, State.DOWNLOADED,
    ]
    assert events[:2] == [("state", State.SUBMITTING), ("state", State.QUEUED)]
    assert job.glb_path and check_glb_file(job.glb_path) is None
    assert os.path.dirname(job.glb_path) == journal.downloads_dir
    assert job.download_bytes == os.path.getsize(job.glb_path)
    assert job.error is None and job.submitted_at and job.completed_seen_at and job.downloaded_at
    saved = journal.load(job.id)
    assert saved.state == State.DOWNLOADED and saved.glb_path == job.glb_path
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"], st["downloads"]) == (1, 1, 1)


def test_custom_downloads_dir(sim, client, journal, new_job, prepared, tmp_path):
    target = tmp_path / "models"
    job = advance(new_job, client, journal, image_url=prepared.image_url,
                  settings=RunSettings(poll_interval=0.02, downloads_dir=str(target)))
    assert job.state == State.DOWNLOADED
    assert os.path.dirname(job.glb_path) == str(target)


def test_new_job_needs_image_url(client, journal, new_job):
    with pytest.raises(ValueError):
        advance(new_job, client, journal)


def test_failed_outcome(sim, client, journal, new_job, prepared):
    sim.configure(outcome="FAILED", outcome_error="Mesh generation failed: no object found")
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.FAILED
    assert "Mesh generation failed: no object found" in job.error
    assert job.error_kind == "failed"
    assert journal.load(job.id).state == State.FAILED
    assert sim.stats()["downloads"] == 0


def test_error_outcome_not_charged(sim, client, journal, new_job, prepared):
    sim.configure(outcome="ERROR", outcome_error="GPU worker crashed")
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.ERROR
    assert "not charged" in job.error and "GPU worker crashed" in job.error
    assert journal.load(job.id).error == job.error


def test_submit_402_rejected(sim, make_client, journal, new_job, prepared):
    job = advance(new_job, make_client("sim-broke"), journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.REJECTED
    assert job.error_kind == "no_balance" and "balance" in job.error
    assert job.request_id is None
    assert journal.load(job.id).state == State.REJECTED
    assert sim.stats()["submits"] == 0


def test_submit_drop_after_queue_is_unknown_and_never_resent(sim, client, journal, new_job, prepared):
    sim.configure(faults={"submit": ["drop_after_queue"]})
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.SUBMIT_UNKNOWN
    assert "charged" in job.error
    assert journal.load(job.id).state == State.SUBMIT_UNKNOWN
    # Advancing again (as a resume would) must not send anything.
    again = advance(journal.load(job.id), client, journal, image_url=prepared.image_url, settings=FAST)
    assert again.state == State.SUBMIT_UNKNOWN
    time.sleep(0.05)
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"], st["status_requests"]) == (1, 1, 0)


def test_job_found_submitting_becomes_unknown_without_request(sim, client, journal, new_job, prepared):
    new_job.state = State.SUBMITTING  # as left by a crash mid-submit
    journal.save(new_job)
    job = advance(journal.load(new_job.id), client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.SUBMIT_UNKNOWN
    assert "interrupted" in job.error and "charged" in job.error
    assert journal.load(job.id).state == State.SUBMIT_UNKNOWN
    st = sim.stats()
    assert (st["submit_attempts"], st["status_requests"]) == (0, 0)


def test_status_faults_beyond_budget_interrupt_then_resume(sim, client, make_client, journal, new_job, prepared):
    sim.configure(faults={"status": ["503"] * client.retry.attempts})
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.INTERRUPTED
    assert job.request_id and job.error_kind == "retries_exhausted"
    loaded = journal.load(job.id)
    assert loaded.state == State.INTERRUPTED and loaded.request_id == job.request_id

    resumed = advance(loaded, make_client(), journal, settings=FAST)
    assert resumed.state == State.DOWNLOADED
    assert resumed.request_id == job.request_id
    assert check_glb_file(resumed.glb_path) is None
    assert resumed.error is None
    assert sim.stats()["submits"] == 1 and sim.stats()["submit_attempts"] == 1


def test_stop_from_another_thread(sim, make_client, journal, new_job, prepared):
    sim.configure(queue_seconds=1.0, processing_seconds=0.1)
    client = make_client()
    settings = RunSettings(poll_interval=5.0)  # a long wait the stop must cut short
    done = {}

    def work():
        done["job"] = advance(new_job, client, journal, image_url=prepared.image_url, settings=settings)
        done["at"] = time.monotonic()

    t = threading.Thread(target=work)
    t.start()
    deadline = time.monotonic() + 3
    while not sim.stats()["submits"] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    stopped_at = time.monotonic()
    client.stop.set()
    t.join(timeout=3)
    assert not t.is_alive()
    assert done["at"] - stopped_at < 0.5
    job = done["job"]
    assert job.state == State.QUEUED and job.request_id
    saved = journal.load(job.id)
    assert saved.state == State.QUEUED and saved.request_id == job.request_id

    resumed = advance(saved, make_client(), journal, settings=RunSettings(poll_interval=0.05))
    assert resumed.state == State.DOWNLOADED
    assert sim.stats()["submits"] == 1


def test_stop_during_download_then_resume(sim, make_client, journal, new_job, prepared, parts):
    sim.configure(queue_seconds=0, processing_seconds=0, download_rate=40_000)
    client = make_client()
    result = {}

    def on_event(job, event):
        if event == "progress" and job.download_bytes > 0:
            client.stop.set()

    def work():
        result["job"] = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST,
                                on_event=on_event)

    t = threading.Thread(target=work)
    t0 = time.monotonic()
    t.start()
    t.join(timeout=5)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 2.5  # the whole model takes ~3 s at this rate
    job = result["job"]
    assert job.state == State.DOWNLOADING
    assert journal.load(job.id).state == State.DOWNLOADING
    assert len(parts(journal.downloads_dir)) == 1

    sim.configure(download_rate=0)
    resumed = advance(journal.load(job.id), make_client(), journal, settings=FAST)
    assert resumed.state == State.DOWNLOADED
    assert check_glb_file(resumed.glb_path) is None
    assert parts(journal.downloads_dir) == []
    assert sim.stats()["submits"] == 1


def test_stop_before_submit_keeps_job_new(sim, make_client, journal, new_job, prepared):
    sim.configure(faults={"submit": ["429"] * 3}, retry_after=5)
    client = make_client()
    client.retry.max_retry_after = 5
    threading.Timer(0.2, client.stop.set).start()
    t0 = time.monotonic()
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert time.monotonic() - t0 < 1.5
    assert job.state == State.NEW
    assert journal.load(job.id).state == State.NEW
    assert sim.stats()["submits"] == 0


def test_empty_output_is_download_failed(sim, client, journal, new_job, prepared):
    sim.configure(output_mode="empty")
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.DOWNLOAD_FAILED
    assert job.error_kind == "no_output"
    assert journal.load(job.id).state == State.DOWNLOAD_FAILED


def test_not_glb_output_is_download_failed(sim, client, journal, new_job, prepared, parts):
    sim.configure(output_mode="not_glb")
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.DOWNLOAD_FAILED and job.error_kind == "not_glb"
    assert os.listdir(journal.downloads_dir) == []


def test_download_faults_beyond_budget_interrupt_then_resume(sim, client, make_client, journal, new_job, prepared):
    sim.configure(faults={"download": ["500"] * client.retry.attempts})
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.INTERRUPTED and job.media_urls
    resumed = advance(journal.load(job.id), make_client(), journal, settings=FAST)
    assert resumed.state == State.DOWNLOADED
    assert check_glb_file(resumed.glb_path) is None
    assert sim.stats()["submits"] == 1


def test_unknown_status_then_completed(sim, client, journal, new_job, prepared):
    sim.configure(faults={"status": ["unknown_status"] * 3})
    seen = []
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST,
                  on_event=lambda j, e: seen.append(j.server_status))
    assert job.state == State.DOWNLOADED
    assert "WEIRD" in seen
    assert sim.stats()["faults_by_route"]["status"] == {"unknown_status": 3}
    assert check_glb_file(job.glb_path) is None


def test_max_wait_interrupts(sim, client, journal, new_job, prepared):
    sim.configure(queue_seconds=5)
    job = advance(new_job, client, journal, image_url=prepared.image_url,
                  settings=RunSettings(poll_interval=0.02, max_wait=0.2))
    assert job.state == State.INTERRUPTED and job.request_id
    assert "saved" in job.error
    assert sim.stats()["submits"] == 1


def test_completed_job_is_not_polled_again(sim, client, journal, new_job, prepared):
    job = advance(new_job, client, journal, image_url=prepared.image_url, settings=FAST)
    assert job.state == State.DOWNLOADED
    before = sim.stats()
    again = advance(job, client, journal, settings=FAST)
    assert again.state == State.DOWNLOADED
    after = sim.stats()
    assert (after["status_requests"], after["downloads"], after["submit_attempts"]) == (
        before["status_requests"], before["downloads"], before["submit_attempts"])


def test_a_job_is_only_asked_about_at_the_gateway_it_was_sent_to(sim, make_client, journal, new_job, prepared):
    from tools.gateway_sim import GatewaySimulator, SimConfig
    from helpers import SIM_KEY

    job = advance(new_job, make_client(), journal, image_url=prepared.image_url,
                  settings=RunSettings(poll_interval=0.02, max_wait=0.0))
    assert job.request_id and job.base_url == sim.url.rstrip("/")
    job.state, job.media_urls = State.QUEUED, []
    with GatewaySimulator(SimConfig(api_key=SIM_KEY)) as other:
        moved = advance(job, make_client(base_url=other.url), journal, settings=FAST)
        assert other.stats()["status_requests"] == 0 and other.stats()["submits"] == 0
    assert moved.state == State.INTERRUPTED and sim.url.rstrip("/") in moved.error
    back = advance(moved, make_client(), journal, settings=FAST)  # the address set back: resumed, not paid again
    assert back.state == State.DOWNLOADED and sim.stats()["submits"] == 1
