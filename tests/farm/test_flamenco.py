"""farm/flamenco/tripo3d.js, the Flamenco 3 job type.  Flamenco itself cannot
be installed here, so its compileJob() runs under node with a small stand-in
for Flamenco's `author` API (Task/Command/addTask, recorded as plain data),
and the commands it produces are checked: their shard split, and that the
batch command really accepts their arguments (run against the simulator)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import SIM_KEY, make_image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "farm", "flamenco", "tripo3d.js")
GENERATE = os.path.join(REPO, "scripts", "generate.py")

# Loads the job type as Flamenco's Manager does (a plain script in one global
# scope), with `author` recording what compileJob asks for.
HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const [scriptPath, settingsJson] = process.argv.slice(1);
const author = {
  Task: (name, type) => ({ name, type, commands: [], addCommand(c) { this.commands.push(c); } }),
  Command: (name, parameters) => ({ name, parameters }),
};
const ctx = vm.createContext({ author, print: console.log });
vm.runInContext(fs.readFileSync(scriptPath, "utf8") + "\n;globalThis.__jobType = JOB_TYPE;", ctx,
                { filename: scriptPath });
const job = { settings: JSON.parse(settingsJson), tasks: [], addTask(t) { this.tasks.push(t); } };
try {
  ctx.compileJob(job);
} catch (e) {
  console.log(JSON.stringify({ error: String(e) }));
  process.exit(0);
}
const strip = (t) => ({ name: t.name, type: t.type, commands: t.commands });
console.log(JSON.stringify({ jobType: ctx.__jobType, tasks: job.tasks.map(strip) }));
"""


def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node is not installed: it is required to check the Flamenco job type script")
    return exe


def compile_job(**settings) -> dict:
    base = {"input_folder": "/farm/in", "output_folder": "/farm/out", "shard_count": 3, "runner": "script",
            "generate_script": "/farm/addon/scripts/generate.py", "recursive": False, "online_mode": True,
            "texture": "HD", "texture_alignment": "geometry", "orientation": "align_image", "upload": "auto"}
    base.update(settings)
    proc = subprocess.run([node(), "-e", HARNESS, SCRIPT, json.dumps(base)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def batch_args(command: dict) -> list[str]:
    args = command["parameters"]["args"]
    return args[args.index("--") + 1:] if "--" in args else args[args.index("tripo3d") + 1:]


def test_node_check_passes():
    proc = subprocess.run([node(), "--check", SCRIPT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_job_type_settings_and_no_key():
    job_type = compile_job()["jobType"]
    keys = [s["key"] for s in job_type["settings"]]
    assert {"input_folder", "output_folder", "shard_count", "runner", "generate_script", "online_mode",
            "texture", "texture_alignment", "orientation"} <= set(keys)
    assert not [k for k in keys if "key" in k or "secret" in k]
    for s in job_type["settings"]:
        assert s["type"] in ("string", "int32", "bool", "float")
        if "choices" in s:
            assert s["default"] in s["choices"]


def test_one_task_per_shard_with_its_own_outputs():
    tasks = compile_job(shard_count=4)["tasks"]
    assert len(tasks) == 4 and len({t["name"] for t in tasks}) == 4
    for k, task in enumerate(tasks, 1):
        assert task["type"] == "blender"
        (cmd,) = task["commands"]
        assert cmd["name"] == "blender-render"
        p = cmd["parameters"]
        assert (p["exe"], p["exeArgs"], p["argsBefore"]) == ("{blender}", "{blenderArgs}", [])
        assert "blendfile" not in p    # nothing is opened: the batch starts from an empty scene
        args = p["args"]
        assert args[args.index("--python") + 1] == "/farm/addon/scripts/generate.py"
        assert args.index("--python-expr") < args.index("--python")   # the output folder is made first
        assert args[args.index("--python-exit-code") + 1] == "1"       # a script error fails the task
        got = batch_args(cmd)
        assert got[0] == "/farm/in"
        pairs = dict(zip(got[1::2], got[2::2], strict=False))
        assert pairs["--shard"] == f"{k}/4"
        assert pairs["--out"] == f"/farm/out/shard-{k}.blend"
        assert pairs["--report"] == f"/farm/out/report-{k}.json"
        assert (pairs["--texture"], pairs["--texture-alignment"], pairs["--orientation"]) == \
            ("HD", "geometry", "align_image")
        assert "--online-mode" in got and "--recursive" not in got
        # The game-ready settings' defaults change nothing: none of their options is passed.
        assert not {"--faces", "--texture-size", "--lods", "--export-format", "--export-dir", "--apply-transforms",
                    "--post-script", "--param"} & set(got)


def test_game_ready_settings_become_batch_options():
    job = compile_job(shard_count=1, faces=5000, texture_size=1024, lods=3, export_format="fbx",
                      apply_transforms=True, post_script="/farm/post.py", extra_params=" face_limit=5000  pbr=true ")
    defaults = {s["key"]: s.get("default") for s in job["jobType"]["settings"]}
    assert (defaults["faces"], defaults["texture_size"], defaults["lods"], defaults["export_format"]) == \
        (0, 0, 1, "none")
    got = batch_args(job["tasks"][0]["commands"][0])
    pairs = dict(zip(got, got[1:], strict=False))
    assert (pairs["--faces"], pairs["--texture-size"], pairs["--lods"]) == ("5000", "1024", "3")
    assert (pairs["--export-format"], pairs["--export-dir"]) == ("fbx", "/farm/out/export")
    assert pairs["--post-script"] == "/farm/post.py" and "--apply-transforms" in got
    assert [got[i + 1] for i, a in enumerate(got) if a == "--param"] == ["face_limit=5000", "pbr=true"]
    got = batch_args(compile_job(shard_count=1, export_format="obj", export_folder="/farm/game")["tasks"][0]
                     ["commands"][0])
    assert got[got.index("--export-dir") + 1] == "/farm/game"


def test_extension_runner_windows_paths_and_bad_settings():
    (task,) = compile_job(shard_count=1, runner="extension", generate_script="", recursive=True,
                          online_mode=False, output_folder="S:\\farm\\out")["tasks"]
    args = task["commands"][0]["parameters"]["args"]
    assert args[args.index("--command") + 1] == "tripo3d" and "--python" not in args
    got = batch_args(task["commands"][0])
    assert got[got.index("--out") + 1] == "S:\\farm\\out\\shard-1.blend"
    assert "--recursive" in got and "--online-mode" not in got
    assert "shard_count" in compile_job(shard_count=0)["error"]
    assert "generate_script" in compile_job(generate_script="")["error"]


@pytest.mark.slow
def test_produced_commands_run_the_real_batch(sim, user_res, tmp_path):
    """Each task's own lines, minus the Blender binary: its --python-expr is run
    by Python and its batch arguments by scripts/generate.py with bpy."""
    inp = tmp_path / "in"
    inp.mkdir()
    images = []
    for i in range(4):
        (inp / f"pic_{i}.png").write_bytes(make_image("PNG", size=(60 + i, 40), color=(60 * i, 90, 160)))
        images.append(str(inp / f"pic_{i}.png"))
    out = tmp_path / "not yet" / "out"
    tasks = compile_job(input_folder=str(inp), output_folder=str(out), shard_count=2, runner="script",
                        generate_script=GENERATE, texture="standard", upload="inline", faces=500, lods=2,
                        export_format="glb", extra_params="face_limit=500")["tasks"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "AWS_", "TRIPO3D_"))}
    env.update(PIXAZO_API_KEY=SIM_KEY, PIXAZO_BASE_URL=sim.url, BLENDER_USER_RESOURCES=str(user_res),
               TRIPO3D_RETRY_BASE_DELAY="0.05")
    done = []
    for k, task in enumerate(tasks, 1):
        args = task["commands"][0]["parameters"]["args"]
        expr = args[args.index("--python-expr") + 1]
        subprocess.run([sys.executable, "-c", expr], check=True, timeout=60)
        proc = subprocess.run([sys.executable, args[args.index("--python") + 1], *batch_args(task["commands"][0])],
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert (out / f"shard-{k}.blend").is_file()
        done += [j["image"] for j in json.loads((out / f"report-{k}.json").read_text())["jobs"]]
    assert sorted(done) == sorted(images)
    assert sim.stats()["submits"] == len(images)
    # The game-ready settings reached the batch: one GLB per image in OUTPUT/export, the extra field sent.
    assert sorted(os.listdir(out / "export")) == [f"pic_{i}.glb" for i in range(4)]
    assert all(j["params"]["face_limit"] == 500 for j in sim.jobs())
