"""The rebuilt panel in a real Blender window: runs INSIDE Blender under Xvfb.

    tools/gui/run_blender_gui.sh --results OUT --bind DIR tests/gui/panel_gui.py -- \
        --out OUT --zip ZIP --base-url URL --image A.png --image B.png ... (5 images)

The key comes in through TRIPO_GUI_API_KEY. The simulator is steered through
its control routes (/_sim/config, /_sim/stats). Steps: Generate greyed out
with its reason; a failed job reaching the Info log; a job list with every
state (done, failed, rejected, stopped, paused); online access off pausing
with zero requests, then resuming; Retry; the model beside the default cube
and framed; the job list showing the model as Blender rendered it; Clear
Finished; the sidebar at 195 px; the preferences with Test Connection's and
Test Storage's answers under their buttons (a real S3 server: its address and
admin key in --s3-endpoint / --s3-bucket / --s3-key, the secret in
TRIPO_GUI_S3_SECRET). Writes OUT/panel_result.json and screenshots.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import urllib.request

import bpy

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.environ.get("TRIPO_GUI_REPO")
                                or os.path.dirname(os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__)))), "tools", "gui"))
import blender_gui_lib as gl  # noqa: E402

PKG = "bl_ext.user_default.tripo3d"
CATEGORY = "Tripo3D"
KEY_ENV = "TRIPO_GUI_API_KEY"

parser = argparse.ArgumentParser(prog="panel_gui.py")
parser.add_argument("--out", default=None)
parser.add_argument("--zip", required=True)
parser.add_argument("--base-url", required=True)
parser.add_argument("--image", action="append", required=True)
parser.add_argument("--s3-endpoint", required=True)
parser.add_argument("--s3-bucket", required=True)
parser.add_argument("--s3-key", required=True)
ARGS = parser.parse_args(gl.script_args())
OUT = os.path.abspath(ARGS.out or gl.results_dir())
os.makedirs(OUT, exist_ok=True)
gl.disable_splash()


def mod(name: str):
    return importlib.import_module(f"{PKG}.blender.{name}")


def manager():
    return mod("engine.manager").manager


def sim(method: str, route: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(ARGS.base_url.rstrip("/") + route, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def counts() -> dict:
    s = sim("GET", "/_sim/stats")
    return {k: s[k] for k in ("submits", "submit_attempts", "status_requests", "downloads")}


def editor():
    return gl.find_area("IMAGE_EDITOR")


def row_text(job) -> dict:
    st = mod("ui.job_list").job_row_status(job)
    return {"state": job.state, "icon": st.icon, "text": st.text, "factor": st.factor}


def shot(run, name: str):
    for area in gl.main_window().screen.areas:
        area.tag_redraw()
    yield 0.4
    path = gl.screenshot(os.path.join(OUT, name))
    run.result.setdefault("screenshots", {})[name] = path


def generate_here(image_name: str):
    """Generate from the sidebar's context (what its button does) for ``image_name``."""
    area = editor()
    area.spaces.active.image = bpy.data.images[image_name]
    with gl.override(area, "UI"):
        return bpy.ops.tripo3d.generate()


def wait_state(job_id: str, states, timeout: float = 60):
    yield from gl.wait_until(lambda: manager().jobs[job_id].state in states and job_id not in manager().threads,
                             timeout, message=f"job in {states}")


def new_job(before: set):
    (job,) = [j for j in manager().jobs.values() if j.id not in before]
    return job


# ------------------------------------------------------------------- steps ---
def step_install(run):
    run.result["blender_version"] = bpy.app.version_string
    ret = bpy.ops.extensions.package_install_files(filepath=ARGS.zip, repo="user_default", enable_on_install=True)
    yield 0.5
    run.check("FINISHED" in ret and PKG in bpy.context.preferences.addons, f"install: {ret}")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.base_url = ARGS.base_url
    prefs.poll_interval = 1.0
    bpy.context.preferences.system.use_online_access = False


def step_layout(run):
    for path in ARGS.image:
        bpy.data.images.load(path)
    big = gl.largest_area()
    with gl.override(big):
        bpy.ops.screen.area_split(direction="VERTICAL", factor=0.5)
    yield 0.3
    left, right = sorted((a for a in gl.main_window().screen.areas if a.type == "VIEW_3D"), key=lambda a: a.x)
    right.spaces.active.shading.type = "SOLID"
    right.spaces.active.shading.color_type = "TEXTURE"
    area = gl.open_image_editor(bpy.data.images[os.path.basename(ARGS.image[0])], left)
    gl.show_sidebar(area)
    yield 0.5
    run.check(gl.set_sidebar_tab(area, CATEGORY), "Tripo3D tab")
    yield 0.3
    ui = gl.sidebar_region(area)
    run.result["sidebar_width"] = ui.width
    run.result["window_rect"] = list(gl.window_rect_on_screen())
    run.result["image_area"] = [area.x, area.y, area.width, area.height]
    run.result["view3d_area"] = [right.x, right.y, right.width, right.height]
    run.result["ui_region"] = [ui.x, ui.y, ui.width, ui.height]


def step_greyed_out(run):
    area = editor()
    out = {}
    for name, online, key in (("offline", False, ""), ("no_key", True, ""), ("ready", True, "set")):
        bpy.context.preferences.system.use_online_access = online
        bpy.context.preferences.addons[PKG].preferences.api_key = os.environ[KEY_ENV] if key else ""
        yield 0.3
        with gl.override(area, "UI") as ctx:
            ok = bpy.ops.tripo3d.generate.poll()
            reason = mod("ui.operators").generate_blocker(ctx)
        error = None
        if not ok:
            try:
                with gl.override(area, "UI"):
                    bpy.ops.tripo3d.generate()
            except RuntimeError as exc:
                error = str(exc)
        out[name] = {"poll": ok, "reason": reason, "error": error}
        if name == "offline":
            yield from shot(run, "panel-greyed-out.png")
    run.result["greyed_out"] = out


def step_failed_in_info_log(run):
    sim("POST", "/_sim/config", {"outcome": "FAILED", "queue_seconds": 0.2, "processing_seconds": 0.5})
    before = set(manager().jobs)
    generate_here(os.path.basename(ARGS.image[0]))
    job = new_job(before)
    yield from wait_state(job.id, {"failed"})
    # Control: an operator's own report, when Python calls it, goes to the
    # console only (why background jobs' results never reached the Info log).
    bpy.ops.tripo3d.copy_request_id(job_id=job.id)
    yield 0.5  # the reporter reports at its first timer event
    bottom = min(gl.main_window().screen.areas, key=lambda a: a.y)  # the Timeline
    kept = bottom.type
    gl.set_area_type(bottom, "INFO")
    yield 0.3
    wm = bpy.context.window_manager
    wm.clipboard = ""
    with gl.override(bottom):
        bpy.ops.info.select_all(action="SELECT")
        bpy.ops.info.report_copy()
    info = wm.clipboard
    gl.set_area_type(bottom, kept)
    run.result["failed"] = {"job": job.id, "row": row_text(manager().jobs[job.id]), "info_log": info[-2000:],
                            "error": manager().jobs[job.id].error}
    run.check(manager().jobs[job.id].error and manager().jobs[job.id].label in info,
              f"the failure is not in the Info log: {info[-500:]!r}")


def step_states(run):
    imgs = [os.path.basename(p) for p in ARGS.image]
    jm = manager()
    ids = {"failed": run.result["failed"]["job"]}
    sim("POST", "/_sim/config", {"outcome": "COMPLETED", "processing_seconds": 1.0})
    before = set(jm.jobs)
    generate_here(imgs[1])
    ids["done"] = new_job(before).id
    yield from wait_state(ids["done"], {"imported"})
    sim("POST", "/_sim/config", {"refuse_inline": True})
    before = set(jm.jobs)
    generate_here(imgs[2])
    ids["rejected"] = new_job(before).id
    yield from wait_state(ids["rejected"], {"rejected"})
    sim("POST", "/_sim/config", {"refuse_inline": False, "processing_seconds": 300})
    before = set(jm.jobs)
    generate_here(imgs[3])
    ids["stopped"] = new_job(before).id
    yield from gl.wait_until(lambda: jm.jobs[ids["stopped"]].request_id, 20, message="submitted")
    bpy.ops.tripo3d.stop_job(job_id=ids["stopped"])
    yield from wait_state(ids["stopped"], {"stopped"})
    before = set(jm.jobs)
    generate_here(imgs[4])
    ids["running"] = new_job(before).id
    yield from gl.wait_until(lambda: jm.jobs[ids["running"]].state == "processing", 20, message="processing")
    yield 2.2
    run.result["running_row"] = row_text(jm.jobs[ids["running"]])
    # Online access off: the running job pauses, and nothing is sent.
    bpy.context.preferences.system.use_online_access = False
    yield from gl.wait_until(lambda: ids["running"] not in jm.threads, 10, message="paused")
    c0 = counts()
    yield 3.5  # more than three poll intervals
    c1 = counts()
    run.result["pause"] = {"before": c0, "after": c1, "paused": list(jm.paused)}
    rows = {name: row_text(jm.jobs[job_id]) for name, job_id in ids.items()}
    run.result["rows"] = rows
    run.result["ids"] = ids
    wm = bpy.context.window_manager
    wm.tripo3d_job_index = [i.job_id for i in wm.tripo3d_jobs].index(ids["failed"])
    yield from shot(run, "job-list-states.png")
    bpy.context.preferences.system.use_online_access = True
    yield from gl.wait_until(lambda: ids["running"] in jm.threads, 5, message="resumed")
    run.result["resumed_row"] = row_text(jm.jobs[ids["running"]])


def _copy_under_pointer(ui, x: float, y_from_top: float, rec):
    """Generator: hover (x, y) in the sidebar and press Ctrl+C; returns the
    clipboard (over an operator button Blender copies its Python command).
    One xdotool process, not waited for: Blender sees the hover, then the key."""
    import subprocess

    wm = bpy.context.window_manager
    wm.clipboard = ""
    presses = sum(1 for e in rec.events if e["type"] == "C" and e["value"] == "PRESS")
    sx, sy = gl.region_point_from_top(ui, x, y_from_top)
    proc = subprocess.Popen(["xdotool", "mousemove", "--sync", str(sx), str(sy), "sleep", "0.03",
                             "mousemove", str(sx + 1), str(sy), "sleep", "0.03", "key", "ctrl+c"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield from gl.wait_until(lambda: proc.poll() is not None and sum(
        1 for e in rec.events if e["type"] == "C" and e["value"] == "PRESS") > presses, 5, message="ctrl+c")
    yield 0.02
    return wm.clipboard


def find_button(run, command: str):
    """Generator: (x, y from the top) of the sidebar button whose Python
    command starts with ``command``, by hover + Ctrl+C down the sidebar."""
    ui = gl.sidebar_region(editor())
    rec = gl.EventRecorder.start()
    yield 0.2
    x = round(ui.width * 0.45)
    found = None
    for y in range(8, ui.height - 8, 9):  # rows are 20 px: a 9 px step lands on every button
        text = yield from _copy_under_pointer(ui, x, y, rec)
        if text.strip().startswith(command):
            found = (x, y + 4)  # a little below its top edge
            break
    rec.stop()
    return found


def step_retry(run):
    """Click "Retry (charges again)" in the failed job's details, for real."""
    jm = manager()
    ids = run.result["ids"]
    sim("POST", "/_sim/config", {"outcome": "COMPLETED", "processing_seconds": 0.5})
    wm = bpy.context.window_manager
    wm.tripo3d_job_index = [i.job_id for i in wm.tripo3d_jobs].index(ids["failed"])
    yield 0.4
    spot = yield from find_button(run, "bpy.ops.tripo3d.retry_job")
    run.check(spot is not None, "no Retry button in the failed job's details")
    submits = counts()["submits"]
    before = set(jm.jobs)
    ui = gl.sidebar_region(editor())
    gl.xdotool_click(*gl.region_point_from_top(ui, *spot))
    yield from gl.wait_until(lambda: set(jm.jobs) - before, 10, message="a new job from the click")
    job = new_job(before)
    yield from wait_state(job.id, {"imported"})
    gl.xdotool_move(*gl.region_to_screen(gl.find_region(editor(), "WINDOW"), 40, 40))
    run.result["retry"] = {"clicked_at": spot, "state": jm.jobs[job.id].state, "source": job.source,
                           "failed_source": jm.jobs[ids["failed"]].source,
                           "submits_added": counts()["submits"] - submits}


def _bounds(objects):
    from mathutils import Vector

    pts = [o.matrix_world @ Vector(c) for o in objects if o.type == "MESH" for c in o.bound_box]
    return [[min(p[i] for p in pts) for i in range(3)], [max(p[i] for p in pts) for i in range(3)]]


def step_viewport(run):
    jm = manager()
    job = jm.jobs[run.result["ids"]["done"]]
    model = [bpy.data.objects[n] for n in job.objects if n in bpy.data.objects]
    cube = bpy.data.objects.get("Cube")
    view = max((a for a in gl.main_window().screen.areas if a.type == "VIEW_3D"), key=lambda a: a.x)
    r3d = view.spaces.active.region_3d
    with gl.override(view):
        bpy.ops.tripo3d.select_job(job_id=job.id)
    yield 0.8  # smooth view
    mb = _bounds(model)
    centre = [(mb[0][i] + mb[1][i]) / 2 for i in range(3)]
    run.result["viewport"] = {
        "model_bounds": mb, "cube_bounds": _bounds([cube]) if cube else None,
        "top_name": job.objects and bpy.data.objects[job.objects[0]].name,
        "objects": job.objects, "image": job.label,
        "view_location": list(r3d.view_location), "model_centre": centre, "view_distance": r3d.view_distance,
    }
    yield from shot(run, "viewport-imported.png")


def step_result_preview(run):
    """The finished job's row shows the model as Blender's preview renderer drew
    it; the picture is kept beside the GLB, where a later session finds it."""
    done = run.result["ids"]["done"]
    pv = mod("ui.thumbnails")
    yield from gl.wait_until(lambda: pv.job_icon_sources.get(done) == "result", 60, message="model preview")
    job = manager().jobs[done]
    kept = importlib.import_module(f"{PKG}.core.preview_png").path_for(job.glb_path)
    shown = pv.job_icon(job)
    row_preview = pv._previews.get(f"result:{done}")
    row_icon_size = list(row_preview.icon_size) if row_preview is not None else None
    copy = os.path.join(OUT, "kept-model-preview.png")
    with open(kept, "rb") as src, open(copy, "wb") as dst:
        dst.write(src.read())
    pv._job_icons.pop(done)  # as a later session starts: nothing in memory, the file on disk
    pv.job_icon_sources.pop(done)
    later = pv.ensure_job_icon(job)
    run.result["result_preview"] = {"shown_icon": shown, "row_icon_size": row_icon_size, "kept": kept, "copy": copy, "later_icon": later,
                                    "later_source": pv.job_icon_sources.get(done),
                                    "detail_icon": pv.result_icon(job)}
    wm = bpy.context.window_manager
    wm.tripo3d_job_index = [i.job_id for i in wm.tripo3d_jobs].index(done)
    yield from shot(run, "job-list-preview.png")


def step_import_again(run):
    """The image of a finished job, with the same options: Generate offers
    Import Again and Generate New (charges again) instead."""
    done = run.result["ids"]["done"]
    area = editor()
    area.spaces.active.image = bpy.data.images[manager().jobs[done].label]
    wm = bpy.context.window_manager
    wm.tripo3d_job_index = [i.job_id for i in wm.tripo3d_jobs].index(done)
    yield 0.3
    with gl.override(area, "UI") as ctx:
        found = mod("ui.job_list").existing_result(ctx)
    run.result["import_again"] = {"offered": found.id if found else None, "done": done}
    yield from shot(run, "panel-import-again.png")


def step_clear_finished(run):
    jm = manager()
    ret = bpy.ops.tripo3d.clear_finished()
    yield 0.2
    wm = bpy.context.window_manager
    run.result["cleared"] = {"ret": sorted(ret), "left": [i.job_id for i in wm.tripo3d_jobs],
                             "running": run.result["ids"]["running"], "jobs": list(jm.jobs)}


def step_narrow(run):
    """Drag the sidebar's edge to 195 px, as an artist would. One xdotool
    process that Blender is not waited for on: it sees the hover over the
    edge, the press and each move in real time while this step yields."""
    import subprocess

    area = editor()
    want = 195
    tries = []
    for dx in (9, 12, 6, 15, 3, 18, 0):
        ui = gl.sidebar_region(area)
        if abs(ui.width - want) <= 4:
            break
        sx, sy = gl.region_to_screen(ui, dx, ui.height // 2)
        cmd = ["xdotool", "mousemove", sx + 12, sy, "sleep", "0.2", "mousemove", sx + 4, sy, "sleep", "0.1",
               "mousemove", sx, sy, "sleep", "0.3", "mousedown", "1", "sleep", "0.2"]
        for k in range(1, 9):
            cmd += ["mousemove", sx + (ui.width - want) * k // 8, sy, "sleep", "0.05"]
        cmd += ["sleep", "0.2", "mouseup", "1"]
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield from gl.wait_until(lambda proc=proc: proc.poll() is not None, 15, message="drag")
        yield 0.5
        tries.append([dx, gl.sidebar_region(area).width])
    ui = gl.sidebar_region(area)
    run.result["narrow_tries"] = tries
    run.result["narrow_width"] = ui.width
    run.result["narrow_region"] = [ui.x, ui.y, ui.width, ui.height]
    gl.xdotool_move(*gl.region_to_screen(gl.find_region(area, "WINDOW"), 40, 40))
    yield from shot(run, "panel-narrow.png")


def step_preferences(run):
    gl.xdotool_move(700, 480)  # Blender opens the window by the pointer: keep it on screen
    yield 0.2
    bpy.ops.preferences.addon_show(module=PKG)
    yield 1.0
    wins = bpy.context.window_manager.windows
    run.check(len(wins) > 1, "no preferences window")
    prefs_win = wins[-1]
    area = prefs_win.screen.areas[0]
    with bpy.context.temp_override(window=prefs_win, area=area):
        bpy.ops.tripo3d.test_connection()
    ops = mod("ui.button_results")
    yield from gl.wait_until(lambda: (ops.last_message("connection") or ("", "..."))[1].endswith("accepted."),
                             20, message="connection result")
    run.result["connection"] = ops.last_message("connection")
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.storage_bucket = f"s3://{ARGS.s3_bucket}/gui"
    prefs.storage_endpoint = ARGS.s3_endpoint
    prefs.storage_region = "us-east-1"
    prefs.storage_access_key_id = ARGS.s3_key
    answers = {}
    for case, secret in (("wrong secret", "not-the-secret"), ("right secret", os.environ["TRIPO_GUI_S3_SECRET"])):
        prefs.storage_secret_access_key = secret
        with bpy.context.temp_override(window=prefs_win, area=area):
            bpy.ops.tripo3d.test_storage()
        yield from gl.wait_until(lambda: "..." not in (ops.last_message("storage") or ("", "..."))[1],
                                 30, message=f"storage answer ({case})")
        answers[case] = ops.last_message("storage")
        if case == "wrong secret":
            yield from shot(run, "preferences-storage-refused.png")
    run.result["storage"] = answers
    prefs.storage_secret_access_key = ""
    left, top, w, h = gl.window_rect_on_screen(prefs_win)
    run.result["prefs_rect"] = [left, top, w, h]
    yield from shot(run, "preferences.png")
    with bpy.context.temp_override(window=prefs_win):
        bpy.ops.wm.window_close()
    yield 0.3


gl.run_steps([step_install, step_layout, step_greyed_out, step_failed_in_info_log, step_states, step_retry,
              step_viewport, step_result_preview, step_import_again, step_clear_finished, step_narrow, step_preferences],
             os.path.join(OUT, "panel_result.json"), timeout=300.0)
