"""Online access switched off mid-job inside real Blender: once the workers' flag
is off (in a window the preference's subscription turns it off at once) no request
leaves, even before the job timer pauses the job; switched on again, the job
resumes without a new submit, even when the timer never saw it off."""

from __future__ import annotations

import time

import bpy
from test_ui_jobs import addon, ui  # noqa: F401  (fixtures)

from tripo_addon import api
from tripo_addon.blender.engine import pausing
from tripo_addon.blender.engine.manager import manager
from tripo_addon.core.jobs import State


def _requests(sim) -> tuple:
    s = sim.stats()
    return s["submit_attempts"], s["status_requests"], s["downloads"]


def test_off_and_on_between_two_ticks_sends_nothing_meanwhile_then_resumes(ui, image_files):  # noqa: F811
    ui.configure(queue_seconds=0.2, processing_seconds=3.0)
    prefs = bpy.context.preferences.system
    placeholder = api.generate(image_files["png"])
    deadline = time.monotonic() + 20
    while not (manager.jobs.get(manager.resolve(placeholder.id)) or placeholder).request_id:
        assert time.monotonic() < deadline, "no request id"
        manager.tick()
        time.sleep(0.02)
    job_id = manager.resolve(placeholder.id)
    thread = manager.threads[job_id]
    prefs.use_online_access = False
    pausing.sync_flag()  # what the preference's subscription does in a window; no tick runs
    off = _requests(ui)
    thread.join(timeout=5)  # its worker sends nothing more and ends
    assert not thread.is_alive()
    time.sleep(2.5)  # more than a poll interval (2 s)
    assert _requests(ui) == off
    prefs.use_online_access = True  # on again before the job timer ever saw it off
    done = api.wait(job_id, timeout=40)
    assert done.state == State.IMPORTED, done.error
    assert ui.stats()["submits"] == 1  # resumed, not paid again
