"""scripts/generate.py end to end, as a pipeline runs it: a separate process
with the bpy module, talking to the local gateway simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from bhelpers import run_python
from helpers import SIM_KEY, make_image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATE = os.path.join(REPO, "scripts", "generate.py")


def run_cli(args, env_extra=None, timeout=240):
    # Nothing of the machine's own gateway or bucket settings leaks into a test.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "AWS_", "TRIPO3D_UPLOAD"))}
    env.update({"TRIPO3D_RETRY_BASE_DELAY": "0.05"})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, GENERATE, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def cli_env(sim, user_res):
    return {"PIXAZO_API_KEY": SIM_KEY, "PIXAZO_BASE_URL": sim.url, "BLENDER_USER_RESOURCES": str(user_res)}


def blend_contents(path: str) -> dict:
    code = (
        "import bpy, json, sys\n"
        f"bpy.ops.wm.open_mainfile(filepath={path!r})\n"
        "out = {c.name: sorted(o.name for o in c.all_objects) for c in bpy.data.collections}\n"
        "props = {o.name: {k: str(o[k]) for k in o.keys()} for o in bpy.data.objects}\n"
        "print('JSON' + json.dumps({'collections': out, 'props': props}))\n"
    )
    proc = run_python(code)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")][0]
    return json.loads(line[4:])


@pytest.mark.matrix
def test_file_and_url_imported_saved_and_reported(sim, cli_env, image_files, tmp_path):
    """A local PNG, a local JPEG and an image URL: each imported once, in its own collection, three submits."""
    url = sim.add_asset("remote/teapot.jpg", make_image("JPEG", size=(80, 120)), "image/jpeg")
    out, report = tmp_path / "o.blend", tmp_path / "r.json"
    proc = run_cli(["--online-mode", image_files["png"], image_files["jpg"], url, "--out", str(out), "--report", str(report),
                    "--poll-interval", "1"], cli_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    jobs = json.loads(report.read_text())["jobs"]
    assert [j["image"] for j in jobs] == [image_files["png"], image_files["jpg"], url]
    for job in jobs:
        assert set(job) == {"image", "request_id", "status", "glb", "objects", "error", "exports"}
        assert job["status"] == "COMPLETED" and job["error"] is None
        assert job["request_id"].startswith("tripo3d-v2-5-413_") and os.path.isfile(job["glb"])
        assert job["objects"]
    contents = blend_contents(str(out))
    assert set(contents["collections"]) == {os.path.splitext(os.path.basename(image_files["png"]))[0],
                                           os.path.splitext(os.path.basename(image_files["jpg"]))[0], "teapot"}
    saved_objects = {n for names in contents["collections"].values() for n in names}
    assert saved_objects == {n for j in jobs for n in j["objects"]}
    assert {p.get("tripo3d_request_id") for p in contents["props"].values()} >= {j["request_id"] for j in jobs}
    assert SIM_KEY.encode() not in out.read_bytes()
    assert len(saved_objects) == sum(len(j["objects"]) for j in jobs)  # each model once
    assert sim.stats()["submits"] == 3


def test_rerun_resumes_without_paying_and_force_pays(sim, cli_env, image_files, tmp_path):
    args = ["--online-mode", image_files["jpg"], "--poll-interval", "1"]
    assert run_cli(args, cli_env).returncode == 0
    again = run_cli(args + ["--report", str(tmp_path / "r.json")], cli_env)
    assert again.returncode == 0 and "generated before" in again.stdout
    assert sim.stats()["submits"] == 1
    assert run_cli(args + ["--force"], cli_env).returncode == 0
    assert sim.stats()["submits"] == 2


def test_wrong_key_exits_1_with_one_clear_line(sim, cli_env, image_files, tmp_path):
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", image_files["png"], "--report", str(report)],
                   {**cli_env, "PIXAZO_API_KEY": "not-the-key"})
    assert proc.returncode == 1
    failed = [ln for ln in proc.stdout.splitlines() if "FAILED" in ln]
    assert len(failed) == 1 and "rejected the API key" in failed[0]
    assert "Traceback" not in proc.stdout + proc.stderr and "not-the-key" not in proc.stdout + proc.stderr
    job = json.loads(report.read_text())["jobs"][0]
    assert job["status"] == "REJECTED" and "rejected the API key" in job["error"]


def test_one_bad_image_among_good_exits_1(sim, cli_env, image_files, tmp_path):
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", image_files["webp"], image_files["bad"], "--report", str(report),
                    "--poll-interval", "1"], cli_env)
    assert proc.returncode == 1
    statuses = [j["status"] for j in json.loads(report.read_text())["jobs"]]
    assert statuses == ["COMPLETED", "REJECTED"]
    assert sim.stats()["submits"] == 1


@pytest.mark.parametrize("case", ["no_key", "offline", "no_images", "http_base", "missing_out_dir"])
def test_configuration_errors_exit_2_and_send_nothing(sim, cli_env, image_files, case):
    env, args = dict(cli_env), ["--online-mode", image_files["png"]]
    expect = {
        "no_key": "PIXAZO_API_KEY is not set",
        "offline": "Online access is off",
        "no_images": "the following arguments are required",
        "http_base": "plain http",
        "missing_out_dir": "does not exist",
    }[case]
    if case == "no_key":
        env.pop("PIXAZO_API_KEY")
    elif case == "offline":
        args = [image_files["png"]]
    elif case == "no_images":
        args = ["--online-mode"]
    elif case == "http_base":
        env["PIXAZO_BASE_URL"] = "http://gateway.example.com"
    elif case == "missing_out_dir":
        args += ["--out", "/no/such/folder/o.blend"]
    proc = run_cli(args, env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expect in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sim.stats()["submit_attempts"] == 0


def test_help_lists_the_options():
    proc = run_cli(["--help"])
    assert proc.returncode == 0
    for option in ("--texture", "--texture-alignment", "--orientation", "--out", "--report", "--online-mode", "--force"):
        assert option in proc.stdout


def test_key_is_in_no_file_the_run_wrote_and_no_temp_files_remain(sim, cli_env, image_files, tmp_path):
    """Successes and failures alike: search every file and every line the run produced."""
    big = tmp_path / "wide.png"
    from PIL import Image

    Image.new("RGB", (4500, 200), (200, 10, 10)).save(big)  # re-encoded through a temp file
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out, report = tmp_path / "s.blend", tmp_path / "s.json"
    sim.configure(faults={"status": ["500", "drop"], "download": ["truncate"]})
    proc = run_cli(["--online-mode", "--poll-interval", "1", image_files["png"], str(big), image_files["bad"],
                    "--out", str(out), "--report", str(report)], {**cli_env, "TMPDIR": str(tmpdir)})
    assert proc.returncode == 1  # the text file fails, the others import
    written = [out, report]
    for root in (cli_env["BLENDER_USER_RESOURCES"], str(tmpdir)):
        for dirpath, _dirs, names in os.walk(root):
            written += [os.path.join(dirpath, n) for n in names]
    assert len(written) > 4
    for path in written:
        with open(path, "rb") as f:
            assert SIM_KEY.encode() not in f.read(), path
    assert SIM_KEY not in proc.stdout + proc.stderr
    leftovers = [p for p in written if str(p).endswith((".part", ".tmp")) or os.path.basename(str(p)).startswith("tripo3d-")]
    assert leftovers == []
    assert os.listdir(tmpdir) == []
