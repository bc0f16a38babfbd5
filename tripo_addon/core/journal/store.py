"""The job journal (:class:`Journal`): jobs on disk, one JSON file each, so no paid
job is ever lost.

Every write goes to a temporary file that is flushed, fsynced and renamed
over the old one, so a crash leaves either the old record or the new one,
never half of each. The journal holds no API key: :class:`~..jobs.Job`
has no field for it.

Faults: a record that cannot be written (disk full, read-only folder) is
kept in memory (:attr:`Journal.unsaved`), served by :meth:`Journal.load`
and :meth:`Journal.all`, and written by the next successful save or by
:meth:`Journal.flush_unsaved`; the caller gets :class:`~..errors.JournalUnwritable`
with one sentence. Junk in the folder (directories, unreadable files, other
JSON) is skipped, never raised.
"""

from __future__ import annotations

import os
import re
import threading
import time

from . import locks
from ..errors import scrub
from ..fsutil import quiet_remove as _quiet_remove
from ..fsutil import durable_sync, replace, safe_name, short_name, unwritable
from ..jobs import FINISHED, Job, keeps_an_upload
from .index import KeyIndex
from .markers import MarkerSet
from .records import job_from as _job_from
from .records import read_record as _read_record
from .records import record_stem
from .locks import JobLock

__all__ = ["JobLock", "Journal"]

#: Jobs listed at start-up besides the unfinished ones: the ones changed
#: last, so a journal of thousands starts as fast as a short one.
START_HISTORY = 100
#: The longest image name a download is named after (see :meth:`Journal.download_path`).
STEM_LIMIT = 40


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
        #: Why the last record could not be written (None once one could).
        self.last_write_error: OSError | None = None
        self.prune_locks()
        self.index = KeyIndex(os.path.join(directory, "index"))
        #: The unfinished jobs (read at start-up) and those whose image may still be
        #: in the user's bucket (read by the clean-up): see .markers.
        self.open = MarkerSet(os.path.join(directory, "open"))
        self.uploads = MarkerSet(os.path.join(directory, "uploads"))
        need = [m for m in (self.index, self.open, self.uploads) if not m.complete]
        if need and os.path.isdir(self.jobs_dir):
            try:  # a journal from before the index or a marker set: one full scan, once
                jobs = self.all()
                if self.index in need:
                    self.index.build((j.key, j.id) for j in jobs)
                if self.open in need:
                    self.open.build(j.id for j in jobs if not j.finished)
                if self.uploads in need:
                    self.uploads.build(j.id for j in jobs if keeps_an_upload(j.delivery))
            except OSError:
                pass  # unwritable: lookups and start-up scan until they can be built

    # -- writing ------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise :class:`JournalUnwritable` unless a record can be written now."""
        try:
            os.makedirs(self.jobs_dir, exist_ok=True)
            fd, tmp = _new_temp(self.jobs_dir, ".check-")
            try:
                os.write(fd, b"{}")
                durable_sync(fd)
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
        job.error = scrub(job.error) if job.error else job.error  # a server's echo of a link or a picture
        record = job.to_dict()
        data = json.dumps(record, indent=1, sort_keys=True).encode("utf-8")  # TypeError: caller's bug
        with self._lock:
            try:
                self._write(job.id, data, record, sync_folder=sync_folder)
            except OSError as exc:
                self.unsaved[job.id] = json.loads(data)  # a copy the caller cannot change
                self.last_write_error = exc
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
        if not self.unsaved:
            self.last_write_error = None
        for job_id, record in list(self.unsaved.items()):
            try:
                self._write(job_id, json.dumps(record, indent=1, sort_keys=True).encode("utf-8"), record)
            except OSError as exc:
                self.last_write_error = exc
                if raise_on_failure:
                    raise unwritable(self.jobs_dir, exc) from None
                break  # still failing: the next save tries again
            del self.unsaved[job_id]
            written += 1
            if not self.unsaved:
                self.last_write_error = None
        return written

    def _write(self, job_id: str, data: bytes, record: dict, sync_folder: bool = True) -> None:
        marks = ((self.open, record.get("state") not in FINISHED), (self.uploads, keeps_an_upload(record.get("delivery"))))
        for markers, needed in marks:
            if needed:
                markers.mark(job_id)  # first: a crash may leave a marker too many, never one too few
        os.makedirs(self.jobs_dir, exist_ok=True)
        fd, tmp = _new_temp(self.jobs_dir, ".job-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                durable_sync(f.fileno())
            replace(tmp, self._path(job_id))
        except BaseException:
            _quiet_remove(tmp)
            raise
        if sync_folder:
            _fsync_dir(self.jobs_dir)
        for markers, needed in marks:
            if not needed:
                markers.clear(job_id)

    # -- reading ------------------------------------------------------------------

    def _path(self, job_id: str) -> str:
        return os.path.join(self.jobs_dir, f"{record_stem(job_id)}.json")

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
                jobs[record_stem(job_id)] = job
        return _by_age(jobs.values())

    def unfinished(self) -> list[Job]:
        """Every job not finished yet, oldest first: only their records are read, however long the journal."""
        return self._marked(self.open, lambda job: not job.finished)

    def with_uploads(self) -> list[Job]:
        """Every job whose image may still be in the user's bucket, oldest first (only their records are read)."""
        return self._marked(self.uploads, lambda job: keeps_an_upload(job.delivery))

    def _marked(self, markers: MarkerSet, wanted) -> list[Job]:
        if not markers.complete:
            return [j for j in self.all() if wanted(j)]
        jobs = {job.id: job for job in map(self.load, markers.ids()) if job is not None and wanted(job)}
        with self._lock:
            pending = list(self.unsaved.values())
        for job in map(_job_from, pending):  # newer than the disk
            if job is not None:
                if wanted(job):
                    jobs[job.id] = job
                else:
                    jobs.pop(job.id, None)
        return _by_age(jobs.values())

    def recent(self, count: int) -> list[Job]:
        """The ``count`` jobs whose records changed last, oldest first."""
        return _by_age(job for job in map(self.load, self._changed_last(count)) if job is not None)

    def _changed_last(self, count: int) -> list[str]:
        """The record names of the ``count`` records changed last (one stat a record, no reads)."""
        stamped = []
        try:
            with os.scandir(self.jobs_dir) as entries:
                for entry in entries:
                    if entry.name.endswith(".json") and not entry.name.startswith("."):
                        try:
                            stamped.append((entry.stat().st_mtime, entry.name[:-5]))
                        except OSError:
                            pass  # removed while listing
        except OSError:
            pass
        if len(stamped) > count:
            import heapq  # only for a long journal: a short one is read whole

            stamped = heapq.nlargest(count, stamped) if count > 0 else []
        return [name for _, name in stamped]

    def at_start(self, history: int = START_HISTORY) -> list[Job]:
        """What start-up needs, oldest first: every unfinished job and the
        ``history`` jobs changed last (for the job list), not the whole journal.
        Each record is read once: an unfinished job changed lately is not read again."""
        jobs = {record_stem(job.id): job for job in self.unfinished()}
        for name in self._changed_last(history):
            if name not in jobs:
                job = self.load(name)
                if job is not None:
                    jobs[name] = job
        return _by_age(jobs.values())

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
        found = _by_age(found)
        return found[-1] if found else None

    def remove(self, job_id: str) -> None:
        with self._lock:
            self.unsaved.pop(job_id, None)
            _quiet_remove(self._path(job_id))
            for markers in (self.open, self.uploads):
                markers.clear(job_id)  # after the record: a crash leaves a marker too many, harmless

    def download_path(self, job: Job, directory: str = "") -> str:
        """Where a job's GLB goes: our own name, never one from the server."""
        stem = os.path.splitext(_file_name(job.source))[0]
        # At most 40 (as Windows counts): a 150-character download folder leaves its
        # GLB at 204, the partial download and the preview's temporary file under 230.
        stem = short_name(safe_name(stem, keep="-_", replace="_"), STEM_LIMIT) or "model"
        directory = directory or self.downloads_dir
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:  # a TripoError: the job is interrupted with this sentence, not a traceback
            raise unwritable(directory, exc, kept=False, what="the downloaded model",
                             where="choose another Download Folder in the add-on preferences") from None
        tag = safe_name(job.id, limit=8) or "job"
        return os.path.join(directory, f"{stem}-{tag}.glb")

    # -- locks --------------------------------------------------------------------

    def _lock_path(self, key: str) -> str:
        safe = safe_name(key, limit=64) or "job"
        return os.path.join(self.locks_dir, f"{safe}.lock")

    def try_lock(self, key: str) -> JobLock | None:
        """Claim the job for ``key``, or None if another process (or thread) has it.

        Raises :class:`LockUnsupported` when the file system cannot lock at
        all, and :class:`JournalUnwritable` when no lock file can be made.
        """
        return locks.try_lock(self._lock_path(key), self.locks_dir)

    def locked_here(self, key: str) -> bool:
        """Whether a job of this process holds ``key``'s claim right now."""
        return locks.held_here(self._lock_path(key))

    def prune_locks(self) -> int:
        """Remove lock files nobody holds (left by a crash); return how many. Never raises."""
        return locks.prune(self.locks_dir)


# -- helpers ------------------------------------------------------------------------

def _by_age(jobs) -> list[Job]:
    # A hand-edited record may hold a non-number here; it must not break the list.
    return sorted(jobs, key=lambda j: j.created_at if isinstance(j.created_at, (int, float)) else 0.0)


def _new_temp(folder: str, prefix: str) -> tuple[int, str]:
    """A new private file beside the records (what tempfile.mkstemp does,
    without loading tempfile and its archive modules when Blender starts)."""
    import uuid

    path = os.path.join(folder, f"{prefix}{uuid.uuid4().hex}.tmp")
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), path


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
        durable_sync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
