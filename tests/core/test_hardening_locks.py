"""Issue 9, class 11: a file system that cannot lock is told apart from
"another process is working on it", and lock files do not pile up (removed
on release, crash leftovers pruned when a journal opens) without ever
letting two holders claim one job."""

from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tripo_addon.core import errors as E
from tripo_addon.core.journal import locks as locks_mod
from tripo_addon.core.journal.store import Journal

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "ab" * 32
posix_only = pytest.mark.skipif(os.name == "nt", reason="flock semantics")


def lock_files(journal: Journal) -> list[str]:
    return sorted(os.listdir(journal.locks_dir))


@posix_only
@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EIO])
def test_file_system_that_cannot_lock_is_its_own_error(journal, monkeypatch, code):
    def flock(fd, op):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(locks_mod.fcntl, "flock", flock)
    with pytest.raises(E.LockUnsupported) as info:
        journal.try_lock(KEY)
    msg = info.value.message
    assert info.value.kind == "lock_unsupported" and isinstance(info.value, OSError)
    assert len(msg.splitlines()) == 1
    assert journal.locks_dir in msg and "cannot lock files" in msg and "another" not in msg.split(",")[0]


@posix_only
@pytest.mark.parametrize("code", [errno.EWOULDBLOCK, errno.EAGAIN])
def test_lock_held_elsewhere_is_busy_not_an_error(journal, monkeypatch, code):
    monkeypatch.setattr(locks_mod.fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(code, "busy")))
    assert journal.try_lock(KEY) is None


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from tripo_addon.core.journal.store import Journal
    lock = Journal({folder!r}).try_lock({key!r})
    print("held" if lock else "busy", flush=True)
    if sys.argv[1] == "crash":
        import os; os._exit(0)          # dies holding it: the OS drops the lock, the file stays
    time.sleep(30)
""")


def holder(folder: str, how: str) -> subprocess.Popen:
    code = HOLDER.format(repo=REPO, folder=folder, key=KEY)
    proc = subprocess.Popen([sys.executable, "-c", code, how], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holding_it_is_busy_and_its_file_is_not_pruned(tmp_path):
    folder = str(tmp_path / "j")
    proc = holder(folder, "hold")
    try:
        journal = Journal(folder)  # prunes at start: must leave a held lock alone
        assert lock_files(journal) == [f"{KEY}.lock"]
        assert journal.try_lock(KEY) is None
    finally:
        proc.kill()
        proc.wait()
    assert journal.try_lock(KEY) is not None  # the OS dropped it with the process


def test_released_locks_leave_no_files(journal):
    for i in range(40):
        lock = journal.try_lock(f"{i:064x}")
        assert lock is not None
        lock.release()
    held = journal.try_lock(KEY)
    assert lock_files(journal) == [f"{KEY}.lock"]
    held.release()
    assert lock_files(journal) == []


def test_crash_leftovers_are_pruned_when_a_journal_opens(tmp_path):
    folder = str(tmp_path / "j")
    holder(folder, "crash").wait()
    assert os.listdir(os.path.join(folder, "locks")) == [f"{KEY}.lock"]
    journal = Journal(folder)
    assert lock_files(journal) == []
    assert journal.try_lock(KEY) is not None


def _contend(folder: str, rounds: int, marker: str, out) -> None:
    journal = Journal(folder)  # every worker also prunes at start, racing the others
    clashes = taken = tries = 0
    deadline = time.monotonic() + 60
    # Until this worker has held the lock ``rounds`` times (not a fixed number of
    # tries: on a loaded machine the others may win most of them).
    while taken < rounds and time.monotonic() < deadline:
        tries += 1
        lock = journal.try_lock(KEY)
        if lock is None:
            continue
        taken += 1
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # only one holder can make it
        except FileExistsError:
            clashes += 1
        else:
            os.close(fd)
            time.sleep(0.0005)
            os.remove(marker)
        lock.release()
        if tries % 25 == 0:
            journal.prune_locks()
    out.put((clashes, taken))


@posix_only
def test_removing_lock_files_never_lets_two_processes_hold_one_job(tmp_path):
    folder = str(tmp_path / "j")
    Journal(folder)
    marker = str(tmp_path / "holder")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=_contend, args=(folder, 40, marker, out)) for _ in range(4)]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(10)
    assert sum(c for c, _ in results) == 0, results
    assert sum(t for _, t in results) == 4 * 40  # they really took turns
    assert os.listdir(os.path.join(folder, "locks")) == []
