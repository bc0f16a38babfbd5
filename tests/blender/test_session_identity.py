"""A job started in an unsaved file belongs to this Blender process: disabling
and enabling the installed extension mid-job, or loading its modules afresh (what
Reload Scripts does), still imports its model automatically, once, from one submit.

One Blender process (the PyPI bpy module in a subprocess) installs the built zip,
as a user does, against the gateway simulator."""

from __future__ import annotations

import json

import pytest
from bhelpers import run_python
from helpers import SIM_KEY
from tools.blender_tracebacks import tracebacks

from scripts.build_extension import build

pytestmark = pytest.mark.matrix

# Each job: started in the unsaved file, left running until it has its request id,
# then the add-on goes away and comes back ("toggle": disabled and enabled again;
# "fresh": disabled, its modules dropped from sys.modules, enabled: nothing of the
# old modules' memory is left, as after Reload Scripts). A windowed Blender resumes
# the journal's jobs when the add-on registers; the bpy module has no window, so the
# script asks for that (manager.recover(resume=True)) as test_ui_jobs does.
MID_JOB_TOGGLE = r"""
import bpy, json, os, sys, time
from importlib import import_module
zip_path, images = %r, %r
pkg = "bl_ext.user_default.tripo3d"
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
bpy.context.preferences.system.use_online_access = True
out = {"filepath": bpy.data.filepath, "jobs": {}}
for how, image in zip(("toggle", "fresh"), images):
    manager = import_module(pkg + ".blender.engine.manager").manager
    placeholder = import_module(pkg + ".api").generate(image)
    deadline = time.monotonic() + 30
    while True:
        manager.tick()
        job = manager.jobs.get(manager.resolve(placeholder.id))
        if job is not None and job.request_id:
            break
        assert time.monotonic() < deadline, "no request id"
        time.sleep(0.02)
    job_id, session_at_submit = job.id, getattr(job, "session", None)
    bpy.ops.preferences.addon_disable(module=pkg)
    if how == "fresh":
        for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
            del sys.modules[name]
    bpy.ops.preferences.addon_enable(module=pkg)
    manager = import_module(pkg + ".blender.engine.manager").manager
    manager.recover(resume=True)
    done = manager.wait(job_id, timeout=60)
    for _ in range(20):  # a few more ticks: nothing imports it a second time
        manager.tick()
        time.sleep(0.02)
    tagged = [o.name for o in bpy.data.objects if o.get("tripo3d_request_id") == done.request_id]
    out["jobs"][how] = {"state": str(done.state), "error": str(done.error or ""), "tagged": tagged,
                        "objects": list(done.objects or []), "session": session_at_submit,
                        "offered": job_id in manager.offer_only,
                        "session_now": os.environ.get("TRIPO3D_SESSION")}
bpy.ops.preferences.addon_disable(module=pkg)
print("JSON" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    return build(out_dir=str(tmp_path_factory.mktemp("dist")))


def test_unsaved_file_job_imports_once_after_disable_enable_and_a_fresh_load(built_zip, sim, tmp_path,
                                                                             image_files):
    sim.configure(queue_seconds=0.3, processing_seconds=2.0)
    proc = run_python(MID_JOB_TOGGLE % (built_zip, [image_files["png"], image_files["jpg"]]),
                      env={"BLENDER_USER_RESOURCES": str(tmp_path / "user"), "PIXAZO_API_KEY": SIM_KEY,
                           "PIXAZO_BASE_URL": sim.url})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not tracebacks(proc.stderr), proc.stderr[-3000:]
    got = json.loads(lines[0][4:])
    assert got["filepath"] == ""  # the unsaved file
    for how, job in got["jobs"].items():
        print(f"[session] {how}: {job['state']}, {len(job['tagged'])} object(s) tagged, session {job['session']}")
        assert job["state"].lower().endswith("imported"), (how, job)
        assert not job["offered"] and job["objects"], (how, job)
        assert len(job["tagged"]) == len(job["objects"]) >= 1, (how, job)  # imported once
        assert job["session"] and job["session"] == job["session_now"], (how, job)
    assert sim.stats()["submits"] == 2  # one per job: resumed, never paid again

