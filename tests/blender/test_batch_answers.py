"""Every input of a batch answers: one result line and one report entry under its own name,
inputs that are the same picture as another included, and ``Done: A of N`` adds up to N."""

from __future__ import annotations

import json
import os
import re

import pytest
from helpers import SIM_KEY, make_image
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)


def _lines(proc, word: str) -> list[str]:
    return [ln for ln in proc.stdout.splitlines() if re.match(rf"\[\d+/\d+\] {word} ", ln)]


@pytest.mark.parametrize("jobs", ["8", "1"])
def test_same_picture_twice_answers_for_each_input_and_pays_once(sim, cli_env, tmp_path, jobs):  # noqa: F811
    """At --jobs 8 the copies share the job in flight; at --jobs 1 they take its model from disk."""
    sim.configure(queue_seconds=0.3, processing_seconds=0.5)
    folder = tmp_path / "in"
    folder.mkdir()
    same = make_image("PNG", size=(50, 40), color=(10, 200, 30))
    copies = [folder / "a_first.png", folder / "b_copy.png", folder / "c_copy.png"]
    for p in copies:
        p.write_bytes(same)
    other = folder / "d_other.png"
    other.write_bytes(make_image("PNG", size=(52, 40), color=(200, 20, 30)))
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", "--jobs", jobs, "--poll-interval", "1", str(folder), "--report", str(report)],
                   cli_env)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert proc.returncode == 0, out[-3000:]
    assert sim.stats()["submits"] == 2
    entries = json.loads(report.read_text())["jobs"]
    # One entry per input, each under its own name, in the order given.
    assert [j["image"] for j in entries] == [str(p) for p in (*copies, other)], entries
    assert all(j["status"] == "COMPLETED" and j["objects"] for j in entries), entries
    # The input whose job it is is named in the others' entries, and answers too.
    started = [j for j in entries[:3] if "same_picture_as" not in j]
    assert len(started) == 1, entries
    owner = started[0]["image"]
    assert {j["request_id"] for j in entries[:3]} == {started[0]["request_id"]}
    assert all(j["same_picture_as"] == owner for j in entries[:3] if j is not started[0])
    assert "same_picture_as" not in entries[3]
    # One result line per input, under its own name.
    lines = _lines(proc, "OK")
    assert len(lines) == 4, out[-3000:]
    for p in (*copies, other):
        assert sum(f" {p}:" in ln for ln in lines) == 1, (p, lines)
    for p in copies:
        if str(p) != owner:
            assert sum(f"OK {p}: same picture as {owner}; no new charge" in ln for ln in lines) == 1, lines
    assert "Done: 4 of 4 imported" in proc.stdout


def _dds(w: int = 8, h: int = 8) -> bytes:
    """An uncompressed 32-bit DDS file."""
    import struct

    pf = struct.pack("<8I", 32, 0x41, 0, 32, 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    header = (struct.pack("<7I", 124, 0x100F, h, w, w * 4, 0, 0) + b"\0" * 44 + pf
              + struct.pack("<5I", 0x1000, 0, 0, 0, 0))
    return b"DDS " + header + bytes([30, 60, 200, 255]) * (w * h)


def test_an_input_the_add_on_fails_on_still_answers(sim, cli_env, tmp_path):  # noqa: F811
    """A DDS file (Blender reads it; the add-on's handling of it has failed inside) gets its line and
    entry like any other input: imported, or one sentence (an internal error's traceback in the bug log)."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dds").write_bytes(_dds())
    (folder / "b.png").write_bytes(make_image("PNG", size=(50, 40)))
    report = tmp_path / "r.json"
    proc = run_cli(["--online-mode", "--poll-interval", "1", str(folder / "a.dds"), str(folder / "b.png"),
                    "--report", str(report)], cli_env)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    entries = json.loads(report.read_text())["jobs"]
    assert [os.path.basename(j["image"]) for j in entries] == ["a.dds", "b.png"], entries
    assert entries[1]["status"] == "COMPLETED"
    lines = _lines(proc, "(OK|FAILED)")
    assert len(lines) == 2 and sum(f" {folder / 'a.dds'}:" in ln for ln in lines) == 1, out[-3000:]
    if entries[0]["status"] != "COMPLETED":
        assert entries[0]["error"].count(". ") <= 2 and "Traceback" not in entries[0]["error"]
    ok = sum(j["status"] == "COMPLETED" for j in entries)
    assert f"Done: {ok} of 2 imported" in proc.stdout


def test_a_bug_while_a_job_runs_fails_that_input_alone(blender, sim, image_files, monkeypatch):
    """A bug in the engine (here a listener that raises) marks its job; the batch answers for every input."""
    from tripo_addon.blender import settings as settings_mod
    from tripo_addon.blender.engine import batch
    from tripo_addon.core.jobs import State

    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    settings = settings_mod.current(prefer_env=True)
    settings.api_key, settings.poll_interval = SIM_KEY, 1.0

    def buggy(job, event):
        if job.source == image_files["png"] and job.state == State.QUEUED:
            raise KeyError("a bug in a listener")

    answered = []
    outcomes = batch.run([image_files["png"], image_files["jpg"]], settings=settings, jobs=2, on_event=buggy,
                         on_done=lambda i, o: answered.append(i))
    assert sorted(answered) == [0, 1]
    bad, good = outcomes
    assert good.ok, good.error
    assert not bad.ok and bad.error_kind == "internal" and "internal error (KeyError)" in bad.error
    assert bad.job is not None and bad.job.request_id  # paid: its request id is kept
    from tripo_addon.blender.user_data import journal

    log = os.path.join(journal().directory, "logs", "bugs.log")
    assert "a bug in a listener" in open(log, encoding="utf-8").read()


def test_a_stop_is_never_taken_for_a_bug(blender, sim, image_files, monkeypatch):
    """Ctrl-C raised inside the engine's broad handlers (here from a listener, applied in the tick)
    ends the run; it is not marked as that image's internal error."""
    from tripo_addon.blender import settings as settings_mod
    from tripo_addon.blender.cli.main import _Interrupted
    from tripo_addon.blender.engine import batch
    from tripo_addon.core.jobs import State

    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    settings = settings_mod.current(prefer_env=True)
    settings.api_key, settings.poll_interval = SIM_KEY, 1.0

    def ctrl_c(job, event):
        if job.state == State.QUEUED:
            raise _Interrupted("Ctrl-C", 130)

    answered = []
    with pytest.raises(_Interrupted):
        batch.run([image_files["png"]], settings=settings, jobs=1, on_event=ctrl_c,
                  on_done=lambda i, o: answered.append(o))
    [stopped] = answered  # answered all the same, with its paid request id
    assert stopped.error_kind != "internal" and stopped.job is not None and stopped.job.request_id
    assert "without paying twice" in stopped.error
