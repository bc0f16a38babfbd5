"""A bug while applying one job's event marks that job and reports it; the
engine and every other job go on (the timer is never dropped)."""

from __future__ import annotations

import os

import bpy
from test_ui_jobs import addon, ui  # noqa: F401  (fixtures)

from tripo_addon import api
from tripo_addon.blender.ui import registration as ui_mod
from tripo_addon.blender.engine.manager import manager
from tripo_addon.blender.user_data import journal
from tripo_addon.core.jobs import State


def test_one_jobs_bug_does_not_stop_the_others(ui, image_files):  # noqa: F811
    assert bpy.ops.tripo3d.generate(source=image_files["png"]) == {"FINISHED"}
    assert bpy.ops.tripo3d.generate(source=image_files["jpg"]) == {"FINISHED"}
    bad_id = next(j.id for j in manager.jobs.values() if j.source == image_files["png"])

    def buggy(job, event):
        if job.id == bad_id and job.state == State.QUEUED:
            raise KeyError("a bug in a listener")

    manager.listeners.append(buggy)
    try:
        good = next(j for j in manager.jobs.values() if j.id != bad_id)
        done = api.wait(good.id, timeout=60)
        bad = api.wait(bad_id, timeout=60)
    finally:
        manager.listeners.remove(buggy)
    assert done.state == State.IMPORTED, done.error
    assert bad.error_kind == "internal" and "internal error (KeyError)" in bad.error
    assert bad.request_id and journal().load(bad_id).request_id == bad.request_id  # paid: never lost
    log = os.path.join(journal().directory, "logs", "bugs.log")
    assert "a bug in a listener" in open(log, encoding="utf-8").read()
    assert "Traceback" not in bad.error


def test_the_timer_survives_an_exception(ui, monkeypatch):  # noqa: F811
    def boom():
        raise RuntimeError("tick bug")

    monkeypatch.setattr(manager, "tick", boom)
    try:
        assert ui_mod._tick() == 1.0  # still registered: returns an interval, never raises
    finally:
        monkeypatch.undo()


def test_a_job_a_bug_stopped_resumes_and_finishes_in_the_same_session(ui, image_files):  # noqa: F811
    """Marked resumable after an internal error, the job is resumed here and now: its new worker's
    events are applied (the job leaves the ignore set), and the model is imported with no new charge."""
    ui.configure(processing_seconds=1.0)
    assert bpy.ops.tripo3d.generate(source=image_files["png"]) == {"FINISHED"}
    job_id = next(iter(manager.jobs))

    def buggy(job, event):
        if job.state == State.QUEUED:
            raise KeyError("a bug in a listener")

    manager.listeners.append(buggy)
    try:
        bad = api.wait(job_id, timeout=60)
    finally:
        manager.listeners.remove(buggy)
    job_id = bad.id
    assert bad.error_kind == "internal" and bad.state == State.INTERRUPTED and bad.request_id
    assert bpy.ops.tripo3d.resume_job(job_id=job_id) == {"FINISHED"}
    done = api.wait(job_id, timeout=60)
    assert done.state == State.IMPORTED, (done.state, done.error)
    assert job_id not in manager.ignored
    assert ui.stats()["submits"] == 1
    assert done.objects and all(name in bpy.data.objects for name in done.objects)
