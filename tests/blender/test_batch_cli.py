"""The batch command at scale: jobs in flight at once, folders and shards,
outputs that survive a long run, webhooks, and stopping cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import make_image
from test_cli import GENERATE, cli_env, run_cli  # noqa: F401  (cli_env is a fixture)


def folder_of_images(path, n: int, prefix: str = "img") -> list[str]:
    path.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = path / f"{prefix}_{i:03d}.png"
        p.write_bytes(make_image("PNG", size=(48 + i % 7, 40), color=(i * 37 % 255, 90, 200 - i % 50)))
        out.append(str(p))
    return out


def test_jobs_in_flight_at_once_finish_together(sim, cli_env, tmp_path):  # noqa: F811
    """Eight jobs of about 1.5 s each at --jobs 8 take about one job's time, not eight."""
    sim.configure(queue_seconds=0.5, processing_seconds=1.0)
    images = folder_of_images(tmp_path / "in", 8)
    report = tmp_path / "r.json"
    started = time.monotonic()
    proc = run_cli(["--online-mode", "--jobs", "8", "--poll-interval", "1", str(tmp_path / "in"),
                    "--report", str(report)], cli_env)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = json.loads(report.read_text())["jobs"]
    assert sorted(j["image"] for j in jobs) == images and all(j["status"] == "COMPLETED" for j in jobs)
    assert sim.stats()["submits"] == 8
    # One at a time this is at least 8 x 1.5 s = 12 s of server time alone.
    assert took < 8 * 1.5, f"8 jobs took {took:.1f} s: they did not run at once"


def test_shards_split_a_folder_and_outputs_per_image(sim, cli_env, tmp_path):  # noqa: F811
    images = folder_of_images(tmp_path / "in", 6)
    seen = []
    for k in (1, 2, 3):
        out_dir, glb_dir = tmp_path / f"blends{k}", tmp_path / f"glbs{k}"
        report = tmp_path / f"r{k}.json"
        proc = run_cli(["--online-mode", "--shard", f"{k}/3", str(tmp_path / "in"), "--out-dir", str(out_dir),
                        "--glb-dir", str(glb_dir), "--report", str(report), "--poll-interval", "1"], cli_env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        jobs = json.loads(report.read_text())["jobs"]
        seen += [j["image"] for j in jobs]
        stems = sorted(os.path.splitext(os.path.basename(j["image"]))[0] for j in jobs)
        assert sorted(os.path.splitext(n)[0] for n in os.listdir(glb_dir)) == stems
        assert sorted(os.path.splitext(n)[0] for n in os.listdir(out_dir) if n.endswith(".blend")) == stems
    assert sorted(seen) == images  # every image exactly once across the shards
    assert sim.stats()["submits"] == 6


def test_list_file_and_missing_entries_fail_alone(sim, cli_env, tmp_path):  # noqa: F811
    images = folder_of_images(tmp_path / "in", 2)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# batch\n{images[0]}\nin/{os.path.basename(images[1])}\nin/gone.png\n")
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", f"@{listing}", "--report", str(report), "--poll-interval", "1"], cli_env)
    assert proc.returncode == 1
    statuses = {os.path.basename(j["image"]): j["status"] for j in json.loads(report.read_text())["jobs"]}
    assert statuses == {"img_000.png": "COMPLETED", "img_001.png": "COMPLETED", "gone.png": "REJECTED"}
    assert "Traceback" not in proc.stdout + proc.stderr


class _Hooks(ThreadingHTTPServer):
    def __init__(self):
        self.posts = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_webhooks_are_passed_to_the_gateway_and_the_batch_still_polls(sim, cli_env, tmp_path):  # noqa: F811
    hooks = _Hooks()
    try:
        url = f"http://127.0.0.1:{hooks.server_address[1]}/hook"
        image = folder_of_images(tmp_path / "in", 1)[0]
        proc = run_cli(["--online-mode", image, "--webhook-url", url, "--webhook-mode", "sync",
                        "--poll-interval", "1"], cli_env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        [job] = sim.jobs()
        assert (job["webhook_url"], job["webhook_mode"]) == (url, "sync")
        deadline = time.monotonic() + 10
        while not any(p.get("status") == "COMPLETED" for p in hooks.posts) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(p.get("status") == "COMPLETED" for p in hooks.posts)
        assert sim.stats()["status_requests"] >= 1  # polled all the same
    finally:
        hooks.shutdown()
    bad = run_cli(["--online-mode", image, "--webhook-url", "http://hooks.example.com/x"], cli_env)
    assert bad.returncode == 2 and "plain http" in bad.stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_cleanly_and_the_rerun_pays_nothing_twice(sim, cli_env, tmp_path, sig, code):  # noqa: F811
    sim.configure(queue_seconds=0.5, processing_seconds=6.0)
    folder_of_images(tmp_path / "in", 16)
    report = tmp_path / "r.json"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "AWS_"))}, **cli_env,
           "TRIPO3D_RETRY_BASE_DELAY": "0.05"}
    args = [sys.executable, GENERATE, "--online-mode", "--jobs", "16", "--poll-interval", "1",
            str(tmp_path / "in"), "--report", str(report)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while sim.stats()["submits"] < 16 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sim.stats()["submits"] == 16
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err and "Stopped (" in out
    # Written at exit with every job in flight: each paid request id is in it.
    jobs = json.loads(report.read_text())["jobs"]
    assert sorted(j["request_id"] for j in jobs) == sorted(j["request_id"] for j in sim.jobs())
    assert len(jobs) == 16 and all(j["status"] != "COMPLETED" and "without paying twice" in j["error"] for j in jobs)
    sim.configure(processing_seconds=0.2)
    again = run_cli(args[2:], cli_env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert sim.stats()["submits"] == 16  # all 16 resumed by their request ids
    assert len(json.loads(report.read_text())["jobs"]) == 16


def test_handlers_blender_installed_in_c_are_put_back_without_error(monkeypatch):
    """signal.signal() returns None for a handler installed by C code (real Blender's);
    restoring it must not raise at the end of a run."""
    import signal as signal_mod

    from tripo_addon.blender.cli import main as cli

    real = signal_mod.signal
    calls = []

    def fake(sig, handler):
        calls.append((sig, handler))
        previous = real(sig, handler)
        return None if len(calls) <= 2 else previous  # the first two: "installed by C"

    monkeypatch.setattr(signal_mod, "signal", fake)
    saved = (signal_mod.getsignal(signal_mod.SIGINT), signal_mod.getsignal(signal_mod.SIGTERM))
    try:
        with cli._signals_as_exceptions():
            pass
        assert [h for _s, h in calls[2:]] == [signal_mod.SIG_DFL, signal_mod.SIG_DFL]
    finally:
        real(signal_mod.SIGINT, saved[0])
        real(signal_mod.SIGTERM, saved[1])


def test_the_blend_holds_no_local_paths_unless_asked(sim, cli_env, tmp_path):  # noqa: F811
    from test_cli import blend_contents

    image = folder_of_images(tmp_path / "private folder", 1)[0]
    for keep, out in ((False, tmp_path / "plain.blend"), (True, tmp_path / "full.blend")):
        args = ["--online-mode", image, "--out", str(out), "--poll-interval", "1"] + (["--keep-paths"] if keep else [])
        proc = run_cli(args, cli_env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        props = [p for p in blend_contents(str(out))["props"].values() if "tripo3d_source" in p]
        assert props, "no provenance saved"
        values = " ".join(v for p in props for v in p.values())
        if keep:
            assert image in values
        else:
            assert str(tmp_path) not in values and "private folder" not in values
            assert props[0]["tripo3d_source"] == os.path.basename(image)


@pytest.mark.parametrize("where", ["user_folder", "report", "out_dir"])
def test_unwritable_places_are_said_before_anything_is_paid(sim, cli_env, tmp_path, where):  # noqa: F811
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    image = folder_of_images(tmp_path / "in", 1)[0]
    env, args = dict(cli_env), ["--online-mode", image]
    if where == "user_folder":
        env["BLENDER_USER_RESOURCES"] = str(blocker / "blender")
    elif where == "report":
        args += ["--report", str(blocker / "r.json")]
    else:
        args += ["--out-dir", str(blocker / "blends")]
    proc = run_cli(args, env)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors and "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-2000:]
    assert sim.stats()["submit_attempts"] == 0


def test_a_batch_killed_mid_run_at_jobs_16_pays_nothing_twice_and_loses_nothing(sim, cli_env, tmp_path):  # noqa: F811
    """SIGKILL: no handler runs, no report is written; the journal alone carries the run."""
    sim.configure(queue_seconds=0.3, processing_seconds=2.0, download_rate=400_000)
    images = folder_of_images(tmp_path / "in", 24)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "AWS_"))}, **cli_env,
           "TRIPO3D_RETRY_BASE_DELAY": "0.05"}
    args = [sys.executable, GENERATE, "--online-mode", "--jobs", "16", "--poll-interval", "1", str(tmp_path / "in")]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    # Kill it while jobs are at every stage: some imported, some downloading, some queued, some not sent.
    while sim.stats()["downloads_completed"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    paid_before = sim.stats()["submits"]
    assert 0 < paid_before < 24
    report = tmp_path / "r.json"
    again = run_cli(args[2:] + ["--report", str(report)], cli_env)
    jobs = json.loads(report.read_text())["jobs"]
    assert sorted(j["image"] for j in jobs) == images  # nothing lost
    # A submit the kill cut off before its answer came back may or may not have
    # been charged: it is reported as such and never sent again blindly.
    unknown = [j for j in jobs if j["status"] != "COMPLETED"]
    for j in unknown:
        assert j["status"] == "SUBMIT_UNKNOWN" and "may have been submitted and charged" in j["error"], j
    assert again.returncode == (1 if unknown else 0), again.stdout[-3000:] + again.stderr[-3000:]
    print(f"\n[kill] paid before the kill {paid_before}; cut off mid-submit {len(unknown)}")
    # Each image paid for at most once across both runs: one gateway job per image.
    per_image: dict = {}
    for sim_job in list(sim._jobs.values()):
        per_image[sim_job.image_url] = per_image.get(sim_job.image_url, 0) + 1
    assert max(per_image.values()) == 1 and len(per_image) == sim.stats()["submits"]
    done = [j for j in jobs if j["status"] == "COMPLETED"]
    assert len({j["request_id"] for j in done}) == len(done) == 24 - len(unknown)
    assert len(unknown) <= 16  # at most the submits in flight at the kill (--jobs 16); the rest finished
