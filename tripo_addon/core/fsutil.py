"""File operations that must survive Windows: renames retried while another program (an antivirus
scanner, an indexer, a second Blender reading the file) briefly holds the target open."""

from __future__ import annotations

import errno
import os
import time

from . import errors as E

#: Pauses between tries of a rename refused with PermissionError (about 1.5 s in all).
REPLACE_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.4, 0.7)


def replace(src: str, dst: str) -> None:
    """``os.replace``, tried again a few times when it raises PermissionError.

    On Windows a rename over a file that someone has open fails with
    "access denied" for as long as they hold it, typically milliseconds. On
    POSIX a PermissionError is final, but a few short pauses cost little.
    """
    for pause in REPLACE_PAUSES:
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            time.sleep(pause)
    os.replace(src, dst)  # the last try lets its error through


def safe_name(text: str, keep: str = "", replace: str = "", limit: int = 0, ascii_only: bool = False) -> str:
    """``text`` with only letters, digits and the characters of ``keep``; any
    other character becomes ``replace`` (or goes), cut to ``limit``: a name
    that cannot reach outside its folder, whatever a server or a user sent."""
    out = "".join(c if (c.isalnum() and (c.isascii() or not ascii_only)) or c in keep else replace
                  for c in str(text))
    return out[:limit] if limit else out


#: The file that says a folder's markers (or index) are complete (see journal.markers, journal.index).
COMPLETE_MARKER = ".complete"


def is_complete(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, COMPLETE_MARKER))


def mark_complete(folder: str) -> None:
    """Say that ``folder`` holds everything it should (after a full scan filled it)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, COMPLETE_MARKER), "w", encoding="ascii") as f:
        f.write("1\n")


def quiet_remove(path: str) -> int:
    """Remove ``path`` if possible; 1 when removed, else 0 (never raises)."""
    try:
        os.remove(path)
        return 1
    except OSError:
        return 0


def _reason(exc: OSError) -> str:
    return {
        errno.ENOSPC: "the disk is full",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        getattr(errno, "EDQUOT", -1): "the disk quota is used up",
    }.get(exc.errno, (exc.strerror or type(exc).__name__).lower())


def unwritable(folder: str, exc: OSError, kept: bool = True, what: str = "the Tripo3D job journal",
               where: str = "set BLENDER_USER_RESOURCES to a writable folder") -> E.JournalUnwritable:
    """One sentence for a journal write that failed: where, why, what to do."""
    tail = ", and until then the job is kept in memory" if kept else ""
    return E.JournalUnwritable(
        f"Could not write {what} in {folder} ({_reason(exc)}); free some disk space or make "
        f"that folder writable (or {where}){tail}."
    )
