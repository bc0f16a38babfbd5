"""Which jobs are unfinished, without reading every record.

One empty file per unfinished job (``open/<job id>``): made before the job's
first unfinished record is written and removed after its finished record is,
so a crash can leave a marker too many (one extra record read at start-up,
skipped because the record says finished) but never one too few. Start-up
reads only these records, however long the journal. A journal written before
the markers existed is marked once, by one full scan, when it is first opened.
"""

from __future__ import annotations

import os

#: Written once every unfinished record of the journal has its marker.
COMPLETE_MARKER = ".complete"


class OpenMarkers:
    def __init__(self, directory: str):
        self.directory = directory

    @property
    def complete(self) -> bool:
        return os.path.exists(os.path.join(self.directory, COMPLETE_MARKER))

    @staticmethod
    def _safe(job_id: str) -> str:
        return "".join(c for c in str(job_id) if c.isalnum())

    def mark(self, job_id: str) -> None:
        """Note the job as unfinished. Raises OSError when the marker cannot be made."""
        # Made at every unfinished save, not once: another process may have
        # finished the job (and removed the marker) since this one last saw it.
        safe = self._safe(job_id)
        if safe:
            os.makedirs(self.directory, exist_ok=True)
            os.close(os.open(os.path.join(self.directory, safe), os.O_WRONLY | os.O_CREAT, 0o600))

    def clear(self, job_id: str) -> None:
        """The job is finished. Never raises: a marker left behind costs one read."""
        safe = self._safe(job_id)
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

    def build(self, unfinished_ids) -> None:
        """Mark every unfinished job of a full scan, then mark the set complete."""
        for job_id in unfinished_ids:
            self.mark(job_id)
        os.makedirs(self.directory, exist_ok=True)
        with open(os.path.join(self.directory, COMPLETE_MARKER), "w", encoding="ascii") as f:
            f.write("1\n")
