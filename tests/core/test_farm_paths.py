"""Issue 20, item 7: every path the engine writes for a job stays well inside Windows' 260
characters for a download folder of 150, whatever the image is called. The paths are caught
as Python opens, renames and makes them (audit events), not guessed from the code."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

import pytest
from helpers import make_image

from tripo_addon.core import preview_png
from tripo_addon.core.engine.runner import RunSettings, advance
from tripo_addon.core.images import prepare
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.journal.store import Journal

def path_length(path: str) -> int:
    """As Windows counts: UTF-16 units."""
    return len(path.encode("utf-16-le")) // 2


#: "Well inside" 260: room for a longer process id, a Windows drive prefix and a slip.
WELL_INSIDE = 230

_recorders: list[list[str]] = []
_hook_lock = threading.Lock()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


def _audit(event: str, args) -> None:
    if not _recorders:
        return
    paths = []
    if event == "open":
        path, mode, flags = args
        if (mode and any(c in mode for c in "wax+")) or (mode is None and flags & _WRITE_FLAGS):
            paths.append(path)
    elif event in ("os.rename", "shutil.copyfile"):
        paths.append(args[1])
    elif event == "os.mkdir":
        paths.append(args[0])
    for path in paths:
        if isinstance(path, (str, bytes, os.PathLike)):
            path = os.fsdecode(path)
            with _hook_lock:
                for found in _recorders:
                    found.append(path)


sys.addaudithook(_audit)  # hooks stay for the process: it records only inside written_paths()


@contextmanager
def written_paths():
    found: list[str] = []
    _recorders.append(found)
    try:
        yield found
    finally:
        _recorders.remove(found)


@pytest.mark.parametrize("stem", [
    "\U00020000\U00020001" * 30 + " chair",  # CJK extension B letters: two UTF-16 units each
    "a very long product photo name of a chair seen from the front " * 3,
    "stuhl-\u00fc-\u6905\u5b50",
])
def test_every_path_a_job_writes_stays_well_inside_260(sim, client, tmp_path, params, stem):
    base = str(tmp_path)
    downloads = os.path.join(base, "d" * (150 - len(base) - 1))
    assert len(downloads) == 150
    source = tmp_path / "in" / f"{stem}.png"
    source.parent.mkdir()
    source.write_bytes(make_image("PNG", size=(64, 48)))
    prepared = prepare(str(source))
    journal = Journal(os.path.join(base, "journal"))
    job = Job(source=str(source), params=params, content_hash=prepared.content_hash)
    journal.save(job)
    with written_paths() as written:
        job = advance(job, client, journal, image_url=prepared.image_url,
                      settings=RunSettings(poll_interval=0.02, downloads_dir=downloads))
        assert job.state == State.DOWNLOADED, job.error
        preview_png.write(preview_png.path_for(job.glb_path), 1, 1, [1.0, 0.0, 0.0, 1.0])
    in_downloads = sorted({p for p in written if p.startswith(downloads + os.sep)})
    assert any(p.endswith(".part") for p in in_downloads) and job.glb_path in in_downloads
    assert any(p.endswith(".preview.png") for p in in_downloads)
    assert any(p.endswith(".tmp") for p in in_downloads)  # the preview's temporary file
    longest = max(in_downloads, key=path_length)
    assert path_length(longest) <= WELL_INSIDE, longest
    in_journal = {p for p in written if p.startswith(journal.directory + os.sep)}
    assert any(p.endswith(".json") for p in in_journal) and in_journal | set(in_downloads) | {downloads} >= set(written)
    # The journal's own names are short whatever the image is called: it sits in the Blender user
    # folder, itself often 100 characters on Windows.
    assert max(path_length(p) - len(journal.directory) for p in in_journal) <= 80, sorted(in_journal)
    assert os.path.basename(job.glb_path).startswith(stem.replace(" ", "_")[:10])  # still named after it


def test_short_names_stay_distinct_and_short():
    from tripo_addon.core.fsutil import short_name

    long_a, long_b = "x" * 60 + "a", "x" * 60 + "b"
    assert short_name("chair", 40) == "chair"
    assert short_name(long_a, 40) != short_name(long_b, 40)
    assert all(38 <= path_length(short_name(n, 40)) <= 40 for n in (long_a, "\U00020000" * 50))
    assert short_name(long_a, 40) == short_name(long_a, 40)  # stable: a resumed job finds its file
