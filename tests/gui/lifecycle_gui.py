"""Add-on lifecycle, undo and modes in a real Blender window: runs INSIDE Blender.

    tools/gui/run_blender_gui.sh --env BLENDER_USER_RESOURCES ... tests/gui/lifecycle_gui.py -- \
        --phase start --out OUT --zip ZIP --image-dir DIR --undo-log LOG
    ... tests/gui/lifecycle_gui.py -- --phase restart --out OUT --expect OUT/lifecycle_start.json

The gateway (the simulator on the host) comes in through PIXAZO_API_KEY and
PIXAZO_BASE_URL (the runner passes PIXAZO_* through); the add-on's
preferences leave both empty, so the environment's are used. Both phases run
with the same Blender user folder (BLENDER_USER_RESOURCES passed by the host),
so the second one sees the first one's journal.

phase "start" (one Blender), as an artist would, with slow jobs:
  install the zip; save other.blend and main.blend;
  undo:    a job imports; one Ctrl+Z (ed.undo) takes out the model and nothing else
           (the undo pushes between a baseline step and the undo are read from
           Blender's own log, ``--log ed.undo``); ed.redo brings it back;
  modes:   two jobs finish while the Cube is in Edit mode, then Sculpt mode: the
           mode stays, nothing is imported, the job list is read; back in Object
           mode both are imported;
  (a)      two jobs running; add-on disabled and enabled again;
  (b)      a job running; Reload Scripts (script.reload);
  (c)      a job running; other.blend opened (the job finishes there), then main.blend;
  (d)      a job running; main.blend saved; Blender quits.
phase "restart": enable the add-on again with the same user folder, open
  main.blend; the quit job resumes and is imported once, every other model is
  there once.

Facts are recorded in OUT/lifecycle_<phase>.json (gl.StepRunner); the host
test asserts on them. Waits that time out are recorded (``timeouts``) and the
run goes on, so one failing event does not hide the others.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import json
import os
import re
import sys
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
BASELINE_NAME = "lifecycle test: before the import"

#: Image stems, one job (one paid submit) each.
IMAGES = {
    "undo": "lc_undo", "edit": "lc_edit", "sculpt": "lc_sculpt", "disable1": "lc_disable1",
    "disable2": "lc_disable2", "reload": "lc_reload", "fileload": "lc_fileload", "quit": "lc_quit",
}

parser = argparse.ArgumentParser(prog="lifecycle_gui.py")
parser.add_argument("--phase", choices=("start", "restart"), required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--zip", default=None)
parser.add_argument("--image-dir", default=None)
parser.add_argument("--undo-log", default=None, help="the file Blender's --log-file writes to")
parser.add_argument("--expect", default=None, help="phase restart: the start phase's result file")
parser.add_argument("--job-timeout", type=float, default=40.0)
parser.add_argument("--timeout", type=float, default=300.0)
ARGS = parser.parse_args(gl.script_args())
OUT = os.path.abspath(ARGS.out)
os.makedirs(OUT, exist_ok=True)
RESULT_PATH = os.path.join(OUT, f"lifecycle_{ARGS.phase}.json")
PARTIAL_PATH = os.path.join(OUT, f"lifecycle_{ARGS.phase}.partial.json")
MAIN_BLEND = os.path.join(OUT, "main.blend")
OTHER_BLEND = os.path.join(OUT, "other.blend")
for stale in (RESULT_PATH, PARTIAL_PATH):
    if os.path.exists(stale):
        os.remove(stale)

gl.disable_splash()
LOADED_AT = time.time()


# ----------------------------------------------------------------- helpers ---
def mod(name: str):
    return importlib.import_module(f"{PKG}.{name}")


def manager():
    return mod("blender.engine.manager").manager


def State():
    return mod("core.jobs").State


def timer_registered() -> bool:
    try:
        return bpy.app.timers.is_registered(mod("blender.ui.registration")._tick)
    except Exception:  # noqa: BLE001 (the add-on is disabled: its module may be gone)
        return False


TICKS = {"count": 0}


def tick_count() -> int:
    """How many times the add-on's timer has called manager.tick (a counter
    wrapped around the current manager's tick; installed again should the
    manager be a new object)."""
    mgr = manager()
    if not getattr(mgr, "_lifecycle_counted", False):
        cls_tick = type(mgr).tick

        def counted():
            TICKS["count"] += 1
            return cls_tick(mgr)

        mgr.tick = counted
        mgr._lifecycle_counted = True
    return TICKS["count"]


def workers() -> dict:
    """Worker threads alive (by the add-on's thread name) against the ones the manager tracks."""
    import threading

    alive = sorted(t.name[len("tripo3d-"):] for t in threading.enumerate()
                   if re.fullmatch(r"tripo3d-[0-9a-f]{8}", t.name) and t.is_alive())
    tracked = sorted(j[:8] for j in manager().threads)
    return {"alive": alive, "tracked": tracked}


def running_rows() -> dict:
    """What the job list says of each job whose worker thread is alive."""
    joblist = mod("blender.ui.job_list")
    alive = set(workers()["alive"])
    return {k: joblist.job_row_status(job(k)).text for k in JOBS
            if job(k) is not None and JOBS[k][:8] in alive}


def timer_alive(run, label: str, ticks: int = 3, timeout: float = 10.0):
    """Generator: the add-on's timer is registered and really ticks: ``ticks``
    calls of manager.tick within ``timeout`` seconds (time, not a count over a
    fixed time: Blender's main thread may be busy for a moment after the event)."""
    c0 = tick_count()
    w0 = workers()
    t0 = time.monotonic()
    while tick_count() - c0 < ticks and time.monotonic() - t0 < timeout:
        yield 0.05
    yield 0.3
    run.result.setdefault("timer", {})[label] = {
        "registered": timer_registered(), "ticks": tick_count() - c0,
        "seconds": round(time.monotonic() - t0, 2),
        "workers_at_start": w0, "workers_at_end": workers(), "rows_of_running_jobs": running_rows()}


def soft_wait(run, predicate, timeout: float, label: str, interval: float = 0.1):
    """Generator: like gl.wait_until, but a timeout is recorded, not raised.
    Returns True if the condition was met."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except Exception as exc:  # noqa: BLE001
            run.result.setdefault("errors", []).append(f"{label}: {type(exc).__name__}: {exc}")
            return False
        if time.monotonic() > deadline:
            run.result.setdefault("timeouts", []).append(label)
            gl.log(f"TIMEOUT waiting for {label}")
            return False
        yield interval


def view3d():
    return gl.find_area("VIEW_3D")


def image_path(key: str) -> str:
    return os.path.join(ARGS.image_dir, IMAGES[key] + ".png")


JOBS: dict[str, str] = {}   # key -> job id


def start_job(run, key: str) -> str:
    mgr = manager()
    before = set(mgr.jobs)
    # From the viewport's main region, as a script would (the sidebar's own
    # button uses the panel's image instead of a source).
    with gl.override(view3d(), "WINDOW"):
        ret = bpy.ops.tripo3d.generate(source=image_path(key))
    run.check("FINISHED" in ret, f"generate {key} returned {ret!r}")
    new = sorted(set(mgr.jobs) - before, key=lambda j: mgr.jobs[j].created_at)
    run.check(new, f"no new job for {key}")
    JOBS[key] = new[-1]
    gl.log(f"job {key}: {new[-1]}")
    return new[-1]


def job(key: str):
    return manager().jobs.get(JOBS[key])


def job_info(key: str) -> dict:
    j = job(key)
    if j is None:
        return {"id": JOBS.get(key), "missing": True}
    return {"id": j.id, "state": j.state, "request_id": j.request_id, "objects": list(j.objects or []),
            "error": j.error, "blend_file": j.blend_file, "running": j.id in manager().threads}


def has_request_id(key: str) -> bool:
    j = job(key)
    return bool(j is not None and j.request_id)


def imported(key: str) -> bool:
    j = job(key)
    return j is not None and j.state == State().IMPORTED


def ended(key: str) -> bool:
    j = job(key)
    return j is not None and (j.state == State().IMPORTED or (j.finished and j.id not in manager().threads))


def census(expect: dict[str, str]) -> dict:
    """For each image stem -> request id: the collections named after it
    (with Blender's .001 suffixes) and the objects carrying its request id."""
    scene = bpy.context.scene
    in_scene = {c.name for c in scene.collection.children_recursive}
    out = {}
    for stem, rid in expect.items():
        pat = re.compile(re.escape(stem) + r"(\.\d{3})?")
        colls = sorted(c.name for c in bpy.data.collections if pat.fullmatch(c.name))
        out[stem] = {
            "request_id": rid,
            "collections": colls,
            "collections_in_scene": sorted(c for c in colls if c in in_scene),
            "tagged_in_scene": sorted(o.name for o in scene.objects if o.get("tripo3d_request_id") == rid),
            "tagged_in_file": sorted(o.name for o in bpy.data.objects if o.get("tripo3d_request_id") == rid),
        }
    return out


def expected_rids(keys) -> dict[str, str]:
    return {IMAGES[k]: job(k).request_id for k in keys
            if k in JOBS and job(k) is not None and job(k).request_id}


def journal_records() -> list[dict]:
    d = os.path.join(mod("blender.user_data").user_dir(), "jobs")
    out = []
    for p in sorted(glob.glob(os.path.join(d, "*.json"))):
        try:
            with open(p, encoding="utf-8") as fh:
                rec = json.load(fh)
            out.append({"file": os.path.basename(p), "id": rec.get("id"), "request_id": rec.get("request_id"),
                        "state": rec.get("state"), "source": os.path.basename(rec.get("source") or "")})
        except (OSError, ValueError) as exc:
            out.append({"file": os.path.basename(p), "error": repr(exc)})
    return out


def snapshot() -> dict:
    d = bpy.data
    return {"objects": sorted(o.name for o in d.objects), "collections": sorted(c.name for c in d.collections),
            "meshes": sorted(m.name for m in d.meshes), "materials": sorted(m.name for m in d.materials),
            "images": sorted(i.name for i in d.images),
            "scene_objects": sorted(o.name for o in bpy.context.scene.objects),
            "cube_location": list(d.objects["Cube"].location) if "Cube" in d.objects else None}


def undo_log_pushes() -> list[str]:
    """Blender's own record of undo pushes and undo/redo steps (--log ed.undo)."""
    if not ARGS.undo_log or not os.path.exists(ARGS.undo_log):
        return []
    out = []
    with open(ARGS.undo_log, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = re.search(r"ED_undo_push: name='(.*)'", line)
            if m:
                out.append("push:" + m.group(1))
            m = re.search(r"ed_undo_step_direction: direction=(\w+)", line)
            if m:
                out.append("step:" + m.group(1))
    return out


def write_partial(run) -> None:
    """The facts so far, in case Blender dies before the runner writes its file."""
    tmp = PARTIAL_PATH + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"result": run.result, "steps": run.step_log}, fh, indent=1, default=repr)
    os.replace(tmp, PARTIAL_PATH)


def checkpointed(fn):
    def step(run):
        out = fn(run)
        if hasattr(out, "__next__"):
            yield from out
        write_partial(run)

    step.__name__ = fn.__name__
    return step


def win():
    return gl.override(None)


def save_main(run):
    with win():
        ret = bpy.ops.wm.save_as_mainfile(filepath=MAIN_BLEND, compress=False)
    run.check("FINISHED" in ret, f"save main.blend returned {ret!r}")


def open_file(run, path: str):
    with win():
        ret = bpy.ops.wm.open_mainfile(filepath=path)
    run.check("FINISHED" in ret, f"open {path} returned {ret!r}")


# ------------------------------------------------------------- start steps ---
def step_install(run):
    run.result["script_loaded_at"] = LOADED_AT
    run.result["blender_version"] = bpy.app.version_string
    run.result["user_resources"] = os.environ.get("BLENDER_USER_RESOURCES")
    run.check(not bpy.app.background, "Blender runs in background mode")
    bpy.context.preferences.system.use_online_access = True
    ret = bpy.ops.extensions.package_install_files(filepath=ARGS.zip, repo="user_default",
                                                   enable_on_install=True)
    yield 0.5
    enabled = sorted(a.module for a in bpy.context.preferences.addons if a.module.startswith("bl_ext."))
    run.result["install"] = {"operator_return": sorted(ret), "enabled": enabled}
    run.check(PKG in enabled, f"{PKG} not enabled after installing the zip: {enabled!r}")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.poll_interval = 1.0
    prefs.max_concurrent = 4
    run.result["user_dir"] = mod("blender.user_data").user_dir()
    run.result["online_access"] = bpy.app.online_access
    run.check(bpy.app.online_access, "online access could not be turned on")
    run.check(os.environ.get("PIXAZO_API_KEY") and os.environ.get("PIXAZO_BASE_URL"), "no PIXAZO_* env")
    tick_count()
    # A saved file: jobs land in the file that started them (file-load event).
    with win():
        bpy.ops.wm.save_as_mainfile(filepath=OTHER_BLEND, compress=False, copy=True)
    save_main(run)
    yield 0.3


def step_undo(run):
    """An automatic import is one undo step named "Import Tripo3D model"."""
    start_job(run, "undo")
    with win():
        bpy.ops.ed.undo_push(message=BASELINE_NAME)
    before = snapshot()
    log_before = undo_log_pushes()
    yield from soft_wait(run, lambda: imported("undo"), ARGS.job_timeout, "undo: job imported")
    yield 0.3
    after = snapshot()
    rid = job("undo").request_id
    census_after = census({IMAGES["undo"]: rid})
    with win():
        undo_ret = bpy.ops.ed.undo()
    yield 0.3
    undone = snapshot()
    census_undone = census({IMAGES["undo"]: rid})
    log_after = undo_log_pushes()
    with win():
        redo_ret = bpy.ops.ed.redo()
    yield 0.3
    redone = snapshot()
    run.result["undo"] = {
        "job": job_info("undo"), "before": before, "after_import": after, "after_undo": undone,
        "after_redo": redone, "undo_ret": sorted(undo_ret), "redo_ret": sorted(redo_ret),
        "census_after_import": census_after, "census_after_undo": census_undone,
        "census_after_redo": census({IMAGES["undo"]: rid}),
        "log_since_baseline": log_after[len(log_before) - 1:] if log_before else log_after,
        "log_available": bool(log_after),
    }


def _enter_mode(mode: str):
    cube = bpy.data.objects["Cube"]
    vl = bpy.context.view_layer
    vl.objects.active = cube
    cube.select_set(True)
    with gl.override(view3d(), "WINDOW", active_object=cube, object=cube):
        return bpy.ops.object.mode_set(mode=mode)


def _waiting_view(keys) -> dict:
    mgr = manager()
    joblist = mod("blender.ui.job_list")
    out = {}
    for k in keys:
        j = job(k)
        st = joblist.job_row_status(j)
        out[k] = {"state": j.state, "in_waiting_for_object_mode": j.id in mgr.waiting_for_object_mode,
                  "row_text": st.text, "row_short": st.short, "row_icon": st.icon,
                  "messages": [t for _s, _lvl, t, topic in mgr.messages if topic == j.id]}
    return out


def step_modes(run):
    """Jobs finishing in Edit, then Sculpt mode wait for Object mode."""
    S = State()
    start_job(run, "edit")
    start_job(run, "sculpt")
    yield 0.2
    r = run.result["modes"] = {"edit_ret": sorted(_enter_mode("EDIT"))}
    yield 0.2
    r["mode_entered"] = bpy.context.mode
    keys = ("edit", "sculpt")
    mgr = manager()
    yield from soft_wait(run, lambda: all(JOBS[k] in mgr.waiting_for_object_mode for k in keys),
                         ARGS.job_timeout, "modes: both jobs waiting for Object mode")
    yield 1.0   # a few more ticks in Edit mode
    r["edit"] = {"mode": bpy.context.mode, "jobs": {k: job_info(k) for k in keys},
                 "census": census({IMAGES[k]: job(k).request_id for k in keys}), "view": _waiting_view(keys)}
    r["sculpt_ret"] = sorted(_enter_mode("SCULPT"))
    yield 1.5   # ticks in Sculpt mode
    r["sculpt"] = {"mode": bpy.context.mode, "jobs": {k: job_info(k) for k in keys},
                   "census": census({IMAGES[k]: job(k).request_id for k in keys}), "view": _waiting_view(keys)}
    r["object_ret"] = sorted(_enter_mode("OBJECT"))
    yield from soft_wait(run, lambda: all(imported(k) for k in keys), 10, "modes: imported in Object mode")
    yield 0.3
    r["object"] = {"mode": bpy.context.mode, "jobs": {k: job_info(k) for k in keys},
                   "census": census({IMAGES[k]: job(k).request_id for k in keys}),
                   "waiting_for_object_mode": sorted(mgr.waiting_for_object_mode), "states_ok": all(
                       job(k).state == S.IMPORTED for k in keys)}


def step_disable_enable(run):
    """(a) two jobs running; the add-on is disabled and enabled again."""
    keys = ("disable1", "disable2")
    for k in keys:
        start_job(run, k)
    yield from soft_wait(run, lambda: all(has_request_id(k) for k in keys), 15, "disable: request ids")
    r = run.result["disable_enable"] = {"before": {k: job_info(k) for k in keys}}
    with win():
        r["disable_ret"] = sorted(bpy.ops.preferences.addon_disable(module=PKG))
    r["enabled_after_disable"] = PKG in {a.module for a in bpy.context.preferences.addons}
    r["timer_after_disable"] = timer_registered()
    yield 1.5
    with win():
        r["enable_ret"] = sorted(bpy.ops.preferences.addon_enable(module=PKG))
    r["enabled_after_enable"] = PKG in {a.module for a in bpy.context.preferences.addons}
    r["just_after_enable"] = {k: job_info(k) for k in keys}
    yield from timer_alive(run, "after_enable")
    yield from soft_wait(run, lambda: all(ended(k) for k in keys), ARGS.job_timeout, "disable: jobs ended")
    yield 0.5
    r["after"] = {k: job_info(k) for k in keys}
    r["census"] = census(expected_rids(keys))
    yield from timer_alive(run, "after_disable_jobs")


def step_reload(run):
    """(b) a job running; Reload Scripts."""
    start_job(run, "reload")
    yield from soft_wait(run, lambda: has_request_id("reload"), 15, "reload: request id")
    r = run.result["reload"] = {"before": job_info("reload")}
    with win():
        r["reload_ret"] = sorted(bpy.ops.script.reload())
    r["enabled_after_reload"] = PKG in {a.module for a in bpy.context.preferences.addons}
    yield from timer_alive(run, "after_reload")
    yield from soft_wait(run, lambda: ended("reload"), ARGS.job_timeout, "reload: job ended")
    yield 0.5
    r["after"] = job_info("reload")
    r["census"] = census(expected_rids(["reload"]))


def step_file_load(run):
    """(c) a job running; other.blend opened (the job finishes there), then main.blend again."""
    save_main(run)      # what was imported so far is in main.blend
    start_job(run, "fileload")
    yield from soft_wait(run, lambda: has_request_id("fileload"), 15, "fileload: request id")
    r = run.result["file_load"] = {"before": job_info("fileload")}
    save_main(run)
    open_file(run, OTHER_BLEND)
    yield from timer_alive(run, "after_open_other")
    r["in_other"] = {"filepath": bpy.data.filepath}
    S = State()
    yield from soft_wait(run, lambda: job("fileload").state in (S.DOWNLOADED, S.IMPORTED, S.IMPORT_FAILED)
                         and JOBS["fileload"] not in manager().threads, ARGS.job_timeout,
                         "fileload: job downloaded while other.blend is open")
    yield 1.0
    rid = job("fileload").request_id
    r["in_other"].update(job=job_info("fileload"), census=census({IMAGES["fileload"]: rid}),
                         messages=[t for _s, _l, t, topic in manager().messages if topic == JOBS["fileload"]])
    r["opening_main_at"] = time.time()
    write_partial(run)      # opening main.blend imports the model from load_post
    open_file(run, MAIN_BLEND)
    r["main_opened"] = True
    yield from timer_alive(run, "after_open_main")
    yield from soft_wait(run, lambda: imported("fileload"), 15, "fileload: imported back in main.blend")
    yield 0.5
    r["back"] = {"filepath": bpy.data.filepath, "job": job_info("fileload"),
                 "census": census(expected_rids(list(IMAGES)))}


def step_quit(run):
    """(d) a job running; main.blend saved; then the runner quits Blender."""
    start_job(run, "quit")
    yield from soft_wait(run, lambda: has_request_id("quit"), 15, "quit: request id")
    yield 0.3
    save_main(run)
    r = run.result["quit"] = {"job": job_info("quit"), "asked_at": time.time()}
    r["census_saved"] = census(expected_rids(list(IMAGES)))
    run.result["jobs"] = {k: job_info(k) for k in IMAGES if k in JOBS}
    run.result["expect"] = expected_rids(list(IMAGES))
    run.result["journal"] = journal_records()
    run.result["main_blend"] = MAIN_BLEND
    run.result["quit_asked_at"] = time.time()
    gl.log("quitting with the quit job", r["job"]["state"])


# ----------------------------------------------------------- restart steps ---
def step_restart(run):
    """(d) continued: the same user folder, main.blend open, the add-on enabled."""
    with open(ARGS.expect, encoding="utf-8") as fh:
        start = json.load(fh)["result"]
    expect: dict[str, str] = start["expect"]
    quit_rid = start["quit"]["job"]["request_id"]
    quit_id = start["quit"]["job"]["id"]
    run.result["script_loaded_at"] = LOADED_AT
    run.result["user_resources"] = os.environ.get("BLENDER_USER_RESOURCES")
    bpy.context.preferences.system.use_online_access = True
    with win():
        run.result["enable_ret"] = sorted(bpy.ops.preferences.addon_enable(module=PKG))
    run.check(PKG in {a.module for a in bpy.context.preferences.addons}, f"{PKG} could not be enabled")
    bpy.context.preferences.addons[PKG].preferences.poll_interval = 1.0
    mgr = manager()
    j = mgr.jobs.get(quit_id)
    run.result["quit_job_at_enable"] = None if j is None else {
        "state": j.state, "request_id": j.request_id, "running": quit_id in mgr.threads}
    # main.blend was opened from the command line before the add-on was
    # enabled (as `blender main.blend` with the add-on turned on afterwards).
    run.result["filepath_at_enable"] = bpy.data.filepath
    yield from timer_alive(run, "after_enable")
    S = State()
    yield from soft_wait(run, lambda: mgr.jobs.get(quit_id) is not None and mgr.jobs[quit_id].state == S.IMPORTED,
                         ARGS.job_timeout, "restart: quit job imported")
    yield 1.0
    j = mgr.jobs.get(quit_id)
    run.result["quit_job"] = None if j is None else {"state": j.state, "request_id": j.request_id,
                                                     "error": j.error, "objects": list(j.objects or [])}
    run.result["filepath"] = bpy.data.filepath
    run.result["census"] = census(expect)
    run.result["expect"] = expect
    run.result["quit_rid"] = quit_rid
    run.result["journal"] = journal_records()
    run.result["all_jobs"] = {jid: {"state": x.state, "request_id": x.request_id} for jid, x in mgr.jobs.items()}
    # The earlier jobs, by key, for the file-load event that follows in this run.
    for key, stem in IMAGES.items():
        if stem in expect:
            jid = next((i for i, x in mgr.jobs.items() if x.request_id == expect[stem]), None)
            if jid:
                JOBS[key] = jid


# The file-load event comes last (in the second run): when the model of a job
# that finished elsewhere is imported as its file opens, Blender 4.3 may crash
# (see test_gui_lifecycle), and nothing after it would run.
if ARGS.phase == "start":
    STEPS = [step_install, step_undo, step_modes, step_disable_enable, step_reload, step_quit]
else:
    STEPS = [step_restart, step_file_load]
STEPS = [checkpointed(s) for s in STEPS]

gl.run_steps(STEPS, RESULT_PATH, timeout=ARGS.timeout)
