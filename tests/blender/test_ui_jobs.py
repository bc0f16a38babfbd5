"""The add-on's operators and background jobs inside real Blender.

Timers do not fire in background mode, so ``api.wait`` drives the same
main-thread tick the timer runs in a window.
"""

from __future__ import annotations

import threading
import time

import bpy
import pytest
from helpers import SIM_KEY

import tripo_addon
from tripo_addon import api
from tripo_addon.blender.engine.manager import manager
from tripo_addon.blender.user_data import journal
from tripo_addon.core.net.gateway import GatewayClient
from tripo_addon.core.jobs import Job, State


@pytest.fixture(scope="module")
def addon():
    tripo_addon.register()
    yield
    tripo_addon.unregister()


@pytest.fixture
def ui(addon, blender, sim, monkeypatch):
    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    manager.jobs.clear()
    yield sim
    for job_id in list(manager.stops):
        manager.stops[job_id].set()
    manager.shutdown(timeout=2)
    manager.tick()


@pytest.mark.matrix
def test_generate_operator_returns_at_once_then_model_arrives(ui, image_files):
    ui.configure(processing_seconds=1.0)
    objects_before = len(bpy.data.objects)
    started = time.monotonic()
    result = bpy.ops.tripo3d.generate(source=image_files["png"])
    returned_after = time.monotonic() - started
    assert result == {"FINISHED"}
    (job,) = manager.jobs.values()
    # The operator came back before the gateway could possibly have finished.
    assert returned_after < ui.config.queue_seconds + ui.config.processing_seconds
    assert len(bpy.data.objects) == objects_before
    assert job.id in manager.threads
    done = api.wait(job.id, timeout=30)
    assert done.state == State.IMPORTED, done.error
    assert len(bpy.data.objects) > objects_before
    assert bpy.context.view_layer.objects.active["tripo3d_request_id"] == done.request_id


def test_second_click_on_same_image_does_not_pay_twice(ui, image_files):
    ui.configure(processing_seconds=1.0)
    bpy.ops.tripo3d.generate(source=image_files["jpg"])
    with pytest.raises(RuntimeError, match="already being generated"):
        bpy.ops.tripo3d.generate(source=image_files["jpg"])
    (job,) = manager.jobs.values()
    api.wait(job.id, timeout=30)
    assert ui.stats()["submits"] == 1
    # Shift+click (force) pays for another on purpose.
    assert bpy.ops.tripo3d.generate(source=image_files["jpg"], force=True) == {"FINISHED"}
    others = [j for j in manager.jobs.values() if j.id != job.id]
    api.wait(others[0].id, timeout=30)
    assert ui.stats()["submits"] == 2


def test_several_jobs_run_at_once(ui, image_files):
    ui.configure(processing_seconds=1.0)
    for key in ("png", "jpg", "webp"):
        bpy.ops.tripo3d.generate(source=image_files[key])
    assert len(manager.threads) == 3
    for job in list(manager.jobs.values()):
        assert api.wait(job.id, timeout=30).state == State.IMPORTED
    created = sorted(j["created"] for j in ui.jobs())
    assert created[-1] - created[0] < 1.0  # all three were submitted together


def test_stop_tracking_says_the_server_may_still_charge(ui, image_files):
    ui.configure(processing_seconds=30)
    bpy.ops.tripo3d.generate(source=image_files["png"])
    (job,) = manager.jobs.values()
    deadline = time.monotonic() + 5
    # The record appears once the job's worker has read the picture and planned it.
    while getattr(journal().load(job.id), "request_id", None) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    bpy.ops.tripo3d.stop_job(job_id=job.id)
    stopped = api.wait(job.id, timeout=10)
    assert stopped.state == State.STOPPED
    assert "may still finish this job and charge" in stopped.error
    assert journal().load(job.id).request_id == stopped.request_id


def test_unfinished_jobs_resume_from_the_journal(ui, image_files):
    # A job submitted by an earlier Blender session that was closed mid-wait.
    client = GatewayClient(SIM_KEY, ui.url)
    submitted = client.submit("data:image/png;base64," + __import__("base64").b64encode(
        open(image_files["png"], "rb").read()).decode())
    job = Job(source=image_files["png"], params={"texture": "standard"}, content_hash="x" * 64,
              request_id=submitted.request_id, state=State.QUEUED, origin="ui", blend_file="")
    journal().save(job)
    interrupted = Job(source="lost.png", params={}, content_hash="y" * 64, state=State.SUBMITTING)
    journal().save(interrupted)
    manager.recover()  # background Blender: only lists, never resumes on its own
    assert job.id in manager.jobs and job.id not in manager.threads
    manager.recover(resume=True)  # what a windowed Blender does at start
    assert job.id in manager.threads
    resumed = api.wait(job.id, timeout=30)
    # Started from an unsaved file in another session: offered, not dropped into this scene.
    assert resumed.state == State.DOWNLOADED
    assert bpy.ops.tripo3d.import_job(job_id=job.id) == {"FINISHED"}
    assert manager.jobs[job.id].state == State.IMPORTED
    assert ui.stats()["submits"] == 1
    unknown = journal().load(interrupted.id)
    assert unknown.state == State.SUBMIT_UNKNOWN and "may have been submitted" in unknown.error


def test_job_started_in_a_saved_file_imports_when_that_file_is_open(ui, image_files, tmp_path):
    ui.configure(processing_seconds=0.8)
    first = str(tmp_path / "first.blend")
    bpy.ops.wm.save_as_mainfile(filepath=first)
    bpy.ops.tripo3d.generate(source=image_files["webp"])
    (job,) = manager.jobs.values()
    bpy.ops.wm.read_homefile(use_empty=True)  # the user opens another file meanwhile
    bpy.context.preferences.system.use_online_access = True
    waited = api.wait(job.id, timeout=30)
    assert waited.state == State.DOWNLOADED  # not dropped into the other file
    assert not any(o.get("tripo3d_request_id") for o in bpy.data.objects)
    bpy.ops.wm.open_mainfile(filepath=first)
    bpy.context.preferences.system.use_online_access = True
    from tripo_addon.blender.ui.registration import _on_load_post

    assert _on_load_post in bpy.app.handlers.load_post
    manager.recover(resume=True)  # what load_post does in a windowed Blender
    # Not inside the file-load handler (an import and its undo step there crash
    # Blender 4.3): the next tick of the timer imports it.
    assert manager.jobs[job.id].state == State.DOWNLOADED and job.id in manager.import_soon
    manager.tick()
    assert manager.jobs[job.id].state == State.IMPORTED
    assert any(o.get("tripo3d_request_id") == waited.request_id for o in bpy.data.objects)


def test_offline_generate_is_refused_with_the_reason(ui, image_files):
    bpy.context.preferences.system.use_online_access = False
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.tripo3d.generate(source=image_files["png"])
    assert ui.stats()["submit_attempts"] == 0 and not manager.threads


def test_generate_uses_the_image_editor_choice_when_no_source(ui, image_files):
    img = bpy.data.images.load(image_files["jpg"])
    bpy.context.scene.tripo3d.source = "IMAGE"
    bpy.context.scene.tripo3d.image = img
    bpy.context.scene.tripo3d.texture = "HD"
    job = api.generate(wait=True, timeout=30)
    assert job.state == State.IMPORTED and job.params["texture"] == "HD"
    assert ui.jobs()[0]["params"]["texture"] == "HD"


def test_quitting_with_jobs_running_keeps_them_in_the_journal(ui, image_files):
    ui.configure(processing_seconds=30)
    bpy.ops.tripo3d.generate(source=image_files["png"])
    (job,) = manager.jobs.values()
    deadline = time.monotonic() + 5
    while getattr(journal().load(job.id), "state", None) != State.QUEUED and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    manager.shutdown(timeout=1.0)  # what Blender's exit runs
    assert time.monotonic() - started < 1.5
    # Its own worker (threads of earlier tests' jobs, e.g. a bucket clean-up, are not this test's).
    assert not any(t.is_alive() for t in threading.enumerate() if t.name == f"tripo3d-{job.id[:8]}")
    saved = journal().load(job.id)
    assert saved.state == State.QUEUED and saved.request_id


def test_a_long_journal_lists_every_unfinished_job_and_the_newest_others(ui, monkeypatch):
    """Start-up reads the unfinished jobs and the history, not the whole journal:
    a job left queued long ago is still found among 150 finished ones."""
    import os

    from tripo_addon.core.journal.store import START_HISTORY

    monkeypatch.setattr(os, "fsync", lambda fd: None)  # set-up only: 150 records
    old = Job(source="long-ago.png", params={}, content_hash="1" * 64, request_id="tripo3d-v2-5-413_old",
              state=State.QUEUED, origin="ui")
    journal().save(old)
    os.utime(journal()._path(old.id), (1.0e9, 1.0e9))  # untouched for years
    done = [Job(source=f"done{i}.png", params={}, content_hash=f"{i:064x}", state=State.IMPORTED)
            for i in range(150)]
    for job in done:
        journal().save(job)
    manager.recover()
    listed = {job.source for job in api.jobs()}
    assert "long-ago.png" in listed and manager.jobs[old.id].request_id == old.request_id
    assert {f"done{i}.png" for i in range(150 - START_HISTORY, 150)} <= listed
    assert len(listed & {job.source for job in done}) == START_HISTORY
    everything = {job.source for job in api.jobs(everything=True)}
    assert {job.source for job in done} <= everything and "long-ago.png" in everything
