"""One worker per job: an OS file lock per job key, in the journal's ``locks`` folder.

Lock files do not pile up. A holder removes its file while it still holds
the lock, then unlocks; whoever opened the old file meanwhile gets its lock
only to see that the path now names another file (or none), and opens the
new one: so two processes can never both hold "the" lock of a key. Files
left by a crash (the OS drops the lock, not the file) are pruned the same
way when a journal opens. On Windows a file someone has open cannot be
removed, so removing after closing is safe there by itself.

A file system that cannot lock at all (some network shares: ENOLCK,
EOPNOTSUPP, ENOSYS) raises :class:`~..errors.LockUnsupported`, told apart
from "another process holds it" (``None``).
"""

from __future__ import annotations

import errno
import os

from .. import errors as E
from ..fsutil import quiet_remove, unwritable

if os.name == "nt":
    import msvcrt
else:
    import fcntl

#: errno values of "someone else holds the lock" (EACCES/EDEADLK: Windows and some POSIX).
BUSY = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}

#: Paths of the locks this process holds: "being generated here" is told from "by another process".
_HELD_HERE: set[str] = set()


class JobLock:
    """Exclusive claim on one job (image + options), held while this process works on it.

    An OS file lock: it conflicts across processes (two batch runs over the
    same folder) and within one, and the OS drops it if the process dies.
    """

    def __init__(self, fd: int, path: str | None = None):
        self._fd: int | None = fd
        self._path = path
        if path is not None:
            _HELD_HERE.add(path)

    def __del__(self) -> None:
        # A safety net only: holders release explicitly when the job ends.
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit os may be half gone
            pass

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _HELD_HERE.discard(self._path)
        try:
            if os.name != "nt" and self._path is not None and same_file(fd, self._path):
                quiet_remove(self._path)  # still held: see the module doc
            unlock_fd(fd)
        finally:
            os.close(fd)
        if os.name == "nt" and self._path is not None:
            quiet_remove(self._path)  # fails harmlessly while another process has it open


def held_here(path: str) -> bool:
    """Whether this process holds the lock of ``path`` (one of its own jobs is working on it)."""
    return path in _HELD_HERE


def lock_fd(fd: int) -> None:
    if os.name == "nt":
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def unlock_fd(fd: int) -> None:
    try:
        if os.name == "nt":
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def cannot_lock(folder: str, exc: OSError) -> E.LockUnsupported:
    return E.LockUnsupported(
        f"The file system of {folder} cannot lock files ({(exc.strerror or 'not supported').lower()}), so "
        "Tripo3D cannot keep two Blender processes from working on (and paying for) the same job; move "
        "Blender's user folder (or BLENDER_USER_RESOURCES) to a local disk."
    )


def try_lock(path: str, folder: str) -> JobLock | None:
    """Lock ``path`` (made if missing) or return None when someone else holds it."""
    for _ in range(8):
        try:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise unwritable(folder, exc, kept=False) from None
        try:
            lock_fd(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in BUSY:
                return None
            raise cannot_lock(folder, exc) from None
        if os.name == "nt" or same_file(fd, path):
            return JobLock(fd, path)
        # A releaser removed this file between our open and our lock: take the new one.
        unlock_fd(fd)
        os.close(fd)
    return None  # the file kept changing under us: someone is busy with it


def prune(folder: str) -> int:
    """Remove the lock files in ``folder`` that nobody holds; return how many. Never raises."""
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".lock")]
    except OSError:
        return 0
    removed = 0
    for name in names:
        path = os.path.join(folder, name)
        if os.name == "nt":
            removed += quiet_remove(path)
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            lock_fd(fd)
        except OSError:
            os.close(fd)
            continue  # held, or no locking here: leave it
        if same_file(fd, path):
            removed += quiet_remove(path)
        unlock_fd(fd)
        os.close(fd)
    return removed
