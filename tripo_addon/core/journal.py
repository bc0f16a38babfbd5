"""Jobs on disk, one JSON file each, so no paid job is ever lost.

Every write goes to a temporary file that is flushed, fsynced and renamed
over the old one, so a crash leaves either the old record or the new one,
never half of each. The journal holds no API key: :class:`~.jobs.Job` has
no field for it.

Faults: a record that cannot be written (disk full, read-only folder) is
kept in memory (:attr:`Journal.unsaved`), served by :meth:`Journal.load`
and :meth:`Journal.all`, and written by the next successful save or by
:meth:`Journal.flush_unsaved`; the caller gets :class:`~.errors.JournalUnwritable`
with one sentence. Junk in the folder (directories, unreadable files, other
JSON) is skipped, never raised. Renames are retried on PermissionError
(Windows: an antivirus or another program holding the file).
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from dataclasses import fields

from . import locks
from .fsutil import quiet_remove as _quiet_remove
from .fsutil import replace, unwritable
from .jobs import Job
from .journal_index import KeyIndex
from .locks import JobLock

__all__ = ["JobLock", "Journal"]

#: A job record is a few KB; anything far bigger in the folder is not one.
MAX_RECORD_BYTES = 4 * 1024 * 1024


class Journal:
    def __init__(self, directory: str):
        self.directory = directory
        self.jobs_dir = os.path.join(directory, "jobs")
        self.downloads_dir = os.path.join(directory, "downloads")
        self.locks_dir = os.path.join(directory, "locks")
        for folder in (self.jobs_dir, self.downloads_dir, self.locks_dir):
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError:
                pass  # a read-only or full folder: said by the first write (or check_writable)
        self._lock = threading.Lock()
        #: job id -> latest record that could not be written yet.
        self.unsaved: dict[str, dict] = {}
        self.prune_locks()
        self.index = KeyIndex(os.path.join(directory, "index"))
        if not self.index.complete and os.path.isdir(self.jobs_dir):
            try:  # a journal from before the index: one full scan, once
                self.index.build((j.key, j.id) for j in self.all())
            except OSError:
                pass  # unwritable: find_by_key scans until it can be built

    # -- writing ------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise :class:`JournalUnwritable` unless a record can be written now."""
        try:
            os.makedirs(self.jobs_dir, exist_ok=True)
            fd, tmp = _new_temp(self.jobs_dir, ".check-")
            try:
                os.write(fd, b"{}")
                os.fsync(fd)
            finally:
                os.close(fd)
                _quiet_remove(tmp)
        except OSError as exc:
            raise unwritable(self.jobs_dir, exc, kept=False) from None

    def save(self, job: Job, *, sync_folder: bool = True) -> None:
        """Write the job's record. ``sync_folder=False`` skips making the rename
        itself durable (one folder fsync, the slower half of a save on a busy
        disk): the record's bytes are still on disk before the rename, so after
        a crash the folder holds the old record or the new one, each whole. For
        a step that is simply done again if its record is lost (an import from
        the GLB on disk), never for a request id."""
        import json

        job.updated_at = time.time()
        record = job.to_dict()
        data = json.dumps(record, indent=1, sort_keys=True).encode("utf-8")  # TypeError: caller's bug
        with self._lock:
            try:
                self._write(job.id, data, sync_folder=sync_folder)
            except OSError as exc:
                self.unsaved[job.id] = json.loads(data)  # a copy the caller cannot change
                raise unwritable(self.jobs_dir, exc) from None
            self.unsaved.pop(job.id, None)
            self._flush_locked()  # the disk works again: write what waited
        try:
            self.index.add(job.key, job.id)
        except OSError:
            pass  # the record is written; find_by_key still finds it by a scan

    def flush_unsaved(self) -> int:
        """Write the records kept in memory; return how many were written.

        Raises :class:`JournalUnwritable` if some still cannot be written.
        """
        with self._lock:
            return self._flush_locked(raise_on_failure=True)

    def _flush_locked(self, raise_on_failure: bool = False) -> int:
        import json

        written = 0
        for job_id, record in list(self.unsaved.items()):
            try:
                self._write(job_id, json.dumps(record, indent=1, sort_keys=True).encode("utf-8"))
            except OSError as exc:
                if raise_on_failure:
                    raise unwritable(self.jobs_dir, exc) from None
                break  # still failing: the next save tries again
            del self.unsaved[job_id]
            written += 1
        return written

    def _write(self, job_id: str, data: bytes, sync_folder: bool = True) -> None:
        os.makedirs(self.jobs_dir, exist_ok=True)
        fd, tmp = _new_temp(self.jobs_dir, ".job-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            replace(tmp, self._path(job_id))
        except BaseException:
            _quiet_remove(tmp)
            raise
        if sync_folder:
            _fsync_dir(self.jobs_dir)

    # -- reading ------------------------------------------------------------------

    def _path(self, job_id: str) -> str:
        safe = "".join(c for c in str(job_id) if c.isalnum())
        return os.path.join(self.jobs_dir, f"{safe}.json")

    def load(self, job_id: str) -> Job | None:
        """The job, or None when there is none or the file is not a job record (never raises)."""
        with self._lock:
            record = self.unsaved.get(job_id)
        if record is not None:
            return _job_from(record)
        return _job_from(_read_record(self._path(job_id)))

    def all(self) -> list[Job]:
        try:
            names = os.listdir(self.jobs_dir)
        except OSError:
            names = []
        jobs: dict[str, Job] = {}
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                job = _job_from(_read_record(os.path.join(self.jobs_dir, name)))
                if job is not None:
                    jobs[name[:-5]] = job
        with self._lock:
            pending = dict(self.unsaved)
        for job_id, record in pending.items():  # newer than the disk
            job = _job_from(record)
            if job is not None:
                jobs["".join(c for c in job_id if c.isalnum())] = job
        out = list(jobs.values())
        # A hand-edited record may hold a non-number here; it must not break the list.
        out.sort(key=lambda j: j.created_at if isinstance(j.created_at, (int, float)) else 0.0)
        return out

    def find_by_key(self, key: str) -> Job | None:
        """The newest job for these image bytes and options, if any: an index
        lookup (a full scan only while the index is incomplete)."""
        if self.index.complete:
            found = [j for j in (self.load(i) for i in self.index.ids(key)) if j is not None and j.key == key]
            with self._lock:
                found += [j for j in map(_job_from, self.unsaved.values())
                          if j is not None and j.key == key and j.id not in {f.id for f in found}]
        else:
            found = [j for j in self.all() if j.key == key]
        found.sort(key=lambda j: j.created_at if isinstance(j.created_at, (int, float)) else 0.0)
        return found[-1] if found else None

    def remove(self, job_id: str) -> None:
        with self._lock:
            self.unsaved.pop(job_id, None)
            _quiet_remove(self._path(job_id))

    def download_path(self, job: Job, directory: str = "") -> str:
        """Where a job's GLB goes: our own name, never one from the server."""
        stem = os.path.splitext(_file_name(job.source))[0]
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:40] or "model"
        directory = directory or self.downloads_dir
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:  # a TripoError: the job is interrupted with this sentence, not a traceback
            raise unwritable(directory, exc, kept=False, what="the downloaded model",
                             where="choose another Download Folder in the add-on preferences") from None
        tag = "".join(c for c in job.id if c.isalnum())[:8] or "job"
        return os.path.join(directory, f"{stem}-{tag}.glb")

    # -- locks --------------------------------------------------------------------

    def _lock_path(self, key: str) -> str:
        safe = "".join(c for c in key if c.isalnum())[:64] or "job"
        return os.path.join(self.locks_dir, f"{safe}.lock")

    def try_lock(self, key: str) -> JobLock | None:
        """Claim the job for ``key``, or None if another process (or thread) has it.

        Raises :class:`LockUnsupported` when the file system cannot lock at
        all, and :class:`JournalUnwritable` when no lock file can be made.
        """
        return locks.try_lock(self._lock_path(key), self.locks_dir)

    def prune_locks(self) -> int:
        """Remove lock files nobody holds (left by a crash); return how many. Never raises."""
        return locks.prune(self.locks_dir)


# -- helpers ------------------------------------------------------------------------

def _read_record(path: str) -> dict | None:
    """The JSON object in ``path``, or None for anything else (never raises)."""
    import json  # here, not at the top: registering the add-on reads no record when there are none

    try:
        # O_NONBLOCK: a FIFO named like a record must not hang the listing.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
            return None
        parts, left = [], MAX_RECORD_BYTES + 1
        while left > 0:  # plain reads: no file object per record (start-up reads thousands)
            part = os.read(fd, left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        data = json.loads(b"".join(parts).decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else None


_TYPES = {"str": (str,), "None": (type(None),), "float": (int, float), "int": (int,), "list": (list,),
          "dict": (dict,), "bool": (bool,)}
_STRING_LISTS = ("media_urls", "objects")
_ID_FIELDS = ("source", "content_hash", "id", "request_id")


def _job_from(data: dict | None) -> Job | None:
    """A Job from a record, with wrong-typed fields put right; None if it is not a job."""
    if not isinstance(data, dict):
        return None
    # Records written by this add-on share a few shapes (field names and value
    # types): a shape checked once is copied whole, at C speed.
    shape = (tuple(data), tuple(map(type, data.values())))
    fits = _SHAPES.get(shape)
    if fits is None:
        fits = _fits(shape)
        if len(_SHAPES) < 512:
            _SHAPES[shape] = fits
    if fits:
        clean = dict(data)
        for name in _STRING_LISTS:
            if name in clean:
                clean[name] = [v for v in clean[name] if isinstance(v, str)]
        return _make_job(clean)
    clean = {}
    rules = _field_rules()
    for name, value in data.items():
        rule = rules.get(name)
        if rule is None:
            continue  # not a Job field (a newer or older version's)
        allowed, exact = rule
        if exact is not None and type(value) not in exact:  # JSON gives exact types: the slow path is rare
            if isinstance(value, bool) and bool not in allowed:
                value = None if type(None) in allowed else _DROP  # True is not a time or a count
            elif not isinstance(value, allowed):
                # A number where an id belongs (a hand-edited request id) keeps its meaning as text.
                value = str(value) if name in _ID_FIELDS and isinstance(value, (int, float)) else _DROP
            if value is _DROP:
                continue
        if name in _STRING_LISTS:
            value = [v for v in value if isinstance(v, str)]
        clean[name] = value
    return _make_job(clean)


def _make_job(clean: dict) -> Job | None:
    if not all(k in clean for k in ("source", "params", "content_hash")):
        return None
    if "state" not in clean and clean.get("request_id"):
        clean["state"] = "interrupted"  # paid for: resume it by its id, never submit it again
    try:
        return Job(**clean)
    except (TypeError, ValueError):
        return None


_SHAPES: dict = {}


def _fits(shape: tuple) -> bool:
    """Whether every field of a record of this shape is a Job field holding a value of an allowed type."""
    rules = _field_rules()
    for name, kind in zip(*shape, strict=True):
        rule = rules.get(name)
        if rule is None or (rule[1] is not None and kind not in rule[1]):
            return False
    return True


_DROP = object()


def _new_temp(folder: str, prefix: str) -> tuple[int, str]:
    """A new private file beside the records (what tempfile.mkstemp does,
    without loading tempfile and its archive modules when Blender starts)."""
    import uuid

    path = os.path.join(folder, f"{prefix}{uuid.uuid4().hex}.tmp")
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), path


_RULES: dict = {}


def _field_rules() -> dict:
    """Job field name -> (the Python types its value may have, the same as a set
    of exact types, or None when any value will do), worked out once: start-up
    reads thousands of records."""
    if not _RULES:
        for f in fields(Job):
            allowed = tuple(t for part in str(f.type).split("|") for t in _TYPES.get(part.strip(), (object,)))
            _RULES[f.name] = (allowed, None if object in allowed else frozenset(allowed))
    return _RULES


def _file_name(source: str) -> str:
    """The last part of a path or URL, whatever the separators (C:\\x\\y.png on any system)."""
    text = str(source or "").split("?", 1)[0].split("#", 1)[0].rstrip("/\\")
    name = re.split(r"[\\/]", text)[-1]
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        name = name[2:]  # "D:chair.png": a drive-relative Windows path
    return name


def _fsync_dir(path: str) -> None:
    # Make the rename itself durable (POSIX); not possible on Windows, and some
    # file systems (network shares) refuse it: the rename is done either way.
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
