"""Issue 9, class 12: what Windows does to the journal, made to happen on
Linux: renames refused with PermissionError for a moment (an antivirus or
another program holding the file) are retried; drive-letter and non-ASCII
paths work."""

from __future__ import annotations

import errno
import os

import pytest

from tripo_addon.core import errors as E
from tripo_addon.core import fsutil
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.journal.store import Journal


REAL_REPLACE = os.replace


class FlakyReplace:
    """os.replace that raises PermissionError (Windows' "access denied") ``fails`` times, then works."""

    def __init__(self, fails: int):
        self.fails, self.calls = fails, 0
        self.real = REAL_REPLACE

    def __call__(self, src, dst):
        self.calls += 1
        if self.calls <= self.fails:
            raise PermissionError(errno.EACCES, "Access is denied", dst)
        return self.real(src, dst)


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(fsutil.time, "sleep", slept.append)
    return slept


def a_job(source: str = "chair.png") -> Job:
    return Job(source=source, params={"texture": "standard"}, content_hash="e" * 64)


@pytest.mark.parametrize("fails", [1, 3, len(fsutil.REPLACE_PAUSES)])
def test_journal_rename_refused_for_a_moment_is_retried(journal, monkeypatch, no_sleep, fails):
    flaky = FlakyReplace(fails)
    monkeypatch.setattr(fsutil.os, "replace", flaky)
    job = a_job()
    job.request_id = "tripo3d-v2-5-413_paid"
    journal.save(job)
    assert flaky.calls == fails + 1
    assert no_sleep == list(fsutil.REPLACE_PAUSES[:fails])  # short pauses, growing
    assert journal.load(job.id).request_id == "tripo3d-v2-5-413_paid"
    assert [n for n in os.listdir(journal.jobs_dir) if n.endswith(".tmp")] == []


def test_rename_refused_for_good_is_one_sentence_and_kept_in_memory(journal, monkeypatch, no_sleep):
    monkeypatch.setattr(fsutil.os, "replace", FlakyReplace(100))
    job = a_job()
    with pytest.raises(E.JournalUnwritable) as info:
        journal.save(job)
    assert "permission denied" in info.value.message and journal.jobs_dir in info.value.message
    assert sum(no_sleep) < 2.0  # bounded: about 1.5 s in all on a real Windows box
    assert job.id in journal.unsaved
    assert [n for n in os.listdir(journal.jobs_dir) if n.endswith(".tmp")] == []
    monkeypatch.setattr(fsutil.os, "replace", FlakyReplace(0))
    assert journal.flush_unsaved() == 1 and journal.load(job.id) is not None


def test_download_rename_is_retried_too(sim, client, prepared, tmp_path, monkeypatch, no_sleep):
    res = client.submit(prepared.image_url)
    import time

    for _ in range(200):
        st = client.status(res.request_id)
        if not st.is_pending:
            break
        time.sleep(0.02)
    flaky = FlakyReplace(2)
    monkeypatch.setattr(fsutil.os, "replace", flaky)
    dest = str(tmp_path / "model.glb")
    assert client.download(st.media_urls, dest) == dest and os.path.getsize(dest) > 12
    assert flaky.calls == 3


@pytest.mark.parametrize("source,stem", [
    ("C:\\Users\\Zo\u00eb\\Pictures\\chaise longue.png", "chaise_longue"),
    ("D:stuhl.jpg", "stuhl"),
    ("\\\\nas\\share\\\u00e9tag\u00e8re\\Bild \u00e4.png", "Bild_\u00e4"),
    ("c:/Users/me/\u6905\u5b50.webp", "\u6905\u5b50"),
    ("C:\\", "model"),
])
def test_windows_paths_name_the_download_after_the_file(journal, source, stem):
    job = a_job(source)
    path = journal.download_path(job)
    assert os.path.dirname(path) == journal.downloads_dir
    assert os.path.basename(path) == f"{stem}-{job.id[:8]}.glb"


def test_journal_in_a_non_ascii_folder(tmp_path):
    journal = Journal(str(tmp_path / "Benutzer Zo\u00eb" / "\u30d6\u30ec\u30f3\u30c0\u30fc" / "tripo3d"))
    job = a_job("C:\\Bilder\\Stuhl \u00fc.png")
    job.state = State.QUEUED
    journal.save(job)
    assert [j.id for j in journal.all()] == [job.id]
    assert journal.load(job.id).source == job.source
    lock = journal.try_lock(job.key)
    assert lock is not None and journal.try_lock(job.key) is None
    lock.release()
    path = journal.download_path(job)
    with open(path, "wb") as f:
        f.write(b"glTF")
    assert os.path.basename(path).startswith("Stuhl_\u00fc-") and os.path.exists(path)
