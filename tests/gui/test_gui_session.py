"""This session's jobs in a real Blender 4.3 window, in an unsaved file
(tests/gui/session_gui.py under Xvfb in the trixie chroot, against the gateway
simulator on this host): disabling and enabling the add-on, or Reload Scripts,
mid-job still imports the model once from one submit; online access switched off
mid-job sends nothing until it is on again; an operator called from a timer runs
in the window the artist started the job from (a timer's context holds the first),
under an override only once the job's worker ended, and the import's undo step is
pushed from the timer.

    .venv/bin/python -m pytest -p no:cacheprovider -m gui tests/gui/test_gui_session.py -s

Needs root (chroot, mount namespaces).
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
SESSION_GUI = os.path.join(HERE, "session_gui.py")
IMAGES = {"toggle": "ss_toggle", "reload": "ss_reload", "online": "ss_online", "windows": "ss_windows"}
SIM = dict(queue_seconds=0.5, processing_seconds=6.0, latency=0.02)
#: A status request already on its way when online access went off arrives this much later at most.
IN_FLIGHT = 0.05

pytestmark = gh.gui_test_marks(pytest)


@pytest.fixture(scope="module")
def session_run(tmp_path_factory):
    t0 = time.monotonic()
    gh.ensure_chroot()
    work = tmp_path_factory.mktemp("gui_session")
    out = work / "results"
    images = work / "images"
    images.mkdir()
    zip_path = gh.build_zip(str(work / "dist"))
    for i, stem in enumerate(IMAGES.values()):
        gh.make_object_image(str(images / f"{stem}.png"), seed=301 + 7 * i, size=256)
    key = "sim-key-" + secrets.token_hex(16)
    undo_log = out / "undo.log"
    out.mkdir()
    with GatewaySimulator(SimConfig(api_key=key, **SIM)) as sim:
        run = gh.run_gui(SESSION_GUI, ["--out", str(out), "--zip", zip_path, "--image-dir", str(images),
                                       "--undo-log", str(undo_log)],
                         results=str(out), binds=[str(work)], timeout=300,
                         env={"PIXAZO_API_KEY": key, "PIXAZO_BASE_URL": sim.url},
                         blender_args=gh.undo_log_args(str(undo_log)))
        sim_jobs = sim.jobs()
        stats = sim.stats()
    path = out / "session_result.json"
    data = {"run": run, "result": json.loads(path.read_text()) if path.is_file() else None,
            "sim_jobs": sim_jobs, "stats": stats}
    data["log"] = f"rc {run['rc']}\nSTDOUT:\n{run['stdout'][-6000:]}\nSTDERR:\n{run['stderr'][-3000:]}"
    print(f"\n[gui] session run: {run['seconds']:.1f} s in Blender (rc {run['rc']}); fixture "
          f"{time.monotonic() - t0:.1f} s")
    return data


def result(data, step: str = "") -> dict:
    """The run's findings; with ``step``, none of that step's waits timed out
    (a wait of another step that timed out fails that step's test only)."""
    r = data["result"]
    assert r is not None, f"no result file (Blender died?)\n{data['log']}"
    assert r["ok"], f"failed in {r.get('failed_step')}: {r.get('error')}\n{r.get('traceback')}\n{data['log']}"
    mine = [t for t in r["result"].get("timeouts", []) if not step or t.startswith(step + ":")]
    assert not mine, (mine, data["log"])
    return r["result"]


def submits_for(data, request_id: str) -> int:
    return sum(1 for j in data["sim_jobs"] if j["request_id"] == request_id)


def assert_imported_once_from_one_submit(data, found: dict) -> None:
    after = found["after"]
    assert after["state"] == "imported", after
    assert found["tagged"] and len(found["tagged"]) == len(after["objects"]), found  # once
    assert after["request_id"] == found["before"]["request_id"]  # the job that was running, not a new one
    assert submits_for(data, after["request_id"]) == 1


def test_the_run_passed_without_traceback(session_run):
    result(session_run)
    assert session_run["run"]["rc"] == 0, session_run["log"]
    assert not gh.tracebacks(session_run["run"]["stdout"] + session_run["run"]["stderr"]), session_run["log"]
    assert not gh.chroot_mounts(), "mounts left behind"


def test_disable_and_enable_mid_job_in_an_unsaved_file_imports_once(session_run):
    res = result(session_run, "toggle")
    assert res["filepath"] == ""
    t = res["toggle"]
    print(f"[gui] toggle: {t['before']['state']} -> {t['after']['state']}, {len(t['tagged'])} object(s)")
    assert t["disable_ret"] == ["FINISHED"] and t["enable_ret"] == ["FINISHED"]
    assert t["before"]["state"] in ("queued", "processing") and t["before"]["session"], t["before"]
    assert_imported_once_from_one_submit(session_run, t)


def test_reload_scripts_mid_job_in_an_unsaved_file_imports_once(session_run):
    r = result(session_run, "reload")["reload"]
    print(f"[gui] reload: {r['before']['state']} -> {r['after']['state']}, {len(r['tagged'])} object(s)")
    assert r["reload_ret"] == ["FINISHED"]
    assert_imported_once_from_one_submit(session_run, r)


def test_online_access_off_mid_job_sends_nothing_until_it_is_on_again(session_run):
    o = result(session_run, "online")["online"]
    rid = o["before"]["request_id"]
    (sim_job,) = [j for j in session_run["sim_jobs"] if j["request_id"] == rid]
    times = sim_job["status_request_times"]
    during = [t - o["off_at"] for t in times if o["off_at"] + IN_FLIGHT < t < o["on_at"]]
    after_on = [t for t in times if t >= o["on_at"]]
    last = o["last_status_request_before_off"]
    print(f"[gui] online: switched off {o['off_at'] - last:.3f} s after the last status check "
          f"(they came every {o['period']:.3f} s)")
    print(f"[gui] online: {len(times)} status request(s) in all, {len(during)} while off "
          f"({o['on_at'] - o['off_at']:.1f} s), {len(after_on)} after; paused {o['paused']}")
    assert not during, f"status requests {during} s after online access went off"
    assert o["paused"] and not o["worker_alive"], o
    assert after_on, "the job was not asked about again once online access was on"
    assert o["after"]["state"] == "imported" and len(o["tagged"]) == len(o["after"]["objects"]) >= 1, o
    assert submits_for(session_run, rid) == 1


def test_operators_from_the_timer_run_in_the_artists_window_once_no_worker_runs(session_run):
    w = result(session_run, "windows")["windows"]
    ww = w["while_worker_runs"]
    print(f"[gui] windows: {w['count']} open; timer's own window before: {w['timer_window_before']}; while the "
          f"worker ran {ww}; after it ended {w['calls_after_worker_ended']}; undo pushes {w['undo_pushes_since']}")
    assert w["timer_window_before"] == ["ok", w["first"]]  # a timer's context holds the first window
    assert w["count"] >= 2 and not w["second_is_first_in_list"]
    status, seen = ww
    assert status == "ok", ww
    assert seen["context_window"] == w["first"] and seen["picked"] == w["second"] != w["first"], seen
    assert seen["add_on_threads"] and seen["returned"] == "None" and seen["calls"] == [], seen  # it waits
    # Made by the add-on's job timer once the worker ended: once, in the second window, on the main thread.
    assert w["calls_after_worker_ended"] == [{"window": w["second"], "thread": True}], w["calls_after_worker_ended"]
    # The import's own undo step, pushed from the timer without a window override.
    assert w["undo_log"], "no undo log from Blender (--log ed.undo)"
    assert w["undo_pushes_since"].count("Import Tripo3D model") == 1, w["undo_pushes_since"]
    assert w["job"]["state"] == "imported" and w["tagged"], w["job"]
