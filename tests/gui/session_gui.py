"""This session's jobs in a real Blender window, in an unsaved file: runs INSIDE Blender.

    tools/gui/run_blender_gui.sh ... tests/gui/session_gui.py -- --out OUT --zip ZIP --image-dir DIR \
        --undo-log LOG

The gateway (the simulator on the host) comes in through PIXAZO_API_KEY and
PIXAZO_BASE_URL. Nothing is saved: every job starts in the unsaved file.

  toggle:  a job running; the add-on disabled and enabled again: imported once;
  reload:  a job running; Reload Scripts: imported once;
  online:  a job running; online access switched off (the switch time is
           recorded; the host reads the gateway's request times), on again 3 s
           later: imported once, one submit;
  windows: a timer's own window is the first; a second window opened and a job
           started from it; from a timer the add-on picks that window for its
           operator calls, a call needing it waits while the job's worker runs and
           is made there once it ended; the undo step of the import is pushed from
           the timer (Blender's undo log).

Facts go to OUT/session_result.json (gl.StepRunner); the host test asserts on them.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import threading
import time

import bpy

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.environ.get("TRIPO_GUI_REPO")
                                or os.path.dirname(os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__)))), "tools", "gui"))
import blender_gui_lib as gl  # noqa: E402

EXT_ID = "tripo3d"
PKG = f"bl_ext.user_default.{EXT_ID}"
UNDO_NAME = "Import Tripo3D model"
#: Image stems, one job (one paid submit) each.
IMAGES = {"toggle": "ss_toggle", "reload": "ss_reload", "online": "ss_online", "windows": "ss_windows"}

parser = argparse.ArgumentParser(prog="session_gui.py")
parser.add_argument("--out", required=True)
parser.add_argument("--zip", required=True)
parser.add_argument("--image-dir", required=True)
parser.add_argument("--undo-log", default=None)
parser.add_argument("--job-timeout", type=float, default=40.0)
parser.add_argument("--timeout", type=float, default=300.0)
ARGS = parser.parse_args(gl.script_args())
OUT = os.path.abspath(ARGS.out)
os.makedirs(OUT, exist_ok=True)
RESULT_PATH = os.path.join(OUT, "session_result.json")

gl.disable_splash()


def mod(name: str):
    return importlib.import_module(f"{PKG}.{name}")


def manager():
    return mod("blender.engine.manager").manager


JOBS: dict[str, str] = {}


def job(key: str):
    mgr = manager()
    return mgr.jobs.get(mgr.resolve(JOBS[key])) or mgr.jobs.get(JOBS[key])


def info(key: str) -> dict:
    j = job(key)
    if j is None:
        return {"missing": True}
    return {"id": j.id, "state": j.state, "request_id": j.request_id, "error": j.error,
            "objects": list(j.objects or []), "blend_file": j.blend_file, "session": getattr(j, "session", None)}


def start_job(run, key: str, window=None) -> None:
    mgr = manager()
    before = set(mgr.jobs)
    window = window or gl.main_window()
    with gl.override(gl.find_area("VIEW_3D", window), "WINDOW", window=window):
        ret = bpy.ops.tripo3d.generate(source=os.path.join(ARGS.image_dir, IMAGES[key] + ".png"))
    run.check("FINISHED" in ret, f"generate {key} returned {ret!r}")
    new = sorted(set(mgr.jobs) - before, key=lambda j: mgr.jobs[j].created_at)
    run.check(new, f"no new job for {key}")
    JOBS[key] = new[-1]


def wait_for(run, predicate, timeout: float, label: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            run.result.setdefault("timeouts", []).append(label)
            return False
        yield 0.1
    return True


def has_rid(key: str) -> bool:
    j = job(key)
    return bool(j is not None and j.request_id)


def imported(key: str) -> bool:
    j = job(key)
    return j is not None and j.state == "imported"


def tagged(key: str) -> list[str]:
    rid = job(key).request_id
    return sorted(o.name for o in bpy.data.objects if o.get("tripo3d_request_id") == rid)


def undo_pushes() -> list[str]:
    if not ARGS.undo_log or not os.path.exists(ARGS.undo_log):
        return []
    with open(ARGS.undo_log, encoding="utf-8", errors="replace") as fh:
        return [m.group(1) for line in fh
                for m in [re.search(r"ED_undo_push: name='(.*)'", line) or re.search(r"\| Push '(.*)'$", line)] if m]


#: The add-on's poll interval in this run (preferences), and how long before the
#: next status check is due online access is switched off.
POLL_INTERVAL = 1.0
SWITCH_AHEAD = 0.01


def status_requests(request_id: str) -> list[float]:
    """When the gateway simulator received each status check of this job (its control route)."""
    import json
    import urllib.request

    with urllib.request.urlopen(os.environ["PIXAZO_BASE_URL"].rstrip("/") + "/_sim/jobs", timeout=5) as resp:
        jobs = json.load(resp)
    jobs = jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
    return sorted(next((j["status_request_times"] for j in jobs if j["request_id"] == request_id), []))


def step_install(run):
    run.check(not bpy.app.background, "Blender runs in background mode")
    bpy.context.preferences.system.use_online_access = True
    ret = bpy.ops.extensions.package_install_files(filepath=ARGS.zip, repo="user_default", enable_on_install=True)
    yield 0.5
    run.check(PKG in {a.module for a in bpy.context.preferences.addons}, f"not enabled: {ret!r}")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.poll_interval = POLL_INTERVAL
    prefs.max_concurrent = 4
    run.result["filepath"] = bpy.data.filepath  # unsaved: ""
    run.result["blender_version"] = bpy.app.version_string


def step_toggle(run):
    start_job(run, "toggle")
    yield from wait_for(run, lambda: has_rid("toggle"), 15, "toggle: request id")
    r = run.result["toggle"] = {"before": info("toggle")}
    with gl.override(None):
        r["disable_ret"] = sorted(bpy.ops.preferences.addon_disable(module=PKG))
    yield 1.0
    with gl.override(None):
        r["enable_ret"] = sorted(bpy.ops.preferences.addon_enable(module=PKG))
    yield from wait_for(run, lambda: imported("toggle"), ARGS.job_timeout, "toggle: imported")
    yield 1.0  # more ticks: nothing imports it twice
    r["after"], r["tagged"] = info("toggle"), tagged("toggle")


def step_reload(run):
    start_job(run, "reload")
    yield from wait_for(run, lambda: has_rid("reload"), 15, "reload: request id")
    r = run.result["reload"] = {"before": info("reload")}
    with gl.override(None):
        r["reload_ret"] = sorted(bpy.ops.script.reload())
    yield from wait_for(run, lambda: imported("reload"), ARGS.job_timeout, "reload: imported")
    yield 1.0
    r["after"], r["tagged"] = info("reload"), tagged("reload")


def step_online(run):
    # Disabling the add-on dropped its preferences: the poll interval again, for this job.
    bpy.context.preferences.addons[PKG].preferences.poll_interval = POLL_INTERVAL
    start_job(run, "online")
    yield from wait_for(run, lambda: has_rid("online"), 15, "online: request id")
    yield from wait_for(run, lambda: job("online").state == "processing", 15, "online: processing")
    prefs = bpy.context.preferences.system
    r = run.result["online"] = {"before": info("online")}
    # Switched off just before the worker's next status check is due (from the
    # gateway's record of the last one): the moment a check that only the job
    # timer stops would still leave.
    rid = job("online").request_id
    yield from wait_for(run, lambda: len(status_requests(rid)) >= 2, 10, "online: two status checks")
    times = status_requests(rid)
    period = times[-1] - times[-2]  # the poll interval plus one answer's round trip and save
    due = times[-1] + period
    while time.time() < due - SWITCH_AHEAD:
        yield 0.002
    r["last_status_request_before_off"], r["period"] = times[-1], period
    r["off_at"] = time.time()
    prefs.use_online_access = False
    yield 3.0  # three poll intervals
    mgr = manager()
    r["paused"] = job("online").id in mgr.paused
    r["worker_alive"] = job("online").id in mgr.threads
    r["on_at"] = time.time()
    prefs.use_online_access = True
    yield from wait_for(run, lambda: imported("online"), ARGS.job_timeout, "online: imported")
    yield 0.5
    r["after"], r["tagged"] = info("online"), tagged("online")


def _pointer(window):
    return window.as_pointer() if window is not None else None


def in_a_timer(fn):
    """Generator: run ``fn`` from a timer of its own, as the add-on's job timer
    runs (the step runner's context is not always a timer's); returns its result."""
    out = []

    def once():
        try:
            out.append(("ok", fn()))
        except Exception as exc:  # noqa: BLE001 (recorded for the host)
            out.append(("error", repr(exc)))
        return None

    bpy.app.timers.register(once, first_interval=0.05)
    while not out:
        yield 0.05
    return out[0]


def step_windows(run):
    windows_mod = mod("blender.windows")
    first = gl.main_window()
    r = run.result["windows"] = {}
    r["timer_window_before"] = yield from in_a_timer(lambda: _pointer(bpy.context.window))
    with gl.override(None, window=first):
        bpy.ops.wm.window_new()
    yield 1.0
    wm = bpy.context.window_manager
    r["count"] = len(wm.windows)
    run.check(len(wm.windows) >= 2, "no second window")
    second = [w for w in wm.windows if w.as_pointer() != first.as_pointer()][-1]
    r["first"], r["second"] = first.as_pointer(), second.as_pointer()
    r["second_is_first_in_list"] = wm.windows[0].as_pointer() == second.as_pointer()
    start_job(run, "windows", window=second)
    yield from wait_for(run, lambda: has_rid("windows"), 15, "windows: request id")
    calls = []
    probe = make_probe_operator(calls)

    def while_worker_runs():
        # From a timer, with the job's worker running: the add-on's choice of window,
        # and a call needing a window, which waits.
        got = windows_mod.call_operator(bpy.ops.tripo3d_test.window_probe, "EXEC_DEFAULT", needs_window=True)
        return {"context_window": _pointer(bpy.context.window),
                "picked": _pointer(windows_mod.operator_window()), "returned": repr(got), "calls": list(calls),
                "add_on_threads": windows_mod.add_on_threads_alive()}

    r["while_worker_runs"] = yield from in_a_timer(while_worker_runs)
    pushes_before = len(undo_pushes())
    yield from wait_for(run, lambda: imported("windows"), ARGS.job_timeout, "windows: imported")
    yield from wait_for(run, lambda: calls, 10, "windows: the waiting call made")
    yield 0.5
    r["calls_after_worker_ended"] = list(calls)
    r["undo_pushes_since"] = undo_pushes()[pushes_before:]
    r["undo_log"] = bool(undo_pushes())
    r["job"], r["tagged"] = info("windows"), tagged("windows")
    bpy.utils.unregister_class(probe)


def make_probe_operator(calls: list):
    """A real operator that notes the window it ran in (the add-on's own report
    operator shows its message, which cannot be read back reliably)."""
    class TRIPO3D_TEST_OT_window_probe(bpy.types.Operator):
        bl_idname = "tripo3d_test.window_probe"
        bl_label = "Window probe"
        bl_options = {"INTERNAL"}

        def execute(self, context):
            calls.append({"window": context.window.as_pointer() if context.window else None,
                          "thread": threading.current_thread() is threading.main_thread()})
            return {"FINISHED"}

    bpy.utils.register_class(TRIPO3D_TEST_OT_window_probe)
    return TRIPO3D_TEST_OT_window_probe


def step_end(run):
    run.result["jobs"] = {k: info(k) for k in JOBS}
    run.result["undo_pushes"] = undo_pushes()


gl.run_steps([step_install, step_toggle, step_reload, step_online, step_windows, step_end], RESULT_PATH,
             timeout=ARGS.timeout)
