"""farm/openjd/tripo3d-batch.yaml run for real by the Open Job Description
runtime (openjd-cli from PyPI) against the gateway simulator, with this
venv's Python (bpy module) standing in for Blender: every task runs
scripts/generate.py --shard K/N in its own process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from helpers import SIM_KEY, make_image, read_back

from tripo_addon.core.inputs import shard_key, shard_of, take_shard

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(REPO, "farm", "openjd", "tripo3d-batch.yaml")
GENERATE = os.path.join(REPO, "scripts", "generate.py")
SHARDS = 3


def openjd() -> str:
    # The venv's own openjd first: the one requirements-dev.txt installs.
    exe = shutil.which("openjd", path=os.path.dirname(sys.executable)) or shutil.which("openjd")
    if exe is None:
        pytest.fail("openjd-cli is not installed: .venv/bin/pip install openjd-cli (see requirements-dev.txt)")
    return exe


def worker_env(**extra) -> dict:
    # A worker's own environment, minus anything of this machine's gateway or
    # bucket (a farm worker's AWS_* credentials must not become the bucket's).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "AWS_", "TRIPO3D_"))}
    env["TRIPO3D_RETRY_BASE_DELAY"] = "0.05"
    env.update(extra)
    return env


def run_template(params: dict, env: dict, timeout: float = 420) -> subprocess.CompletedProcess:
    args = [openjd(), "run", TEMPLATE, "--step", "Generate"]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)


def params_for(inp, out) -> dict:
    return {"InputFolder": inp, "OutputFolder": out, "ShardCount": SHARDS, "Runner": "python",
            "Blender": sys.executable, "GenerateScript": GENERATE, "Upload": "inline", "Texture": "HD"}


@pytest.fixture
def folder(tmp_path):
    """Six images whose names put two in each of the three shards (the shard
    is a hash of the path relative to the folder, so the names are picked)."""
    inp = tmp_path / "in folder"   # a space: paths must survive the template's quoting
    inp.mkdir()
    picked: dict[int, list[str]] = {k: [] for k in range(1, SHARDS + 1)}
    for i in range(200):
        name = f"photo_{i:03d}.png"
        k = shard_of(name, SHARDS)
        if len(picked[k]) < 2:
            picked[k].append(name)
        if all(len(v) == 2 for v in picked.values()):
            break
    names = sorted(n for v in picked.values() for n in v)
    assert len(names) == 6
    for i, name in enumerate(names):
        (inp / name).write_bytes(make_image("PNG", size=(64 + i, 48), color=(40 * i, 120, 200 - 30 * i)))
    (inp / "notes.txt").write_text("not an image; a folder input skips it\n")
    return inp, [str(inp / n) for n in names]


def test_template_passes_openjd_check_and_takes_no_key():
    proc = subprocess.run([openjd(), "check", TEMPLATE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "passes validation checks" in proc.stdout, proc.stdout + proc.stderr
    with open(TEMPLATE, encoding="utf-8") as f:
        template = yaml.safe_load(f)
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    names = {p["name"] for p in template["parameterDefinitions"]}
    assert {"InputFolder", "OutputFolder", "ShardCount", "Blender", "GenerateScript", "Runner", "OnlineMode",
            "Texture", "TextureAlignment", "Orientation", "Faces", "TextureSize", "Lods", "ExportFormat",
            "ExportFolder", "ApplyTransforms", "PostScript", "ExtraParams"} <= names
    # The game-ready parameters' defaults change nothing.
    defaults = {p["name"]: p.get("default") for p in template["parameterDefinitions"]}
    assert (defaults["Faces"], defaults["TextureSize"], defaults["Lods"], defaults["ExportFormat"]) == (0, 0, 1, "none")
    assert (defaults["ApplyTransforms"], defaults["PostScript"], defaults["ExtraParams"]) == ("false", "", "")
    assert not [n for n in names if "key" in n.lower() or "secret" in n.lower()]
    (step,) = template["steps"]
    (shard,) = step["parameterSpace"]["taskParameterDefinitions"]
    assert (shard["name"], shard["type"], shard["range"]) == ("Shard", "INT", "1-{{Param.ShardCount}}")


def blend_contents(paths: list[str]) -> dict:
    code = (
        "import bpy, json, sys\n"
        "out = {}\n"
        "for path in sys.argv[1:]:\n"
        "    bpy.ops.wm.open_mainfile(filepath=path)\n"
        "    out[path] = {'collections': sorted(c.name for c in bpy.data.collections if c.all_objects),\n"
        "                 'requests': sorted({o['tripo3d_request_id'] for o in bpy.data.objects"
        "                                     if 'tripo3d_request_id' in o})}\n"
        "print('JSON' + json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[0][4:])


@pytest.mark.slow
def test_every_image_imported_once_across_the_shards(sim, user_res, folder, tmp_path):
    inp, images = folder
    out = tmp_path / "out"   # not created: each task makes it
    env = worker_env(PIXAZO_API_KEY=SIM_KEY, PIXAZO_BASE_URL=sim.url, BLENDER_USER_RESOURCES=str(user_res))
    proc = run_template(params_for(str(inp), str(out)), env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert SIM_KEY not in log   # the key came from the environment and was never printed

    keys = {p: shard_key(p, str(inp)) for p in images}
    seen: list[str] = []
    request_ids: set[str] = set()
    blends = []
    for k in range(1, SHARDS + 1):
        jobs = json.loads((out / f"report-{k}.json").read_text())["jobs"]
        mine = [j["image"] for j in jobs]
        assert mine == take_shard(images, k, SHARDS, keys), f"shard {k} took {mine}"
        assert all(j["status"] == "COMPLETED" and j["objects"] for j in jobs)
        seen += mine
        request_ids |= {j["request_id"] for j in jobs}
        blends.append(str(out / f"shard-{k}.blend"))
        assert f"shard {k}/{SHARDS}" in log
    assert sorted(seen) == sorted(images)     # every image, each exactly once
    assert len(request_ids) == len(images)

    # The simulator was paid once per image, with the job's options.
    assert sim.stats()["submits"] == len(images)
    sim_jobs = sim.jobs()
    assert {j["request_id"] for j in sim_jobs} == request_ids
    assert all(j["params"]["texture"] == "HD" for j in sim_jobs)

    contents = blend_contents(blends)
    for k, path in enumerate(blends, 1):
        stems = sorted(os.path.splitext(os.path.basename(i))[0] for i in take_shard(images, k, SHARDS, keys))
        assert contents[path]["collections"] == stems
        report = json.loads((out / f"report-{k}.json").read_text())["jobs"]
        assert set(contents[path]["requests"]) == {j["request_id"] for j in report}


def test_no_key_in_the_worker_environment_fails_before_sending(sim, user_res, folder, tmp_path):
    inp, _ = folder
    env = worker_env(PIXAZO_BASE_URL=sim.url, BLENDER_USER_RESOURCES=str(user_res))
    proc = run_template(params_for(str(inp), str(tmp_path / "out")), env, timeout=120)
    assert proc.returncode != 0
    assert "PIXAZO_API_KEY is not set" in proc.stdout + proc.stderr
    assert sim.stats()["submit_attempts"] == 0


def test_blender_runner_command_line(sim, user_res, folder, tmp_path):
    """Runner=blender, with a stand-in 'blender' that checks the argument
    shape a real Blender needs and then runs the script with bpy (Blender's
    own argument handling was checked by hand; see farm/README.md)."""
    inp, images = folder
    fake = tmp_path / "blender"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        '[ "$1 $2 $3 $4" = "--background --python-exit-code 1 --python" ] && [ "$6" = "--" ] '
        '|| { echo "bad blender arguments: $*" >&2; exit 9; }\n'
        f'exec "{sys.executable}" "$5" "${{@:7}}"\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = worker_env(PIXAZO_API_KEY=SIM_KEY, PIXAZO_BASE_URL=sim.url, BLENDER_USER_RESOURCES=str(user_res))
    params = {**params_for(str(inp), str(out)), "ShardCount": 1, "Runner": "blender", "Blender": str(fake),
              "OnlineMode": "false"}
    proc = run_template(params, env)
    # Without --online-mode the batch refuses to go online: exit 2, nothing sent.
    assert proc.returncode != 0 and "Allow Online Access" in proc.stdout + proc.stderr
    assert "bad blender arguments" not in proc.stdout + proc.stderr
    assert sim.stats()["submit_attempts"] == 0
    proc = run_template({**params, "OnlineMode": "true"}, env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    jobs = json.loads((out / "report-1.json").read_text())["jobs"]
    assert sorted(j["image"] for j in jobs) == sorted(images)
    assert (out / "shard-1.blend").is_file() and sim.stats()["submits"] == len(images)


@pytest.mark.slow
def test_game_ready_parameters_write_fbx_files_with_lods(sim, user_res, tmp_path):
    """Faces, Lods and ExportFormat=fbx through the real runtime: one FBX per image, three LODs each."""
    sim.configure(model_style="tripo")   # 50,000 triangles and 4096 px textures, like Tripo's own
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(2):
        (inp / f"prop {i}.png").write_bytes(make_image("PNG", size=(80 + i, 96), color=(90 * i, 140, 60)))
    out = tmp_path / "out"
    env = worker_env(PIXAZO_API_KEY=SIM_KEY, PIXAZO_BASE_URL=sim.url, BLENDER_USER_RESOURCES=str(user_res))
    params = {**params_for(str(inp), str(out)), "ShardCount": 1, "Faces": 5000, "Lods": 3, "TextureSize": 1024,
              "ExportFormat": "fbx", "ExtraParams": "face_limit=5000 seeds=[1,2]"}
    proc = run_template(params, env, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    jobs = json.loads((out / "report-1.json").read_text())["jobs"]
    files = sorted(f for j in jobs for f in j["exports"])
    assert [os.path.basename(f) for f in files] == ["prop_0.fbx", "prop_1.fbx"]
    assert all(os.path.dirname(f) == str(out / "export") for f in files)
    assert all(j["params"]["face_limit"] == 5000 and j["params"]["seeds"] == [1, 2] for j in sim.jobs())
    for path, model in read_back(files).items():
        lods = sorted(model["meshes"])
        stem = os.path.splitext(os.path.basename(path))[0]
        assert [n.rsplit("_", 1)[1] for n in lods] == ["LOD0", "LOD1", "LOD2"], lods
        triangles = [model["meshes"][n]["triangles"] for n in lods]
        assert abs(triangles[0] - 5000) <= 250 and triangles[0] > triangles[1] > triangles[2], (stem, triangles)
        assert all(model["meshes"][n]["uvs"] for n in lods)
        assert model["images"] and max(max(size) for size in model["images"]) <= 1024
