"""The batch command's game-ready options end to end (scripts/generate.py in its own
process against the simulator): their checks, extra gateway fields, the post-script,
and the optimised, exported models read back by Blender's own importers."""

from __future__ import annotations

import json
import os

import pytest
from bhelpers import run_python
from helpers import make_image, read_back
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)


def images(folder, n: int, prefix: str = "shot") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"{prefix}_{i:02d}.png"
        path.write_bytes(make_image("PNG", size=(64 + i, 48), color=(20 + 11 * i, 140, 220 - 9 * i)))
        out.append(str(path))
    return out


def test_help_lists_the_game_ready_options():
    proc = run_cli(["--help"])
    assert proc.returncode == 0
    for option in ("--faces", "--texture-size", "--lods", "--export-dir", "--export-format", "--apply-transforms",
                   "--post-script", "--param"):
        assert option in proc.stdout
    flat = " ".join(proc.stdout.split())
    assert "documents three fields" in flat and "may ignore any other" in flat
    assert "face_limit, pbr, quad, auto_size, texture_quality, seeds" in flat


BROKEN = "def process(objects, info)\n    pass\n"
NO_FUNCTION = "print('no process here')\n"


@pytest.mark.parametrize("args, expect", [
    (["--faces", "-5"], "--faces must be a whole number of triangles"),
    (["--faces", "lots"], "--faces must be a whole number of triangles"),
    (["--faces", "2"], "leaves no shape"),
    (["--lods", "0"], "--lods must be a whole number from 1"),
    (["--texture-size", "99999"], "--texture-size must be a whole number of pixels"),
    (["--export-dir", "{tmp}/exp", "--export-format", "max"], "is not one Blender writes here"),
    (["--export-format", "fbx"], "--export-format needs --export-dir"),
    (["--param", "texture=HD"], "use --texture"),
    (["--param", "face_limit"], "is not NAME=VALUE"),
    (["--post-script", "{tmp}/missing.py"], "does not exist"),
    (["--post-script", "{tmp}/broken.py"], "could not be loaded"),
    (["--post-script", "{tmp}/nofunc.py"], "defines no process(objects, info)"),
])
def test_bad_game_ready_values_are_one_line_and_exit_2(sim, cli_env, tmp_path, args, expect):  # noqa: F811
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "nofunc.py").write_text(NO_FUNCTION)
    [image] = images(tmp_path / "in", 1)
    proc = run_cli(["--online-mode", image, *[a.replace("{tmp}", str(tmp_path)) for a in args]], cli_env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sim.stats()["submit_attempts"] == 0


def test_extra_fields_reach_the_gateway_as_they_are(sim, cli_env, tmp_path):  # noqa: F811
    [image] = images(tmp_path / "in", 1)
    args = ["--online-mode", image, "--poll-interval", "1", "--param", "face_limit=8000", "--param", "pbr=false",
            "--param", "quad=yes"]
    proc = run_cli(args, cli_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [job] = sim.jobs()
    assert (job["params"]["face_limit"], job["params"]["pbr"], job["params"]["quad"]) == (8000, False, "yes")
    assert job["params"]["texture"] == "standard"
    assert run_cli(args, cli_env).returncode == 0 and sim.stats()["submits"] == 1   # the same job: not paid twice


POST_SCRIPT = '''
import json, os
SEEN = []

def process(objects, info):
    SEEN.append(info["image"])
    if "shot_01" in info["image"]:
        raise ValueError("this one has no base")
    for obj in objects:
        obj["post_script_saw"] = json.dumps(
            {"n": len(SEEN), "request_id": info["request_id"], "job_id": info["job_id"],
             "export_path": info["export_path"], "collection": info["collection"]})
'''


def test_a_raising_post_script_fails_its_image_alone_and_leaves_no_trace(sim, cli_env, tmp_path):  # noqa: F811
    script = tmp_path / "post.py"
    script.write_text(POST_SCRIPT)
    shots = images(tmp_path / "in", 3)
    out, report = tmp_path / "scene.blend", tmp_path / "r.json"
    proc = run_cli(["--online-mode", *shots, "--post-script", str(script), "--out", str(out),
                    "--report", str(report), "--poll-interval", "1", "--jobs", "3"], cli_env)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    jobs = {os.path.basename(j["image"]): j for j in json.loads(report.read_text())["jobs"]}
    failed = jobs["shot_01.png"]
    assert failed["status"] == "POST_PROCESS_FAILED" and failed["objects"] == [] and failed["request_id"]
    assert failed["error"] == f"The post-script {script} failed on shot_01.png: this one has no base (line 8)."
    [said] = [ln for ln in proc.stdout.splitlines() if " FAILED " in ln]
    assert said.endswith(f"] FAILED {shots[1]}: {failed['error']}")
    assert all(jobs[n]["status"] == "COMPLETED" for n in ("shot_00.png", "shot_02.png"))
    code = (f"import bpy, json\nbpy.ops.wm.open_mainfile(filepath={str(out)!r})\n"
            "print('JSON' + json.dumps({'collections': sorted(c.name for c in bpy.data.collections),"
            " 'meshes': len(bpy.data.meshes), 'images': len(bpy.data.images),"
            " 'seen': {o.name: json.loads(o['post_script_saw']) for o in bpy.data.objects"
            " if 'post_script_saw' in o}}))\n")
    [line] = [ln for ln in run_python(code).stdout.splitlines() if ln.startswith("JSON")]
    saved = json.loads(line[4:])
    assert saved["collections"] == ["shot_00", "shot_02"]   # the failed model was taken out again
    assert saved["meshes"] == 2
    seen = list(saved["seen"].values())
    assert len(seen) == 2 and {s["request_id"] for s in seen} == {jobs["shot_00.png"]["request_id"],
                                                                  jobs["shot_02.png"]["request_id"]}
    assert {s["collection"] for s in seen} == {"shot_00", "shot_02"} and all(s["export_path"] is None for s in seen)
    assert sim.stats()["submits"] == 3


@pytest.mark.slow
def test_twenty_images_to_twenty_fbx_files_with_three_lods(sim, cli_env, tmp_path):  # noqa: F811
    """Done means: 20 images with --faces 5000 --texture-size 1024 --lods 3 --export-format fbx
    write 20 FBX files that open again with three LODs each, LOD0 about 5,000 triangles,
    textures at most 1024 px (the simulator serves Tripo-like models: 50,000 triangles, 4096 px)."""
    sim.configure(model_style="tripo")
    shots = images(tmp_path / "in", 20)
    exports, report = tmp_path / "game", tmp_path / "r.json"
    proc = run_cli(["--online-mode", str(tmp_path / "in"), "--faces", "5000", "--texture-size", "1024", "--lods", "3",
                    "--export-format", "fbx", "--export-dir", str(exports), "--report", str(report),
                    "--poll-interval", "1", "--jobs", "8"], cli_env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = json.loads(report.read_text())["jobs"]
    assert sorted(j["image"] for j in jobs) == shots and all(j["status"] == "COMPLETED" for j in jobs)
    files = [f for j in jobs for f in j["exports"]]
    assert sorted(os.path.basename(f) for f in files) == sorted(f"shot_{i:02d}.fbx" for i in range(20))
    assert sorted(os.listdir(exports)) == sorted(os.path.basename(f) for f in files)
    models = read_back(files, timeout=1200)
    for path, model in models.items():
        names = sorted(model["meshes"])
        assert [n.rsplit("_", 1)[1] for n in names] == ["LOD0", "LOD1", "LOD2"], (path, names)
        tris = [model["meshes"][n]["triangles"] for n in names]
        assert abs(tris[0] - 5000) <= 250, (path, tris)         # within 5% of the budget
        assert abs(tris[1] - 2500) <= 125 and abs(tris[2] - 1250) <= 63, (path, tris)
        assert all(model["meshes"][n]["uvs"] for n in names)
        assert model["images"] and max(max(size) for size in model["images"]) <= 1024, (path, model["images"])
    assert sim.stats()["submits"] == 20


def test_export_dir_alone_writes_glb_and_same_names_stay_apart(sim, cli_env, tmp_path):  # noqa: F811
    """Two images named alike in two folders: two files, the second with _2; the default format is GLB."""
    first = images(tmp_path / "a", 1, prefix="chair")[0]
    second = images(tmp_path / "b", 1, prefix="chair")[0]
    (tmp_path / "b" / "chair_00.png").write_bytes(make_image("PNG", size=(90, 60), color=(10, 200, 30)))
    exports, report = tmp_path / "out", tmp_path / "r.json"
    proc = run_cli(["--online-mode", first, second, "--export-dir", str(exports), "--apply-transforms",
                    "--report", str(report), "--poll-interval", "1", "--jobs", "1"], cli_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = json.loads(report.read_text())["jobs"]
    assert [os.path.basename(j["exports"][0]) for j in jobs] == ["chair_00.glb", "chair_00_2.glb"]
    said = [ln for ln in proc.stdout.splitlines() if " OK " in ln]
    assert len(said) == 2 and all(ln.endswith(f"; exported {j['exports'][0]}") for ln, j in
                                  zip(sorted(said, key=lambda ln: "_2.glb" in ln), jobs, strict=True))
    models = read_back([j["exports"][0] for j in jobs])
    assert all(m["meshes"] and all(v["uvs"] for v in m["meshes"].values()) for m in models.values())
