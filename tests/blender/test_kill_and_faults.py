"""Never lose a paid job: kill the batch command at every stage of a job's life,
re-run it, and count submits at the simulator; then a many-job run under
injected faults."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import SIM_KEY, make_image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATE = os.path.join(REPO, "scripts", "generate.py")

pytestmark = pytest.mark.slow


def cli_env(sim, user_res, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXAZO_")}
    env.update(PIXAZO_API_KEY=SIM_KEY, PIXAZO_BASE_URL=sim.url, BLENDER_USER_RESOURCES=str(user_res),
               TRIPO3D_RETRY_BASE_DELAY="0.05", TRIPO3D_RETRY_ATTEMPTS="12")
    env.update(extra)
    return env


def journal_states(user_res) -> dict:
    states = {}
    for path in glob.glob(os.path.join(str(user_res), "extensions", ".user", "*", "tripo3d", "jobs", "*.json")):
        try:
            with open(path) as f:
                job = json.load(f)
        except (OSError, ValueError):
            continue  # being replaced right now
        states[job["source"]] = job
    return states


def part_bytes(user_res) -> int:
    parts = glob.glob(os.path.join(str(user_res), "extensions", ".user", "*", "tripo3d", "downloads", "*.part"))
    return sum(os.path.getsize(p) for p in parts if os.path.exists(p))


KILL_POINTS = {
    # name: predicate on (job record, bytes in .part files)
    "after_submit": lambda job, parts: job.get("request_id") and job["state"] == "queued",
    "mid_poll": lambda job, parts: job["state"] == "processing",
    "mid_download": lambda job, parts: job["state"] == "downloading" and parts > 200_000,
    "before_import": lambda job, parts: job["state"] in ("downloaded", "importing"),
}


def test_sigkill_at_every_stage_then_rerun_finishes_without_new_submit(sim, user_res, tmp_path):
    # A slow server and a multi-megabyte model, so every stage lasts long enough to be hit.
    sim.configure(queue_seconds=1.0, processing_seconds=1.5, texture_size=1024, texture_noise=True,
                  download_rate=1_500_000)
    env = cli_env(sim, user_res)
    images = {}
    for i, name in enumerate(KILL_POINTS):
        path = tmp_path / f"{name}.png"
        path.write_bytes(make_image("PNG", size=(64 + 8 * i, 64), color=(50 * i, 100, 200)))
        images[name] = str(path)

    killed_at = {}
    for name, predicate in KILL_POINTS.items():
        proc = subprocess.Popen([sys.executable, GENERATE, "--online-mode", "--poll-interval", "1", images[name]],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                job = journal_states(user_res).get(images[name])
                if job and predicate(job, part_bytes(user_res)):
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at[name] = job["state"]
                    break
                time.sleep(0.002)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        assert name in killed_at, f"the process ended before reaching {name}"
        assert proc.returncode == -signal.SIGKILL

    submits_before_rerun = sim.stats()["submits"]
    assert submits_before_rerun == len(KILL_POINTS)

    report = tmp_path / "rerun.json"
    rerun = subprocess.run([sys.executable, GENERATE, "--online-mode", "--poll-interval", "1",
                            *images.values(), "--report", str(report)], env=env, capture_output=True, text=True,
                           timeout=180)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    jobs = json.loads(report.read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["COMPLETED"] * len(KILL_POINTS)
    assert sim.stats()["submits"] == submits_before_rerun, "a re-run must never submit again"
    # Every job ends with exactly one request id, the one recorded before the kill.
    assert len({j["request_id"] for j in jobs}) == len(KILL_POINTS)
    leftovers = glob.glob(os.path.join(str(user_res), "**", "*.part"), recursive=True)
    leftovers += glob.glob(os.path.join(str(user_res), "**", ".job-*.tmp"), recursive=True)
    assert leftovers == []
    print("\nkilled at:", killed_at)


def test_crash_between_submit_and_answer_is_reported_not_resent(sim, user_res, tmp_path):
    """A record left in 'submitting' (the process died mid-POST) is never sent blindly."""
    image = tmp_path / "uncertain.png"
    image.write_bytes(make_image())
    env = cli_env(sim, user_res)
    sim.configure(faults={"submit": ["slow_after_queue"]}, slow_seconds=30)
    proc = subprocess.Popen([sys.executable, GENERATE, "--online-mode", str(image)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = journal_states(user_res).get(str(image))
        if job and job["state"] == "submitting" and sim.stats()["submits"] == 1:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    sim.configure(faults={})
    rerun = subprocess.run([sys.executable, GENERATE, "--online-mode", str(image)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 1
    assert "may have been submitted" in rerun.stdout and "dashboard" in rerun.stdout
    assert sim.stats()["submits"] == 1
    forced = subprocess.run([sys.executable, GENERATE, "--online-mode", "--force", str(image)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert forced.returncode == 0, forced.stdout[-2000:]
    assert sim.stats()["submits"] == 2


def test_many_jobs_under_injected_faults_all_finish_with_one_submit_each(sim, user_res, tmp_path):
    count = 12
    sim.configure(
        queue_seconds=0.2, processing_seconds=0.5, retry_after=0.05, slow_seconds=3,
        random_fault_rate=0.35, seed=7,
        random_faults=["500", "502", "503", "429", "drop", "garbage", "half_json", "unknown_status",
                       "truncate", "slow"],
        # Every kind at least once, in order, on top of the random ones.
        faults={"submit": ["429", "503", None, "429"],
                "status": ["garbage", "half_json", "unknown_status", "drop", "slow", "500", "429", "503", "html200"],
                "download": ["truncate", "drop", "500", "slow", "truncate", "429", "html200"]},
    )
    images = []
    for i in range(count):
        path = tmp_path / f"batch_{i:02d}.png"
        path.write_bytes(make_image("PNG", size=(48 + i, 40), color=(20 * i, 200 - 10 * i, 90)))
        images.append(str(path))
    report = tmp_path / "faults.json"
    out = tmp_path / "faults.blend"
    # A short read timeout turns "slow" answers into timeouts the client must survive.
    env = cli_env(sim, user_res, TRIPO3D_READ_TIMEOUT="1")
    proc = subprocess.run([sys.executable, GENERATE, "--online-mode", "--poll-interval", "1", *images,
                           "--report", str(report), "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = sim.stats()
    jobs = json.loads(report.read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["COMPLETED"] * count
    assert stats["submits"] == count
    assert stats["faults_injected"] >= count  # the run really was under fire
    for kind in ("garbage", "half_json", "unknown_status", "drop", "slow", "500", "429", "503", "truncate", "html200"):
        assert stats[f"fault_{kind}"] >= 1, kind
    assert "Traceback" not in proc.stdout + proc.stderr
    scanned = [report, out] + [os.path.join(d, n) for d, _s, ns in os.walk(str(user_res)) for n in ns]
    leaks = [p for p in scanned if SIM_KEY.encode() in open(p, "rb").read()]
    leaks += ["output"] if SIM_KEY in proc.stdout + proc.stderr else []
    assert leaks == []
    print(f"\njobs={count} submits={stats['submits']} faults_injected={stats['faults_injected']} "
          f"files_scanned_for_key={len(scanned)} key_leaks={len(leaks)} "
          f"by kind={ {k: v for k, v in stats.items() if k.startswith('fault_') and v} }")


def test_six_jobs_under_mixed_faults_and_web_pages_import_six_with_six_submits(sim, user_res, tmp_path):
    """A web page (HTTP 200, text/html) at a status check or a download is a CDN hiccup, retried like a
    5xx: the address that accepted the job is the gateway. 5xx, drops, 429s and cut downloads around it."""
    count = 6
    sim.configure(
        queue_seconds=0.2, processing_seconds=0.5, retry_after=0.05,
        random_fault_rate=0.3, seed=11, random_faults=["500", "502", "503", "429", "drop", "truncate", "html200"],
        faults={"status": ["html200", "503", "html200", "drop", "html200", "429", "html200", "500", "html200"],
                "download": ["html200", "truncate", "html200", "drop", "502", "html200", "429"]},
    )
    images = []
    for i in range(count):
        path = tmp_path / f"mixed_{i}.png"
        path.write_bytes(make_image("PNG", size=(44 + i, 40), color=(30 * i, 90, 200 - 20 * i)))
        images.append(str(path))
    report = tmp_path / "mixed.json"
    proc = subprocess.run([sys.executable, GENERATE, "--online-mode", "--poll-interval", "1", *images,
                           "--report", str(report)], env=cli_env(sim, user_res), capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    stats = sim.stats()
    assert "not the Pixazo gateway" not in out, out[-3000:]
    assert proc.returncode == 0, out[-3000:]
    # The run really met web pages, at status checks and at downloads.
    assert stats["faults_by_route"]["status"].get("html200", 0) >= 5, stats
    assert stats["faults_by_route"]["download"].get("html200", 0) >= 3, stats
    assert [j["status"] for j in json.loads(report.read_text())["jobs"]] == ["COMPLETED"] * count
    assert f"Done: {count} of {count} imported" in proc.stdout
    assert stats["submits"] == count
    assert "Traceback" not in out
    print(f"\njobs={count} submits={stats['submits']} by route={stats['faults_by_route']}")


def test_web_pages_at_every_status_check_say_not_the_gateway(sim, user_res, tmp_path):
    """Only web pages, several in a row and no good answer: then it is not the gateway (one sentence)."""
    sim.configure(queue_seconds=0.2, processing_seconds=0.5, faults={"status": ["html200"] * 40})
    image = tmp_path / "portal.png"
    image.write_bytes(make_image())
    proc = subprocess.run([sys.executable, GENERATE, "--online-mode", "--poll-interval", "1", str(image)],
                          env=cli_env(sim, user_res), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "not the Pixazo gateway" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert sim.stats()["submits"] == 1
    assert 3 <= sim.stats()["faults_by_route"]["status"]["html200"] <= 12


def test_two_batch_runs_on_the_same_image_pay_once(sim, user_res, tmp_path):
    """Parallel pipeline runs over overlapping folders: the second waits its turn, never pays."""
    sim.configure(queue_seconds=0.5, processing_seconds=2.0)
    image = tmp_path / "shared.png"
    image.write_bytes(make_image())
    env = cli_env(sim, user_res)
    cmd = [sys.executable, GENERATE, "--online-mode", "--poll-interval", "1", str(image)]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while sim.stats()["submits"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    out_first = first.communicate(timeout=120)[0]
    assert first.returncode == 0, out_first[-2000:]
    assert second.returncode == 1
    assert "another Blender process" in second.stdout
    assert sim.stats()["submits"] == 1
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "generated before" in third.stdout
    assert sim.stats()["submits"] == 1
