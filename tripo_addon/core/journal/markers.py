"""Which records to read for one purpose, without reading every record.

A marker set is a folder of empty files, one per job id. ``open/`` marks the
unfinished jobs (start-up reads only those), ``uploads/`` the jobs whose
uploaded image is still in the user's bucket (the clean-up reads only those).
A marker is made before the record that needs it is written and removed after
the record that no longer needs it, so a crash can leave a marker too many
(one extra record read, skipped because the record says otherwise) but never
one too few. A journal written before a set existed is marked once, by one
full scan, when it is first opened.
"""

from __future__ import annotations

import os

from ..fsutil import is_complete, mark_complete
from .records import record_stem



class MarkerSet:
    def __init__(self, directory: str):
        self.directory = directory

    @property
    def complete(self) -> bool:
        return is_complete(self.directory)  # every record that needs a marker has it

    def mark(self, job_id: str) -> None:
        """Mark the job. Raises OSError when the marker cannot be made."""
        # Made at every save that needs it, not once: another process may have
        # removed it (the job finished there) since this one last saw the job.
        safe = record_stem(job_id)  # the record's own name: a marker is loaded by it
        if safe:
            os.makedirs(self.directory, exist_ok=True)
            os.close(os.open(os.path.join(self.directory, safe), os.O_WRONLY | os.O_CREAT, 0o600))

    def clear(self, job_id: str) -> None:
        """The job no longer needs its marker. Never raises: a marker left behind costs one read."""
        safe = record_stem(job_id)
        if safe:
            try:
                os.remove(os.path.join(self.directory, safe))
            except OSError:
                pass

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return [n for n in names if not n.startswith(".")]

    def build(self, job_ids) -> None:
        """Mark these jobs (those of a full scan that need it), then mark the set complete."""
        for job_id in job_ids:
            self.mark(job_id)
        mark_complete(self.directory)
