"""Issue 20, item 7: the batch on Windows, macOS and farms, made to happen on Linux: outputs
held open by another program, a console that cannot print every name."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
from test_batch_cli import folder_of_images
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)

from tripo_addon.blender.cli.outputs import Outputs
from tripo_addon.blender.engine.batch import Outcome
from tripo_addon.core import fsutil

REAL_REPLACE = os.replace


class HeldOpen:
    """os.replace refused with Windows' "access denied" ``fails`` times (a farm monitor reading the file)."""

    def __init__(self, fails: int):
        self.fails, self.calls = fails, 0

    def __call__(self, src, dst):
        self.calls += 1
        if self.calls <= self.fails:
            raise PermissionError(errno.EACCES, "Access is denied", dst)
        return REAL_REPLACE(src, dst)


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(fsutil.time, "sleep", slept.append)
    return slept


def test_a_report_held_open_is_retried_and_a_lasting_refusal_said_once(tmp_path, monkeypatch, no_sleep):
    report = tmp_path / "report.json"
    outputs = Outputs(report=str(report), out=None, out_dir=None, glb_dir=None)
    held = HeldOpen(3)
    monkeypatch.setattr(fsutil.os, "replace", held)
    outputs.job_done(0, Outcome(image="a.png", error="The image a.png could not be read."))
    assert held.calls == 4 and json.loads(report.read_text())["jobs"][0]["image"] == "a.png"
    assert outputs.problems == []

    held = HeldOpen(10_000)
    monkeypatch.setattr(fsutil.os, "replace", held)
    for index in (1, 2):  # the batch goes on: each job's rewrite tries again, the problem is said once
        outputs.job_done(index, Outcome(image=f"{'bc'[index - 1]}.png", error="no"))
    # The first rewrite waited (bounded); the next one tried once, so a held report never slows the batch.
    assert held.calls == len(fsutil.REPLACE_PAUSES) + 1 + 1
    assert no_sleep == list(fsutil.REPLACE_PAUSES[:3]) + list(fsutil.REPLACE_PAUSES)
    assert outputs.problems == [f"Could not save the report {report} (permission denied); make that folder "
                                "writable or pick another."]
    assert len(json.loads(report.read_text())["jobs"]) == 1  # the last good report is still whole
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []

    held = HeldOpen(2)  # the monitor lets go: the final rewrite waits for it again
    monkeypatch.setattr(fsutil.os, "replace", held)
    assert outputs.write_report(final=True) and len(json.loads(report.read_text())["jobs"]) == 3
    assert held.calls == 3


def test_the_batch_goes_on_when_its_report_cannot_be_written(sim, cli_env, tmp_path):  # noqa: F811
    folder_of_images(tmp_path / "in", 2)
    report = tmp_path / "report.json"
    report.mkdir()  # a rename over it fails at every job, as a file held open for good would
    out = tmp_path / "scene.blend"
    proc = run_cli(["--online-mode", str(tmp_path / "in"), "--report", str(report), "--out", str(out),
                    "--poll-interval", "1"], cli_env)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Done: 2 of 2 imported" in proc.stdout and out.is_file() and "Wrote" not in proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: Could not save the report {report} (is a directory); check that folder."]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sim.stats()["submits"] == 2


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_a_console_that_cannot_show_a_name_never_fails_the_batch(sim, cli_env, tmp_path, encoding):  # noqa: F811
    from helpers import make_image
    from test_cli import GENERATE

    name = "stuhl-\u00fc-\u6905\u5b50"
    image = tmp_path / f"{name}.png"
    image.write_bytes(make_image("PNG"))
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "AWS_", "TRIPO3D_UPLOAD"))}
    env.update(cli_env, PYTHONIOENCODING=encoding, TRIPO3D_RETRY_BASE_DELAY="0.05")
    proc = subprocess.run([sys.executable, GENERATE, "--online-mode", str(image), "--report", str(report),
                           "--poll-interval", "1"], capture_output=True, timeout=240, env=env)
    out, err = proc.stdout.decode(encoding), proc.stderr.decode(encoding)  # what the console got is its own
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    shown = name.encode(encoding, "backslashreplace").decode(encoding)  # ascii: stuhl-\xfc-\u6905\u5b50
    assert f"OK {str(image).encode(encoding, 'backslashreplace').decode(encoding)}:" in out
    assert shown in out and "Done: 1 of 1 imported" in out
    assert "Traceback" not in out + err and "UnicodeEncodeError" not in out + err
    text = report.read_bytes().decode("utf-8")
    assert name in text  # the report holds the real name, in UTF-8
    assert json.loads(text)["jobs"][0]["image"] == str(image)


def test_a_blend_held_for_a_moment_is_saved_on_a_later_try(blender, tmp_path, monkeypatch):
    import tripo_addon.blender.cli.outputs as outputs_mod

    out = tmp_path / "scene.blend"
    out.mkdir()  # Blender cannot put its file there, as while a viewer holds it on Windows
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 2:
            out.rmdir()  # the viewer lets go
    monkeypatch.setattr(outputs_mod.time, "sleep", pause)
    outputs = Outputs(report=None, out=str(out), out_dir=None, glb_dir=None)
    assert outputs.save_blend() and out.is_file() and outputs.problems == []
    assert pauses == list(fsutil.REPLACE_PAUSES[:2])


def test_a_blend_held_for_good_is_one_sentence(blender, tmp_path, monkeypatch):
    import tripo_addon.blender.cli.outputs as outputs_mod

    out = tmp_path / "scene.blend"
    out.mkdir()
    pauses = []
    monkeypatch.setattr(outputs_mod.time, "sleep", pauses.append)
    outputs = Outputs(report=None, out=str(out), out_dir=None, glb_dir=None)
    assert not outputs.save_blend() and not outputs.save_blend()
    assert len(outputs.problems) == 1 and outputs.problems[0].startswith(f"Could not save {out} (")
    assert outputs.problems[0].endswith("; check that folder and that no other program holds the file.")
    assert sum(pauses) < 2 * 2.0  # bounded: about 1.5 s a save
    assert not (tmp_path / "scene.blend@").exists()  # Blender's temporary file does not stay


def test_an_output_folder_with_a_path_too_long_says_so(sim, cli_env, tmp_path):  # noqa: F811
    folder_of_images(tmp_path / "in", 1)
    too_long = tmp_path / ("g" * 300)  # one name over what the file system allows
    proc = run_cli(["--online-mode", str(tmp_path / "in"), "--glb-dir", str(too_long)], cli_env)
    assert proc.returncode == 2
    assert (f"error: Cannot write into the folder for --glb-dir {too_long} (the path is too long); "
            "pick a folder you can write to.") in proc.stderr
    assert sim.stats()["submits"] == 0


def test_a_per_image_blend_held_for_a_moment_is_written_on_a_later_try(blender, tmp_path, monkeypatch):
    import tripo_addon.blender.cli.outputs as outputs_mod
    from tripo_addon.core.jobs import Job

    collection = blender.data.collections.new("chair")
    blender.context.scene.collection.children.link(collection)
    obj = blender.data.objects.new("chair_mesh", blender.data.meshes.new("chair_mesh"))
    collection.objects.link(obj)
    job = Job(source="chair.png", params={}, content_hash="e" * 64)
    job.objects = [obj.name]
    target = tmp_path / "chair.blend"
    target.mkdir()  # held, as by a viewer on Windows
    pauses = []

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 3:
            target.rmdir()
    monkeypatch.setattr(outputs_mod.time, "sleep", pause)
    outputs = Outputs(report=None, out=None, out_dir=str(tmp_path), glb_dir=None)
    outputs._write_own_blend(Outcome(image="chair.png", job=job), str(target))
    assert target.is_file() and outputs.problems == [] and len(pauses) == 3
    assert "chair_mesh" not in blender.data.objects  # without --out the model left the scene once saved


def test_output_names_stay_short_and_distinct():
    from tripo_addon.blender.cli.outputs import readable_stem

    taken: set[str] = set()
    long_name = "\U00020000" * 70
    names = [readable_stem(f"/in/{long_name}{i}.png", taken) for i in range(2)] + [
        readable_stem("/in/chair.png", taken), readable_stem("/other/Chair.png", taken)]
    assert all(fsutil.path_length(n) <= 60 + 3 for n in names) and len(set(names)) == 4
    assert names[2:] == ["chair", "Chair_2"]
