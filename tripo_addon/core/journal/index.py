"""Find a job by its image and options without reading every record.

One small file per key (``index/<key>``) lists the ids of the jobs made for
that image and those options, a line each, appended when a job is first
saved. Appends of a line are atomic, so several processes can share it; a
line whose record is gone is skipped. A journal written before the index
existed is indexed once, by one full scan, when it is first opened.
"""

from __future__ import annotations

import os

from ..fsutil import is_complete, mark_complete, safe_name



class KeyIndex:
    def __init__(self, directory: str):
        self.directory = directory
        self._known: set[tuple[str, str]] = set()  # (key, job id) already appended by this process

    @property
    def complete(self) -> bool:
        return is_complete(self.directory)  # the index holds every record of the journal

    def _file(self, key: str) -> str:
        return os.path.join(self.directory, safe_name(key, limit=64) or "job")

    def ids(self, key: str) -> list[str]:
        try:
            with open(self._file(key), encoding="ascii", errors="ignore") as f:
                return list(dict.fromkeys(line.strip() for line in f if line.strip()))
        except OSError:
            return []

    def add(self, key: str, job_id: str) -> None:
        if not key or (key, job_id) in self._known:
            return
        if job_id not in self.ids(key):
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(self._file(key), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, f"{job_id}\n".encode("ascii"))
            finally:
                os.close(fd)
        self._known.add((key, job_id))

    def build(self, pairs) -> None:
        """Index every (key, job id) of a full scan, then mark the index complete."""
        for key, job_id in pairs:
            self.add(key, job_id)
        mark_complete(self.directory)
