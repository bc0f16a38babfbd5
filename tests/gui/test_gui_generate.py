"""The sidebar in a real Blender 4.3 window: click "Generate 3D Model", get a model.

One Blender run (tests/gui/generate_gui.py in test mode, under Xvfb in the
trixie chroot) against the gateway simulator on this host, which plays a slow
server: a ~9.6 MB GLB (2048 px noise texture) served at 2.4 MB/s (~4 s), a
few seconds of queue + processing. The tests below check what that run did.

    pytest -m gui tests/gui/test_gui_generate.py -s

Needs root (chroot, mount namespaces). Environment:
  TRIPO_GUI_ROOT         use another chroot directory
  TRIPO_GUI_SKIP=1       skip
  TRIPO_GUI_KEEP_TMP=1   keep the run's Blender user folder (under ROOT/tmp)
  TRIPO_GUI_UPDATE_DOCS=1  copy the screenshots to docs/screenshots/
"""
from __future__ import annotations

import json
import os
import secrets
import time

import pytest

from tools.gui import gui_host as gh

from tools.gateway_sim import GatewaySimulator, SimConfig

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = gh.gui_test_marks(pytest)

IMAGE = "robot_gui.png"
IMAGE2 = "robot_quit.png"
#: A slow server: queue + processing, and the download rate for a ~4 s download.
SIM = dict(queue_seconds=1.0, processing_seconds=3.0, texture_size=2048, texture_noise=True,
           download_rate=2_400_000, latency=0.05)


@pytest.fixture(scope="module")
def gui_run(tmp_path_factory):
    """Build everything, run Blender once, and return what it left behind."""
    t_all = time.monotonic()
    chroot = gh.ensure_chroot()
    work = tmp_path_factory.mktemp("gui_generate")
    out = work / "results"
    zip_path = gh.build_zip(str(work / "dist"))
    image = gh.make_object_image(str(work / IMAGE), seed=3)
    image2 = gh.make_object_image(str(work / IMAGE2), seed=11)
    key = "sim-key-" + secrets.token_hex(16)      # unique: searched for afterwards
    with GatewaySimulator(SimConfig(api_key=key, **SIM)) as sim:
        run = gh.run_gui(
            gh.GENERATE_GUI,
            ["--mode", "test", "--out", str(out), "--zip", zip_path, "--base-url", sim.url,
             "--image", image, "--image2", image2, "--poll-interval", "2"],
            results=str(out), binds=[str(work)], keep_tmp=True, timeout=420,
            env={"TRIPO_GUI_API_KEY": key})
        sim_jobs = sim.jobs()
        sim_stats = sim.stats()
    data = {"work": str(work), "out": str(out), "key": key, "run": run, "chroot": chroot,
            "sim_jobs": sim_jobs, "sim_stats": sim_stats, "zip": zip_path}
    result_file = out / "generate_result.json"
    data["result_file"] = json.loads(result_file.read_text()) if result_file.is_file() else None
    marker = out / "exit_marker.json"
    data["exit_marker"] = json.loads(marker.read_text()) if marker.is_file() else None
    data["host_root"] = gh.ROOT
    log = f"rc {run['rc']}\nSTDOUT:\n{run['stdout'][-5000:]}\nSTDERR:\n{run['stderr'][-4000:]}"
    data["log"] = log
    print(f"\n[gui] generate run: {run['seconds']:.1f} s in Blender (rc {run['rc']}); "
          f"fixture total {time.monotonic() - t_all:.1f} s; kept {run['kept_tmp']}")
    if os.environ.get("TRIPO_GUI_UPDATE_DOCS") and data["result_file"] and data["result_file"]["ok"]:
        export_docs_screenshots(data["result_file"]["result"])
    try:
        yield data
    finally:
        if not os.environ.get("TRIPO_GUI_KEEP_TMP"):
            gh.remove_kept_tmp(run["kept_tmp"])


def host_path(data, chroot_path: str) -> str:
    """A path inside the chroot (the run's temp dir) as seen from the host."""
    if chroot_path.startswith(gh.REPO) or chroot_path.startswith(data["work"]):
        return chroot_path   # bound at the same path
    return gh.ROOT + chroot_path


def export_docs_screenshots(res: dict) -> None:
    """Crop the left area (Image Editor + sidebar) and the 3D Viewport."""
    left, top, _w, height = res["window_rect"]
    ix, iy, iw, ih = res["image_area"]
    vx, vy, vw, vh = res["view3d_area"]
    box = (left + ix, top + height - (iy + ih), left + vx + vw, top + height - iy)
    docs = os.path.join(gh.REPO, "docs", "screenshots")
    for name in ("panel-mid-job.png", "panel-imported.png"):
        info = gh.export_screenshot(res["screenshots"][name], os.path.join(docs, name), crop=box,
                                    max_width=1100)
        print(f"[gui] docs screenshot {info}")


def result(data) -> dict:
    r = data["result_file"]
    assert r is not None, f"no result file\n{data['log']}"
    assert r["ok"], f"failed in {r.get('failed_step')}: {r.get('error')}\n{r.get('traceback')}\n{data['log']}"
    return r["result"]


def test_run_passed_and_quit_cleanly(gui_run):
    r = gui_run["result_file"]
    res = result(gui_run)
    run = gui_run["run"]
    steps = ", ".join(f"{s['step']} {s['seconds']:.1f}s" for s in r["steps"])
    print(f"[gui] steps: {steps}")
    assert run["rc"] == 0, gui_run["log"]
    assert "Blender quit" in run["stdout"], gui_run["log"]
    assert not gh.tracebacks(run["stdout"] + run["stderr"]), gui_run["log"]
    assert res["background"] is False and res["blender_version"].startswith(gh.chroot_blender_version())
    assert not gh.chroot_mounts(), "mounts left behind"


def test_debians_blender_without_python3_requests_runs_on_the_wheels(gui_run):
    install = result(gui_run)["install"]
    print(f"[gui] system python3-requests: {install['system_requests']}; the add-on's requests: "
          f"{install['requests_file']}")
    assert install["system_requests"] is False
    wheels_dir = os.path.join(install["extensions_dir"], ".local") + "/"
    assert install["requests_file"].startswith(wheels_dir), install


def test_click_hit_the_real_button(gui_run):
    res = result(gui_run)
    btn, click = res["button"], res["click"]
    print(f"[gui] Generate button found by hover+Ctrl+C at sidebar rows {btn.get('top')}..{btn.get('bottom')} "
          f"from the top, column {btn.get('x')} ({btn.get('probes')} probes, {btn.get('seconds')} s); "
          f"click: {click['method']} at screen {click.get('screen_xy')}, press event at window "
          f"{[click['press_event'][k] for k in ('mouse_x', 'mouse_y')] if click.get('press_event') else None} "
          f"(expected {click.get('expected_window_xy')}), hit_button={click.get('hit_button')}")
    assert btn["found"], f"Generate button not found by the Ctrl+C scan: {btn}"
    assert click["method"] == "xdotool", click
    assert click["hit_button"] is True, click
    assert click["press_event"]["region"] == "UI"
    assert click["last_registered_operator"] == "TRIPO3D_OT_generate"
    assert click["job_origin"] == "ui"


def test_job_imported_into_collection_named_after_image(gui_run):
    res = result(gui_run)
    job, scene = res["job1"], res["scene"]
    assert job["state"] == "imported", job
    assert job["request_id"] and job["request_id"].startswith("tripo3d-v2-5-413_")
    assert scene["collection"] == os.path.splitext(IMAGE)[0]
    assert scene["collection_in_scene"]
    assert scene["tagged_objects"], scene
    assert set(scene["tagged_objects"]) <= set(scene["collection_objects"])
    assert scene["mesh_objects"], scene
    # The simulator saw exactly one paid submit for this image and served the GLB.
    sim_job = next(j for j in gui_run["sim_jobs"] if j["request_id"] == job["request_id"])
    assert sim_job["status"] == "COMPLETED" and sim_job["download_count"] >= 1
    assert job["download_total"] and job["download_total"] > 5_000_000, "not a multi-megabyte GLB"


def test_sidebar_showed_the_job(gui_run):
    res = result(gui_run)
    assert res["mid_job"]["panel_draws_downloading"] > 0
    assert "downloading" in res["panel_states_drawn"]
    assert "imported" in res["panel_states_drawn"]


def test_ui_stayed_responsive(gui_run):
    res = result(gui_run)
    p = res["job1_probe"]
    stall = p["p1"]["stall_ms"]
    print(f"[gui] 10 ms probe from the click to the import: longest stall {stall} ms "
          f"(submit/poll {p['submit_poll']['stall_ms']} ms, download {p['download']['stall_ms']} ms, "
          f"{p['p1']['ticks']} probe ticks); import tick {p['import_ticks_ms']} ms, longest gap from the "
          f"import on (tick + first draw of the model) {p['import_and_after']['max_gap_ms']} ms; "
          f"add-on's own main-thread time: Generate operator "
          f"{[o['ms'] for o in p['generate_operator']]} ms, longest tick without import "
          f"{p['max_tick_ms_no_import']} ms")
    assert p["p1"]["ticks"] > 300
    assert len(p["import_ticks_ms"]) == 1
    # A blocking download would stall ~4 s. Redrawing the rebuilt sidebar (job
    # list, details, subpanels) under this software OpenGL takes 100-300 ms on a
    # loaded 2-core machine, so this bound only catches real blocking; the
    # add-on's own main-thread time is held to its own bounds just below.
    assert stall < 1000, p
    assert p["max_tick_ms_no_import"] < 20, p
    assert p["generate_operator"] and max(o["ms"] for o in p["generate_operator"]) < 100, p


def test_screenshots_are_real(gui_run):
    res = result(gui_run)
    shots = res["screenshots"]
    assert set(shots) == {"panel-mid-job.png", "panel-imported.png"}
    for name, path in shots.items():
        assert os.path.isfile(path), path
        colours = gh.distinct_colours(path)
        print(f"[gui] {name}: {os.path.getsize(path)} bytes, {colours} colours -> {path}")
        assert colours > 100, f"{name} looks blank ({colours} colours)"


def test_key_is_in_no_file(gui_run):
    res = result(gui_run)
    key = gui_run["key"].encode()
    kept = gui_run["run"]["kept_tmp"]
    assert kept and os.path.isdir(kept), "the run's temp dir was not kept"
    user_dir = os.path.join(kept, "blender")
    blend = res["saved_blend"]
    quit_blend = os.path.join(kept, "tmp", "quit.blend")
    for b in (blend, quit_blend):
        assert os.path.isfile(b), b
        assert gh.blend_is_readable(b), f"{b} is not a .blend the byte search can read"
    hits, scanned = gh.files_containing([kept, gui_run["out"], blend], key)
    userpref = os.path.join(user_dir, "config", "userpref.blend")
    # Blender keeps add-on preferences (the key field) in userpref.blend:
    # that is where the add-on stores the key by design, and nowhere else.
    other = [h for h in hits if os.path.realpath(h) != os.path.realpath(userpref)]
    print(f"[gui] key search: {scanned} files under the run's temp dir (user folder, home, tmp incl. "
          f"quit.blend), the results and the saved .blend; found in: {hits or 'none'}")
    # The search works: the running job's request id is found in its journal file.
    rid_hits, _ = gh.files_containing([kept], res["quit_job"]["request_id"].encode())
    print(f"[gui] control: request id of the quit job found in {[os.path.basename(h) for h in rid_hits]}; "
          f"userpref.blend {'exists' if os.path.isfile(userpref) else 'absent'}"
          f"{', written at quit' if 'Writing userprefs' in gui_run['run']['stdout'] else ''}")
    assert any(h.endswith(res["quit_job"]["id"] + ".json") for h in rid_hits)
    assert scanned > 10
    assert not other, f"API key found in {other}"
    assert gui_run["key"] not in gui_run["run"]["stdout"] + gui_run["run"]["stderr"]


def test_quit_while_job_runs(gui_run):
    res = result(gui_run)
    q = res["quit_job"]
    marker = gui_run["exit_marker"]
    asked = res["quit_requested_at"]
    ended = gui_run["run"]["ended_at"]
    assert marker is not None, "Python never finished (no exit marker): Blender was killed or hung"
    python_done = marker["time"] - asked
    print(f"[gui] quit while downloading: Python finished {python_done:.2f} s after wm.quit_blender, "
          f"runner returned {ended - asked:.2f} s after; threads at exit {marker['threads']}")
    assert q["state"] == "downloading" and q["worker_alive"]
    assert python_done < 5.0
    assert ended - asked < 20.0
    assert not any(t.startswith("tripo3d-") for t in marker["threads"]), marker
    # The journal on disk after Blender exited still holds the paid job.
    path = host_path(gui_run, q["journal_path"])
    with open(path, encoding="utf-8") as fh:
        on_disk = json.load(fh)
    assert on_disk["request_id"] == q["request_id"]
    assert on_disk["state"] in ("downloading", "completed", "interrupted"), on_disk["state"]
    assert q["request_id"] in {j["request_id"] for j in gui_run["sim_jobs"]}


def test_blender_command_help(gui_run):
    res = result(gui_run)
    cli = res["cli_help"]
    print(f"[gui] blender --command tripo3d --help: rc {cli['rc']} in {cli['seconds']} s: {cli['usage_line']}")
    assert cli["rc"] == 0
    assert cli["usage_line"].startswith("usage: blender --command tripo3d")
