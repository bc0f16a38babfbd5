"""Issue 20, item 7: what Windows, macOS and farm shares do to file writes, made to happen on
Linux by fault injection: renames refused while another program holds the file, save errors that
say what they are, and the drive-cache flush of macOS."""

from __future__ import annotations

import errno
import os

import pytest

from tripo_addon.core import buglog, fsutil
from tripo_addon.core.jobs import Job

REAL_REPLACE = os.replace


class FlakyReplace:
    """os.replace that raises ``make_error()`` ``fails`` times, then works."""

    def __init__(self, fails: int, make_error=None):
        self.fails, self.calls = fails, 0
        self.make_error = make_error or (lambda dst: PermissionError(errno.EACCES, "Access is denied", dst))

    def __call__(self, src, dst):
        self.calls += 1
        if self.calls <= self.fails:
            raise self.make_error(dst)
        return REAL_REPLACE(src, dst)


def sharing_violation(dst):
    """What Windows raises when a farm monitor has the file open without FILE_SHARE_DELETE."""
    exc = OSError(errno.EINVAL, "The process cannot access the file because it is being used by another process", dst)
    exc.winerror = 32  # set by hand: Linux ignores OSError's winerror argument
    return exc


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(fsutil.time, "sleep", slept.append)
    return slept


# --- 1. one rename helper, retried while the file is held open ---------------------------


@pytest.mark.parametrize("make_error", [None, sharing_violation], ids=["access-denied", "sharing-violation"])
def test_a_rename_held_open_for_a_moment_is_retried(tmp_path, monkeypatch, no_sleep, make_error):
    flaky = FlakyReplace(3, make_error)
    monkeypatch.setattr(fsutil.os, "replace", flaky)
    target = tmp_path / "report.json"
    target.write_text("old")
    fsutil.write_atomically(str(target), b"new")
    assert target.read_text() == "new" and flaky.calls == 4
    assert no_sleep == list(fsutil.REPLACE_PAUSES[:3])
    assert os.listdir(tmp_path) == ["report.json"]  # no temporary file left


def test_a_rename_held_for_good_fails_after_a_bounded_wait(tmp_path, monkeypatch, no_sleep):
    monkeypatch.setattr(fsutil.os, "replace", FlakyReplace(100, sharing_violation))
    target = tmp_path / "report.json"
    with pytest.raises(OSError) as info:
        fsutil.write_atomically(str(target), b"new")
    assert sum(no_sleep) < 2.0 and len(no_sleep) == len(fsutil.REPLACE_PAUSES)
    assert fsutil.save_failure(info.value, "the report") == (
        "Could not save the report (another program has the file open); close the program that holds it "
        "(a viewer, a sync tool).")
    assert os.listdir(tmp_path) == []


def test_other_rename_errors_are_not_retried(tmp_path, monkeypatch, no_sleep):
    monkeypatch.setattr(fsutil.os, "replace", FlakyReplace(1, lambda dst: OSError(errno.EXDEV, "cross-device", dst)))
    with pytest.raises(OSError):
        fsutil.replace(str(tmp_path / "a"), str(tmp_path / "b"))
    assert no_sleep == []


def test_the_bug_log_rotation_goes_through_the_helper(tmp_path, monkeypatch, no_sleep):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "bugs.log").write_bytes(b"x" * (buglog.MAX_BYTES + 1))
    flaky = FlakyReplace(2)
    monkeypatch.setattr(fsutil.os, "replace", flaky)
    path = buglog.record(str(tmp_path), ValueError("boom"), "a test")
    assert path and flaky.calls == 3
    assert os.path.getsize(logs / "bugs.log.1") == buglog.MAX_BYTES + 1


def test_no_module_renames_by_itself():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "tripo_addon")
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py") and name != "fsutil.py":
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    text = f.read()
                found += [f"{name}: {w}" for w in ("os.replace(", "os.rename(", "shutil.move(") if w in text]
    assert found == []


# --- 2. a failed save says what it is ------------------------------------------------------


def _winerror(code: int, filename: str = "C:\\x"):
    exc = OSError(errno.ENOENT if code == 3 else errno.EINVAL, "Windows error", filename)
    exc.winerror = code
    return exc


LONG = "C:\\" + "d" * 150 + "\\" + "n" * 120 + ".glb"


@pytest.mark.parametrize("exc,reason,advice", [
    (OSError(errno.ENAMETOOLONG, "File name too long"), "the path is too long", "shorter path"),
    (_winerror(206), "the path is too long", "shorter path"),
    (_winerror(3, LONG), "the path is too long", "shorter path"),
    (_winerror(3, "C:\\gone\\x.glb"), "windows error", "check that folder"),
    (PermissionError(errno.EACCES, "Permission denied"), "permission denied", "writable"),
    (OSError(errno.EPERM, "Operation not permitted"), "permission denied", "writable"),
    (_winerror(32), "another program has the file open", "close the program"),
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full", "free some disk space"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "the disk quota is used up", "quota"),
    (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only", "writable disk"),
    (OSError(errno.EIO, "Input/output error"), "input/output error", "check that folder"),
], ids=["enametoolong", "win206", "win3-long", "win3-short", "eacces", "eperm", "win32", "enospc", "edquot",
        "erofs", "other"])
def test_each_save_error_says_what_it_is(exc, reason, advice):
    sentence = fsutil.save_failure(exc, "the model of chair.png", "D:\\models",
                                   then=", and the job resumes without a new charge")
    assert sentence.startswith(f"Could not save the model of chair.png in D:\\models ({reason}); ")
    assert advice in sentence and sentence.endswith(", and the job resumes without a new charge.")
    assert ("disk space" in sentence) == (exc.errno == errno.ENOSPC)


def test_a_journal_path_too_long_is_not_called_a_full_disk(tmp_path):
    from tripo_addon.core import errors as E
    from tripo_addon.core.journal.store import Journal

    journal = Journal(str(tmp_path / ("j" * 300)))  # one name over the 255 a Linux file system allows
    with pytest.raises(E.JournalUnwritable) as info:
        journal.save(Job(source="chair.png", params={}, content_hash="e" * 64))
    assert "(the path is too long); pick a folder with a shorter path" in info.value.message
    assert "disk space" not in info.value.message


# --- 3. the durable write of macOS -----------------------------------------------------------


class FakeFcntl:
    """The part of macOS's fcntl module a durable write uses (the constant is macOS's own)."""

    F_FULLFSYNC = 51

    def __init__(self):
        self.calls = []

    def fcntl(self, fd, command):
        self.calls.append((fd, command))
        return 0


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync

    def recording(fd):
        calls.append(fd)
        return real(fd)
    monkeypatch.setattr(fsutil.os, "fsync", recording)
    return calls


def test_a_durable_write_asks_the_drive_to_flush_where_it_can(journal, monkeypatch, fsyncs):
    fake = FakeFcntl()
    monkeypatch.setattr(fsutil, "fcntl", fake)
    journal.save(Job(source="chair.png", params={}, content_hash="e" * 64))
    assert fake.calls and all(cmd == FakeFcntl.F_FULLFSYNC for _, cmd in fake.calls)
    assert fsyncs == []  # every durable write of the journal went through the helper


def test_a_durable_write_falls_back_to_fsync(tmp_path, monkeypatch, fsyncs):
    import fcntl

    assert not hasattr(fcntl, "F_FULLFSYNC")  # Linux
    fsutil.write_atomically(str(tmp_path / "r.json"), b"{}")
    assert len(fsyncs) == 1

    class Refusing(FakeFcntl):  # a share that does not know F_FULLFSYNC
        def fcntl(self, fd, command):
            raise OSError(errno.ENOTSUP, "Operation not supported")
    monkeypatch.setattr(fsutil, "fcntl", Refusing())
    fsutil.write_atomically(str(tmp_path / "r.json"), b"{}")
    assert len(fsyncs) == 2
    monkeypatch.setattr(fsutil, "fcntl", None)  # Windows: no fcntl module
    fsutil.write_atomically(str(tmp_path / "r.json"), b"{}")
    assert len(fsyncs) == 3


def test_the_journal_keeps_why_a_record_waits_in_memory(journal, monkeypatch, no_sleep):
    from tripo_addon.core import errors as E

    monkeypatch.setattr(fsutil.os, "replace", FlakyReplace(100, lambda dst: OSError(errno.EROFS, "Read-only", dst)))
    job = Job(source="chair.png", params={}, content_hash="e" * 64)
    job.request_id = "tripo3d-v2-5-413_paid"
    with pytest.raises(E.JournalUnwritable) as info:
        journal.save(job)
    assert "(the file system is read-only); pick a folder on a writable disk" in info.value.message
    assert journal.last_write_error.errno == errno.EROFS and no_sleep == []  # not retried: not held open
    assert fsutil.os_error_reason(journal.last_write_error)[0] == "the file system is read-only"
    monkeypatch.setattr(fsutil.os, "replace", REAL_REPLACE)
    assert journal.flush_unsaved() == 1 and journal.last_write_error is None
