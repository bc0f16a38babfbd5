"""Jobs on disk, one JSON file each, so no paid job is ever lost.

Every write goes to a temporary file that is flushed, fsynced and renamed
over the old one, so a crash leaves either the old record or the new one,
never half of each. The journal holds no API key: :class:`~.jobs.Job` has
no field for it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time

from .jobs import Job

if os.name == "nt":
    import msvcrt
else:
    import fcntl


class JobLock:
    """Exclusive claim on one job (image + options), held while this process works on it.

    An OS file lock: it conflicts across processes (two batch runs over the
    same folder) and within one, and the OS drops it if the process dies.
    """

    def __init__(self, fd: int):
        self._fd: int | None = fd

    def __del__(self) -> None:
        # A safety net only: holders release explicitly when the job ends.
        self.release()

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if os.name == "nt":
                msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)
            else:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


class Journal:
    def __init__(self, directory: str):
        self.directory = directory
        self.jobs_dir = os.path.join(directory, "jobs")
        self.downloads_dir = os.path.join(directory, "downloads")
        self.locks_dir = os.path.join(directory, "locks")
        for folder in (self.jobs_dir, self.downloads_dir, self.locks_dir):
            os.makedirs(folder, exist_ok=True)
        self._lock = threading.Lock()

    def try_lock(self, key: str) -> JobLock | None:
        """Claim the job for ``key``, or None if another process (or thread) has it."""
        safe = "".join(c for c in key if c.isalnum())[:64] or "job"
        fd = os.open(os.path.join(self.locks_dir, f"{safe}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.name == "nt":
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return JobLock(fd)

    def _path(self, job_id: str) -> str:
        safe = "".join(c for c in job_id if c.isalnum())
        return os.path.join(self.jobs_dir, f"{safe}.json")

    def save(self, job: Job) -> None:
        job.updated_at = time.time()
        data = json.dumps(job.to_dict(), indent=1, sort_keys=True).encode("utf-8")
        with self._lock:
            fd, tmp = tempfile.mkstemp(prefix=".job-", suffix=".tmp", dir=self.jobs_dir)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self._path(job.id))
            except BaseException:
                try:
                    os.remove(tmp)
                except FileNotFoundError:
                    pass
                raise
            _fsync_dir(self.jobs_dir)

    def load(self, job_id: str) -> Job | None:
        try:
            with open(self._path(job_id), encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict):  # e.g. "[]" or "null": not a job record
                return None
            return Job.from_dict(data)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def all(self) -> list[Job]:
        jobs = []
        for name in os.listdir(self.jobs_dir):
            if name.endswith(".json") and not name.startswith("."):
                job = self.load(name[:-5])
                if job is not None:
                    jobs.append(job)
        # A hand-edited record may hold a non-number here; it must not break the list.
        jobs.sort(key=lambda j: j.created_at if isinstance(j.created_at, (int, float)) else 0.0)
        return jobs

    def find_by_key(self, key: str) -> Job | None:
        """The newest job for these image bytes and options, if any."""
        matches = [j for j in self.all() if j.key == key]
        return matches[-1] if matches else None

    def remove(self, job_id: str) -> None:
        with self._lock:
            try:
                os.remove(self._path(job_id))
            except FileNotFoundError:
                pass

    def download_path(self, job: Job, directory: str = "") -> str:
        """Where a job's GLB goes: our own name, never one from the server."""
        stem = os.path.splitext(job.label)[0]
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:40] or "model"
        directory = directory or self.downloads_dir
        os.makedirs(directory, exist_ok=True)
        tag = "".join(c for c in job.id if c.isalnum())[:8] or "job"
        return os.path.join(directory, f"{stem}-{tag}.glb")


def _fsync_dir(path: str) -> None:
    # Make the rename itself durable (POSIX); not possible on Windows.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
