"""plan(): one journal job per (image, options), so nothing is paid twice."""

from __future__ import annotations

import os
import shutil

import pytest

from tripo_addon.core.images import prepare
from tripo_addon.core.jobs import Job, State, idempotency_key
from tripo_addon.core.engine.planning import Decision, plan
from tripo_addon.core.engine.runner import RunSettings, advance

FAST = RunSettings(poll_interval=0.02)


def stored(journal, job) -> Job:
    loaded = journal.load(job.id)
    assert loaded is not None, "the job must be on disk"
    return loaded


def test_new_image_submits_and_is_on_disk_first(sim, journal, prepared, params):
    p = plan(journal, prepared, params, origin="ui", blend_file="/x/scene.blend")
    assert p.decision == Decision.SUBMIT
    job = stored(journal, p.job)
    assert job.state == State.NEW
    assert job.key == idempotency_key(prepared.content_hash, params)
    assert (job.source, job.origin, job.blend_file) == (prepared.source, "ui", "/x/scene.blend")
    assert sim.stats()["submit_attempts"] == 0  # planning never talks to the gateway


def test_planning_twice_before_submit_keeps_one_job(journal, prepared, params):
    a = plan(journal, prepared, params)
    busy = plan(journal, prepared, params)  # the first claim is still held, by this process
    assert busy.decision == Decision.BUSY and "already being generated" in busy.note
    a.release()
    b = plan(journal, prepared, params)
    assert b.decision == Decision.SUBMIT and b.job.id == a.job.id
    assert len(journal.all()) == 1


def test_a_claim_held_by_another_process_blocks_and_dies_with_it(journal, prepared, params, tmp_path):
    """Two batch runs over the same folder: the second never pays for the first's image."""
    import subprocess
    import sys
    import textwrap

    from tripo_addon.core.jobs import idempotency_key

    key = idempotency_key(prepared.content_hash, params)
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))!r})
        from tripo_addon.core.journal.store import Journal
        lock = Journal({journal.directory!r}).try_lock({key!r})
        assert lock is not None
        open({str(ready)!r}, "w").close()
        time.sleep(60)
    """)])
    try:
        import time

        deadline = time.monotonic() + 60  # a loaded machine may take a while to start the holder
        while not ready.exists() and time.monotonic() < deadline and holder.poll() is None:
            time.sleep(0.01)
        assert ready.exists(), "the process holding the claim did not start"
        blocked = plan(journal, prepared, params)
        assert blocked.decision == Decision.BUSY and "another Blender process" in blocked.note
        assert journal.all() == []  # nothing recorded, nothing submitted
    finally:
        holder.kill()
        holder.wait()
    # The OS dropped the dead process's claim.
    after = plan(journal, prepared, params)
    assert after.decision == Decision.SUBMIT
    after.release()


def queued_job(sim, make_client, journal, prepared, params):
    """Plan and submit a job, stopping as soon as it is queued (the record says QUEUED)."""
    sim.configure(queue_seconds=0.3, processing_seconds=0.1)
    client = make_client()
    p = plan(journal, prepared, params)

    def on_event(job, event):
        if job.state == State.QUEUED:
            client.stop.set()

    job = advance(p.job, client, journal, image_url=prepared.image_url, settings=FAST, on_event=on_event)
    assert job.state == State.QUEUED and job.request_id
    return job


def test_same_request_while_queued_resumes(sim, make_client, journal, prepared, params):
    first = queued_job(sim, make_client, journal, prepared, params)
    p = plan(journal, prepared, params)
    assert p.decision == Decision.RESUME
    assert p.job.id == first.id and p.job.request_id == first.request_id
    assert p.job.state == State.QUEUED
    assert first.request_id in p.note
    done = advance(p.job, make_client(), journal, settings=FAST)
    assert done.state == State.DOWNLOADED
    assert sim.stats()["submits"] == 1


def test_same_bytes_under_another_name_resume_too(sim, make_client, journal, prepared, params, tmp_path):
    first = queued_job(sim, make_client, journal, prepared, params)
    copy = tmp_path / "copy-of-statue.png"
    shutil.copy(prepared.source, copy)
    p = plan(journal, prepare(str(copy)), params)
    assert p.decision == Decision.RESUME and p.job.id == first.id


def test_after_download_reimports_then_refetches_if_deleted(sim, make_client, journal, prepared, params):
    p = plan(journal, prepared, params)
    job = advance(p.job, make_client(), journal, image_url=prepared.image_url, settings=FAST)
    p.release()  # done with it, as every caller does
    assert job.state == State.DOWNLOADED and os.path.exists(job.glb_path)
    stats = sim.stats()

    again = plan(journal, prepared, params)
    assert again.decision == Decision.REIMPORT and again.job.id == job.id
    assert again.job.glb_path == job.glb_path
    again.release()

    job.state = State.IMPORTED
    journal.save(job)
    assert plan(journal, prepared, params).decision == Decision.REIMPORT
    assert sim.stats() == stats  # no network at all

    os.remove(job.glb_path)
    lost = plan(journal, prepared, params)
    assert lost.decision == Decision.RESUME and lost.job.id == job.id
    assert lost.job.state == State.COMPLETED
    refetched = advance(lost.job, make_client(), journal, settings=FAST)
    assert refetched.state == State.DOWNLOADED and os.path.exists(refetched.glb_path)
    assert sim.stats()["submits"] == 1


@pytest.mark.parametrize("left_in", [State.SUBMIT_UNKNOWN, State.SUBMITTING])
def test_uncertain_submit_asks_the_user(sim, journal, prepared, params, left_in):
    first = plan(journal, prepared, params).job
    first.state = left_in
    if left_in == State.SUBMIT_UNKNOWN:  # as the runner leaves it after a SubmitUncertain
        first.error = "No clear answer came back after the job was sent; it may have been submitted and charged."
    journal.save(first)
    p = plan(journal, prepared, params)
    assert p.decision == Decision.UNCERTAIN and p.job.id == first.id
    assert "force" in p.note and "charged" in p.note
    assert stored(journal, first).state == State.SUBMIT_UNKNOWN
    assert len(journal.all()) == 1
    assert sim.stats()["submit_attempts"] == 0


def test_uncertain_after_real_dropped_submit(sim, make_client, journal, prepared, params):
    sim.configure(faults={"submit": ["drop_after_queue"]})
    p = plan(journal, prepared, params)
    advance(p.job, make_client(), journal, image_url=prepared.image_url, settings=FAST)
    p.release()
    again = plan(journal, prepared, params)
    assert again.decision == Decision.UNCERTAIN and again.job.id == p.job.id
    assert "charged" in again.note and "force" in again.note


@pytest.mark.parametrize("state", [State.DOWNLOADED, State.SUBMIT_UNKNOWN, State.QUEUED, State.NEW])
def test_force_makes_a_new_job(journal, prepared, params, state):
    old = plan(journal, prepared, params).job
    old.state = state
    old.request_id = "tripo3d-v2-5-413_old" if state != State.NEW else None
    journal.save(old)
    p = plan(journal, prepared, params, force=True)
    assert p.decision == Decision.SUBMIT
    assert p.job.id != old.id and p.job.state == State.NEW and p.job.request_id is None
    assert stored(journal, p.job).key == old.key
    assert stored(journal, old).state == state  # the old record is kept
    assert journal.find_by_key(old.key).id == p.job.id  # the newest wins from now on


@pytest.mark.parametrize("state", [State.FAILED, State.ERROR, State.REJECTED])
def test_finished_without_model_submits_again(journal, prepared, params, state):
    old = plan(journal, prepared, params).job
    old.state = state
    old.request_id = None if state == State.REJECTED else "tripo3d-v2-5-413_dead"
    old.error = "something went wrong"
    journal.save(old)
    p = plan(journal, prepared, params)
    assert p.decision == Decision.SUBMIT
    assert p.job.id != old.id and p.job.state == State.NEW
    assert {j.id for j in journal.all()} == {old.id, p.job.id}


def test_real_failed_job_then_new_submit(sim, make_client, journal, prepared, params):
    sim.configure(outcome="FAILED")
    first = plan(journal, prepared, params)
    assert advance(first.job, make_client(), journal, image_url=prepared.image_url, settings=FAST).state == State.FAILED
    first.release()
    sim.configure(outcome="COMPLETED")
    second = plan(journal, prepared, params)
    assert second.decision == Decision.SUBMIT and second.job.id != first.job.id
    assert advance(second.job, make_client(), journal, image_url=prepared.image_url,
                   settings=FAST).state == State.DOWNLOADED
    assert sim.stats()["submits"] == 2


def test_active_job_is_busy(journal, prepared, params):
    job = plan(journal, prepared, params).job
    job.state = State.PROCESSING
    job.request_id = "tripo3d-v2-5-413_x"
    journal.save(job)
    p = plan(journal, prepared, params, active_ids={job.id})
    assert p.decision == Decision.BUSY and p.job.id == job.id
    assert plan(journal, prepared, params, active_ids={"someone-else"}).decision == Decision.RESUME


def test_different_params_different_key(journal, prepared, params):
    a = plan(journal, prepared, params)
    other = {**params, "texture": "HD"}
    b = plan(journal, prepared, other)
    assert a.job.key != b.job.key
    assert b.decision == Decision.SUBMIT and b.job.id != a.job.id
    assert b.job.params == other
    # Key order of the options does not matter.
    reordered = dict(reversed(list(params.items())))
    assert idempotency_key(prepared.content_hash, reordered) == a.job.key
    assert plan(journal, prepared, reordered).job.id == a.job.id


def test_different_image_different_job(journal, prepared, params, image_files):
    a = plan(journal, prepared, params)
    b = plan(journal, prepare(image_files["jpg"]), params)
    assert b.job.id != a.job.id and b.job.key != a.job.key


def test_interrupted_or_download_failed_job_resumes_without_submit(journal, prepared, params):
    job = plan(journal, prepared, params).job
    job.request_id = "tripo3d-v2-5-413_paid"
    job.state = State.INTERRUPTED
    journal.save(job)
    p = plan(journal, prepared, params)
    assert p.decision == Decision.RESUME and p.job.state == State.INTERRUPTED
    p.release()

    job.state = State.DOWNLOAD_FAILED
    job.media_urls = ["https://cdn.example/x/output.glb"]
    job.error = "network"
    journal.save(job)
    p = plan(journal, prepared, params)
    assert p.decision == Decision.RESUME and p.job.state == State.COMPLETED
    assert stored(journal, job).error is None
    assert len(journal.all()) == 1
