"""File operations that must survive Windows, macOS and farm shares: retried renames, durable
writes, short names, and one sentence for a failed save.

A rename is retried while another program (an antivirus scanner, an indexer, a farm monitor
reading the report) briefly holds the target open."""

from __future__ import annotations

import errno
import functools
import os
import time

from . import errors as E

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Pauses between tries of a rename refused because the file is held open (about 1.5 s in all).
REPLACE_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.4, 0.7)

#: Windows error codes: access denied, sharing violation, lock violation.
_HELD_OPEN_WINERRORS = (5, 32, 33)


def held_open(exc: OSError) -> bool:
    """True when ``exc`` says another process holds the file (Windows' access
    denied or sharing violation; a busy file on a share)."""
    return (isinstance(exc, PermissionError) or getattr(exc, "winerror", None) in _HELD_OPEN_WINERRORS
            or exc.errno == errno.EBUSY)


def replace(src: str, dst: str, pauses: tuple = REPLACE_PAUSES) -> None:
    """``os.replace``, tried again a few times while the target is held open.

    On Windows a rename over a file that someone has open fails with "access
    denied" or a sharing violation for as long as they hold it, typically
    milliseconds. On POSIX a PermissionError is final, but a few short pauses
    cost little. Every rename of the add-on goes through here; ``pauses=()``
    tries once (a file known to be held for long).
    """
    for pause in pauses:
        try:
            os.replace(src, dst)
            return
        except OSError as exc:
            if not held_open(exc):
                raise
            time.sleep(pause)
    os.replace(src, dst)  # the last try lets its error through


def durable_sync(fd: int) -> None:
    """Make what was written to ``fd`` survive a power cut.

    On macOS ``fsync`` only hands the data to the drive, which may keep it in
    its cache; ``F_FULLFSYNC`` asks the drive to write it. Elsewhere (and on a
    file system that refuses ``F_FULLFSYNC``, such as some network shares) it
    is ``os.fsync``.
    """
    full = getattr(fcntl, "F_FULLFSYNC", None) if fcntl is not None else None
    if full is not None:
        try:
            fcntl.fcntl(fd, full)
            return
        except OSError:
            pass
    os.fsync(fd)


def write_atomically(path: str, data: bytes, prefix: str = ".tmp-", pauses: tuple = REPLACE_PAUSES) -> None:
    """Write ``data`` to ``path`` through a durable temporary file and one rename:
    a reader sees the old file or the new one, each whole."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            durable_sync(f.fileno())
        replace(tmp, path, pauses)
    except BaseException:
        quiet_remove(tmp)
        raise


def path_length(path: str) -> int:
    """The length of ``path`` as Windows counts it (UTF-16 units: a character
    outside the Basic Multilingual Plane counts twice) against its 260."""
    return len(path.encode("utf-16-le", "surrogatepass")) // 2


def short_name(name: str, limit: int) -> str:
    """``name`` if it is at most ``limit`` long (as :func:`path_length` counts),
    else its start, ``~`` and a hash of the whole: long names stay distinct and
    paths stay short."""
    if path_length(name) <= limit:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    room, kept = max(0, limit - 1 - len(digest)), ""
    for char in name:
        if path_length(kept + char) > room:
            break
        kept += char
    return f"{kept}~{digest}"


@functools.lru_cache(maxsize=256)
def folder_ignores_case(folder: str) -> bool:
    """Whether the file system that holds ``folder`` ignores case (Windows;
    macOS and many shares by default): probed once per folder by asking
    whether the nearest existing part of the path, spelled in the other case,
    is the same file."""
    if os.name == "nt":
        return True
    path = os.path.abspath(folder)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    while True:
        head, tail = os.path.split(path)
        if tail.swapcase() != tail:
            try:
                return os.path.samefile(path, os.path.join(head, tail.swapcase()))
            except OSError:
                return False  # no such spelling: the case counts
        if head == path:
            return False  # nothing with letters to ask about
        path = head


def path_key(path: str, ignore_case: bool | None = None) -> str:
    """What two spellings of one file have in common: the normalised path,
    lower-cased where the file system ignores case (``ignore_case``; None:
    ask :func:`folder_ignores_case`)."""
    norm = os.path.normcase(os.path.normpath(path))
    if ignore_case is None:
        ignore_case = folder_ignores_case(os.path.dirname(norm) or os.curdir)
    return norm.lower() if ignore_case else norm


def same_path(a: str, b: str, ignore_case: bool | None = None) -> bool:
    """Whether ``a`` and ``b`` name one file ("" only equals ""); the case rule is ``a``'s folder's."""
    if not a or not b:
        return a == b
    if ignore_case is None:
        ignore_case = folder_ignores_case(os.path.dirname(os.path.abspath(a)))
    return path_key(a, ignore_case) == path_key(b, ignore_case)


def same_source(a: str, b: str, ignore_case: bool | None = None) -> bool:
    """Whether two job sources are one image: absolute paths as :func:`same_path`
    compares them; image names and URLs exactly."""
    if a and b and os.path.isabs(a) and os.path.isabs(b):
        return same_path(a, b, ignore_case)
    return a == b


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
        f.flush()
        durable_sync(f.fileno())


def quiet_remove(path: str) -> int:
    """Remove ``path`` if possible; 1 when removed, else 0 (never raises)."""
    try:
        os.remove(path)
        return 1
    except OSError:
        return 0


#: Windows: the file name or extension is too long; the path was not found (a long path's usual error).
_TOO_LONG_WINERRORS = (206,)
_NOT_FOUND_WINERROR = 3
#: Below this Windows refuses a path only when long paths are off (MAX_PATH, less the 12 of a file name).
_WINDOWS_LONG_PATH = 248


def os_error_reason(exc: OSError) -> tuple[str, str]:
    """What an OSError of a write means, and what to do, in a few words each."""
    winerror = getattr(exc, "winerror", None)
    name = str(exc.filename or "")
    if exc.errno == errno.ENAMETOOLONG or winerror in _TOO_LONG_WINERRORS or (
            winerror == _NOT_FOUND_WINERROR and len(name) >= _WINDOWS_LONG_PATH):
        return "the path is too long", "pick a folder with a shorter path (or enable long paths in Windows)"
    if winerror in _HELD_OPEN_WINERRORS[1:]:
        return "another program has the file open", "close the program that holds it (a viewer, a sync tool)"
    if exc.errno == errno.ENOSPC:
        return "the disk is full", "free some disk space"
    if exc.errno == getattr(errno, "EDQUOT", -1):
        return "the disk quota is used up", "free some space in your quota"
    if exc.errno == errno.EROFS:
        return "the file system is read-only", "pick a folder on a writable disk"
    if exc.errno in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return "permission denied", "make that folder writable or pick another"
    return (exc.strerror or type(exc).__name__).lower(), "check that folder"


def save_failure(exc: OSError, what: str, where: str = "", then: str = "") -> str:
    """One sentence for a save that failed: ``Could not save WHAT in WHERE
    (why); what to do[, THEN].`` — the reason is the OSError's own, never a
    guess (a path too long is not a full disk)."""
    reason, advice = os_error_reason(exc)
    place = f" in {where}" if where else ""
    return f"Could not save {what}{place} ({reason}); {advice}{then}."


def unwritable(folder: str, exc: OSError, kept: bool = True, what: str = "the Tripo3D job journal",
               where: str = "set BLENDER_USER_RESOURCES to a writable folder") -> E.JournalUnwritable:
    """One sentence for a journal write that failed: where, why, what to do."""
    tail = ", and until then the job is kept in memory" if kept else ""
    reason, advice = os_error_reason(exc)
    return E.JournalUnwritable(f"Could not write {what} in {folder} ({reason}); {advice} (or {where}){tail}.")
