"""Add-on lifecycle (issue 9, class 9) and undo / modes (class 10) in a real
Blender 4.3 window.

Two Blender runs (tests/gui/lifecycle_gui.py, under Xvfb in the trixie
chroot) against the gateway simulator on this host, with slow jobs (a few
seconds queued and processing) and ONE Blender user folder shared by both
runs (BLENDER_USER_RESOURCES under this test's temp dir), so the second run
sees the first one's journal:

  start:   an import and one Ctrl+Z; jobs finishing in Edit and Sculpt mode;
           disable + enable the add-on, Reload Scripts, open another .blend and
           back, each with jobs running; quit with a job running.
  restart: Blender again with the same user folder, main.blend opened.

    .venv/bin/python -m pytest -p no:cacheprovider tests/gui/test_gui_lifecycle.py -q -s

Needs root (chroot, mount namespaces). TRIPO_GUI_ROOT / TRIPO_GUI_SKIP as for
the other window tests.
"""
from __future__ import annotations

import glob
import json
import os
import secrets
import time

import pytest

from tools.gui import gui_host as gh

from tools.gateway_sim import GatewaySimulator, SimConfig

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = gh.gui_test_marks(pytest)

LIFECYCLE_GUI = os.path.join(HERE, "lifecycle_gui.py")
EXT_ID = "tripo3d"
#: Image stems (see lifecycle_gui.IMAGES): one job and one paid submit each.
IMAGES = {
    "undo": "lc_undo", "edit": "lc_edit", "sculpt": "lc_sculpt", "disable1": "lc_disable1",
    "disable2": "lc_disable2", "reload": "lc_reload", "fileload": "lc_fileload", "quit": "lc_quit",
}
#: Slow jobs: each lifecycle event happens while the server still works.
SIM = dict(queue_seconds=0.5, processing_seconds=4.5, latency=0.02)
UNDO_NAME = "Import Tripo3D model"


def run_blender(script_args: list[str], *, out: str, binds: list[str], user_dir: str, env: dict,
                blender_args: list[str] = (), timeout: int = 300) -> dict:
    """gh.run_gui, plus a Blender user folder of our own (the runner makes a
    fresh one per run; passing BLENDER_USER_RESOURCES through overrides it),
    and Blender's crash report, if any, read from the kept per-run folder."""
    out = gh.run_gui(LIFECYCLE_GUI, script_args, results=out, binds=binds, timeout=timeout, keep_tmp=True,
                     env={**env, "BLENDER_USER_RESOURCES": user_dir}, blender_args=blender_args,
                     pass_env=("BLENDER_USER_RESOURCES",))
    out["seconds"] = round(out["seconds"], 1)
    out["crash"] = None
    kept = out["kept_tmp"]
    if kept:
        crashes = glob.glob(os.path.join(kept, "tmp", "*.crash.txt"))
        if crashes:
            with open(crashes[0], encoding="utf-8", errors="replace") as fh:
                out["crash"] = fh.read()[-6000:]
        if not os.environ.get("TRIPO_GUI_KEEP_TMP"):
            gh.remove_kept_tmp(kept)
    return out


def _load(path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    t_all = time.monotonic()
    gh.ensure_chroot()
    work = tmp_path_factory.mktemp("gui_lifecycle")
    out = work / "results"
    user_dir = work / "blender-user"
    user_dir.mkdir()
    images = work / "images"
    images.mkdir()
    zip_path = gh.build_zip(str(work / "dist"))
    for i, stem in enumerate(IMAGES.values()):
        gh.make_object_image(str(images / f"{stem}.png"), seed=101 + 7 * i, size=256)
    key = "sim-key-" + secrets.token_hex(16)
    undo_log = out / "undo.log"
    data = {"work": str(work), "user_dir": str(user_dir), "key": key}
    with GatewaySimulator(SimConfig(api_key=key, **SIM)) as sim:
        env = {"PIXAZO_API_KEY": key, "PIXAZO_BASE_URL": sim.url}
        data["start_run"] = run_blender(
            ["--phase", "start", "--out", str(out), "--zip", zip_path, "--image-dir", str(images),
             "--undo-log", str(undo_log)],
            out=str(out), binds=[str(work)], user_dir=str(user_dir), env=env,
            blender_args=gh.undo_log_args(str(undo_log)))
        data["start"] = _load(out / "lifecycle_start.json")
        data["start_partial"] = _load(out / "lifecycle_start.partial.json")
        data["sim_stats_at_quit"] = sim.stats()
        data["restart_run"] = run_blender(
            ["--phase", "restart", "--out", str(out), "--expect", str(out / "lifecycle_start.json"),
             "--image-dir", str(images)],
            out=str(out), binds=[str(work)], user_dir=str(user_dir), env=env,
            blender_args=[str(out / "main.blend")])
        data["restart"] = _load(out / "lifecycle_restart.json")
        data["restart_partial"] = _load(out / "lifecycle_restart.partial.json")
        data["sim_stats"] = sim.stats()
        data["sim_jobs"] = sim.jobs()
    jobs_dir = user_dir / "extensions" / ".user" / "user_default" / EXT_ID / "jobs"
    records = []
    for p in sorted(glob.glob(str(jobs_dir / "*.json"))):
        with open(p, encoding="utf-8") as fh:
            records.append(json.load(fh))
    data["journal"] = records
    data["log"] = "\n".join(
        f"--- {name}: rc {r['rc']} in {r['seconds']} s\nSTDOUT:\n{r['stdout'][-6000:]}\nSTDERR:\n{r['stderr'][-3000:]}"
        + (f"\nBLENDER CRASH REPORT:\n{r['crash']}" if r["crash"] else "")
        for name, r in (("start", data["start_run"]), ("restart", data["restart_run"])))
    print(f"\n[gui] lifecycle: start run {data['start_run']['seconds']} s (rc {data['start_run']['rc']}), "
          f"restart run {data['restart_run']['seconds']} s (rc {data['restart_run']['rc']}); "
          f"fixture total {time.monotonic() - t_all:.1f} s")
    for name in ("start", "restart"):
        r = data[name] or data[f"{name}_partial"]
        if r and r["result"].get("script_loaded_at"):
            run = data[f"{name}_run"]
            quit_at = r["result"].get("quit_asked_at")
            print(f"[gui] {name}: Blender up and the script loaded {r['result']['script_loaded_at'] - run['started_at']:.1f} s "
                  f"after the runner started" + (f"; the run ended {run['ended_at'] - quit_at:.1f} s after the quit "
                                                 "was asked" if quit_at else ""))
        if r:
            steps = ", ".join(f"{s['step']} {s['seconds']:.1f}s" for s in r["steps"])
            print(f"[gui] {name} steps: {steps}")
    return data


def result(data, phase: str = "start", need: str | None = None) -> dict:
    """The phase's findings. With ``need`` (a key the wanted step records),
    the checkpoint written after each step is enough: Blender may have died
    in a later step."""
    r = data[phase]
    if need is not None:
        for found in (r, data[f"{phase}_partial"]):
            if found is not None and need in found["result"]:
                return found["result"]
    assert r is not None, f"no {phase} result file (Blender died?)\n{data['log']}"
    assert r["ok"], f"{phase} failed in {r.get('failed_step')}: {r.get('error')}\n{r.get('traceback')}\n{data['log']}"
    return r["result"]


def no_timeouts(res: dict, prefix: str) -> None:
    mine = [t for t in res.get("timeouts", []) if t.startswith(prefix)]
    assert not mine, f"timed out waiting for: {mine}; errors: {res.get('errors')}"


def assert_once(census: dict, stems) -> None:
    """Each image's model is in the scene exactly once: one collection named
    after it, one object carrying its request id."""
    problems = {}
    for stem in stems:
        c = census.get(stem)
        if c is None:
            problems[stem] = "not counted"
            continue
        if c["collections"] != [stem] or c["collections_in_scene"] != [stem] or len(c["tagged_in_scene"]) != 1 \
                or len(c["tagged_in_file"]) != 1:
            problems[stem] = c
    assert not problems, f"not imported exactly once: {json.dumps(problems, indent=1)}"


def assert_timer(res: dict, label: str) -> None:
    t = res.get("timer", {}).get(label)
    assert t is not None, f"timer not checked at {label}"
    assert t["registered"] and t["ticks"] >= 3, f"the add-on's timer at {label}: {t}"


def assert_workers_tracked(res: dict, label: str) -> None:
    """Every worker thread still alive is one the manager knows it runs (so the
    job list shows it running, Stop Tracking works, and its claim is held)."""
    t = res["timer"][label]
    for when in ("workers_at_start", "workers_at_end"):
        w = t[when]
        untracked = sorted(set(w["alive"]) - set(w["tracked"]))
        assert not untracked, (f"{label}, {when}: workers running that the manager no longer tracks: {w}; "
                               f"the job list says of them: {t['rows_of_running_jobs']}")


# ------------------------------------------------------------------ tests ---

def test_both_runs_passed_without_traceback_or_crash(lifecycle):
    for name in ("start_run", "restart_run"):
        r = lifecycle[name]
        assert r["crash"] is None, f"Blender crashed in the {name} (rc {r['rc']}):\n{r['crash']}"
    result(lifecycle, "start")
    result(lifecycle, "restart")
    for name in ("start_run", "restart_run"):
        r = lifecycle[name]
        assert r["rc"] == 0, lifecycle["log"]
        assert not gh.tracebacks(r["stdout"] + r["stderr"]), lifecycle["log"]
    assert not gh.chroot_mounts(), "mounts left behind"


def test_automatic_import_is_one_undo_step(lifecycle):
    res = result(lifecycle)
    u = res["undo"]
    no_timeouts(res, "undo")
    stem = IMAGES["undo"]
    print(f"[gui] undo: Blender's undo log from the baseline step on: {u['log_since_baseline']}")
    assert u["job"]["state"] == "imported", u["job"]
    assert_once(u["census_after_import"], [stem])
    new_objects = set(u["after_import"]["objects"]) - set(u["before"]["objects"])
    assert new_objects and set(u["after_import"]["collections"]) - set(u["before"]["collections"]) == {stem}
    # The step is the add-on's, under its name, and nothing else was pushed.
    assert u["log_available"], "no undo log from Blender (--log ed.undo)"
    assert u["log_since_baseline"][:3] == [
        "push:lifecycle test: before the import", f"push:{UNDO_NAME}", "step:STEP_UNDO"], u["log_since_baseline"]
    # One undo: exactly the model goes, nothing else changes.
    assert u["undo_ret"] == ["FINISHED"]
    for k in ("objects", "collections", "meshes", "materials", "scene_objects", "cube_location"):
        assert u["after_undo"][k] == u["before"][k], (k, u["before"][k], u["after_undo"][k])
    assert not u["census_after_undo"][stem]["tagged_in_file"]
    # ...and redo brings it back.
    assert u["redo_ret"] == ["FINISHED"]
    assert u["after_redo"]["objects"] == u["after_import"]["objects"]
    assert_once(u["census_after_redo"], [stem])


def test_job_finishing_in_edit_or_sculpt_mode_waits_for_object_mode(lifecycle):
    res = result(lifecycle)
    m = res["modes"]
    no_timeouts(res, "modes")
    stems = [IMAGES["edit"], IMAGES["sculpt"]]
    assert m["edit_ret"] == ["FINISHED"] and m["mode_entered"] == "EDIT_MESH", m
    for phase, mode in (("edit", "EDIT_MESH"), ("sculpt", "SCULPT")):
        p = m[phase]
        assert p["mode"] == mode, f"the import changed the mode in {phase}: {p['mode']}"
        for k in ("edit", "sculpt"):
            assert p["view"][k]["in_waiting_for_object_mode"], (phase, k, p["view"][k])
            assert p["jobs"][k]["state"] == "downloaded", (phase, k, p["jobs"][k])
        for stem in stems:
            assert not p["census"][stem]["tagged_in_file"] and not p["census"][stem]["collections"], \
                (phase, p["census"][stem])
    o = m["object"]
    assert o["mode"] == "OBJECT" and o["states_ok"], o
    assert o["waiting_for_object_mode"] == []
    assert_once(o["census"], stems)


def test_waiting_job_is_reported_as_waiting_for_object_mode(lifecycle):
    """The job's own message (status bar, Info log, the job's row messages) says it waits."""
    m = result(lifecycle)["modes"]
    for k in ("edit", "sculpt"):
        msgs = m["edit"]["view"][k]["messages"]
        assert any("Object mode" in t for t in msgs), msgs


def test_job_list_row_says_waiting_for_object_mode(lifecycle):
    """Issue 9 class 10: "it waits for Object mode, saying so in the job list"."""
    m = result(lifecycle)["modes"]
    for phase in ("edit", "sculpt"):
        for k in ("edit", "sculpt"):
            v = m[phase]["view"][k]
            print(f"[gui] {phase} mode, job {k}: row '{v['row_short']}' / details '{v['row_text']}' ({v['row_icon']})")
            assert "object mode" in v["row_text"].lower(), \
                f"the job list shows {v['row_text']!r} for a job waiting for Object mode"


def test_disable_and_enable_with_jobs_running(lifecycle):
    res = result(lifecycle)
    d = res["disable_enable"]
    no_timeouts(res, "disable")
    print(f"[gui] disable/enable: before {[(v['state'], v['running']) for v in d['before'].values()]}, "
          f"just after enable {[(v['state'], v['running']) for v in d['just_after_enable'].values()]}, "
          f"after {[(v['state'], v['error']) for v in d['after'].values()]}")
    for v in d["before"].values():
        assert v["request_id"] and v["state"] in ("queued", "processing"), v
    assert d["disable_ret"] == ["FINISHED"] and not d["enabled_after_disable"] and not d["timer_after_disable"]
    assert d["enable_ret"] == ["FINISHED"] and d["enabled_after_enable"]
    assert_timer(res, "after_enable")
    assert_timer(res, "after_disable_jobs")
    for k, v in d["after"].items():
        assert v["state"] == "imported", (k, v)
    assert_once(d["census"], [IMAGES["disable1"], IMAGES["disable2"]])


def test_reload_scripts_with_a_job_running(lifecycle):
    res = result(lifecycle)
    r = res["reload"]
    no_timeouts(res, "reload")
    print(f"[gui] reload: before {r['before']['state']}, after {r['after']['state']} {r['after']['error'] or ''}")
    assert r["before"]["request_id"] and r["before"]["state"] in ("queued", "processing"), r["before"]
    assert r["reload_ret"] == ["FINISHED"] and r["enabled_after_reload"]
    assert_timer(res, "after_reload")
    assert r["after"]["state"] == "imported", r["after"]
    assert_once(r["census"], [IMAGES["reload"]])


def test_open_another_file_and_back_with_a_job_running(lifecycle):
    res = result(lifecycle, "restart", need="file_load")
    f = res["file_load"]
    if "back" not in f:
        run = lifecycle["restart_run"]
        pytest.fail(f"Blender died (rc {run['rc']}) opening main.blend, where the job that finished while "
                    f"other.blend was open is imported from the add-on's load_post handler; in other.blend it "
                    f"was {f['in_other']['job']['state']}.\nCrash report:\n{run['crash']}\n{lifecycle['log'][-3000:]}")
    no_timeouts(res, "fileload")
    stem = IMAGES["fileload"]
    print(f"[gui] file load: job {f['before']['state']} when other.blend was opened; there it reached "
          f"{f['in_other']['job']['state']}; messages {f['in_other']['messages']}; back in main.blend: "
          f"{f['back']['job']['state']}")
    assert f["before"]["state"] in ("queued", "processing"), f["before"]
    assert f["before"]["blend_file"].endswith("main.blend")
    assert_timer(res, "after_open_other")
    assert_timer(res, "after_open_main")
    # Finished while other.blend was open: not dropped into the wrong file.
    assert f["in_other"]["filepath"].endswith("other.blend")
    assert f["in_other"]["job"]["state"] == "downloaded", f["in_other"]["job"]
    assert not f["in_other"]["census"][stem]["tagged_in_file"] and not f["in_other"]["census"][stem]["collections"]
    # Back in the file that started it: imported there, once; the earlier models once each.
    assert f["back"]["filepath"].endswith("main.blend")
    assert f["back"]["job"]["state"] == "imported", f["back"]["job"]
    assert_once(f["back"]["census"], list(IMAGES.values()))


def test_quit_with_a_job_running_and_start_again(lifecycle):
    start = result(lifecycle)
    res = result(lifecycle, "restart", need="census")
    q = start["quit"]
    no_timeouts(res, "restart")
    print(f"[gui] quit: job {q['job']['state']} at quit; at the next start: {res['quit_job_at_enable']}; "
          f"then {res['quit_job']}")
    assert q["job"]["request_id"] and q["job"]["state"] in ("queued", "processing"), q["job"]
    assert lifecycle["start_run"]["rc"] == 0
    assert res["user_resources"] == lifecycle["user_dir"]
    assert res["quit_job_at_enable"] and res["quit_job_at_enable"]["request_id"] == q["job"]["request_id"]
    assert res["filepath_at_enable"] == start["main_blend"]
    assert_timer(res, "after_enable")
    assert res["filepath"] == start["main_blend"]
    assert res["quit_job"]["state"] == "imported", res["quit_job"]
    assert_once(res["census"], [s for k, s in IMAGES.items() if k != "fileload"])


def test_no_job_lost_and_one_submit_per_image(lifecycle):
    start = result(lifecycle)
    expect = dict(start["expect"])
    restart = result(lifecycle, "restart", need="file_load")
    expect[IMAGES["fileload"]] = restart["file_load"]["before"]["request_id"]
    assert sorted(expect) == sorted(IMAGES.values()), expect
    rids = set(expect.values())
    assert len(rids) == len(IMAGES) and all(rids)
    journal = {r.get("request_id"): r for r in lifecycle["journal"]}
    print(f"[gui] journal: {len(lifecycle['journal'])} records, states "
          f"{sorted(r.get('state') for r in lifecycle['journal'])}; simulator: {lifecycle['sim_stats']['submits']} "
          f"submits, {lifecycle['sim_stats']['jobs']} jobs")
    assert rids <= set(journal), f"request ids missing from the journal: {rids - set(journal)}"
    assert all(journal[r]["state"] == "imported" for r in rids), {r: journal[r]["state"] for r in rids}
    assert len(lifecycle["journal"]) == len(IMAGES), [r.get("source") for r in lifecycle["journal"]]
    stats = lifecycle["sim_stats"]
    assert stats["submits"] == len(IMAGES), stats
    assert {j["request_id"] for j in lifecycle["sim_jobs"]} == rids
    # At the quit, every image but the file-load one (sent in the second run) was paid for once.
    assert lifecycle["sim_stats_at_quit"]["submits"] == len(IMAGES) - 1


@pytest.mark.parametrize("label", ["after_enable", "after_reload"])
def test_running_workers_stay_tracked_after_disable_enable_and_reload(lifecycle, label):
    """After the add-on comes back, each worker still running is in the
    manager's list of running jobs (a stale "done" event of the worker the
    disable stopped must not take the new worker's place)."""
    res = result(lifecycle)
    assert_workers_tracked(res, label)
