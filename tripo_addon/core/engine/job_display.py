"""What a job's row says: an icon, a few plain words, and a bar only for
what is really measured. Plain Python (no ``bpy``), so it is easy to test.

While the server works nothing is measured but time: the row shows the
elapsed time, and a bar only when this user's own past jobs give an
estimate of how long the server takes (:func:`server_estimate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..jobs import Job, State

#: Short reasons for a refused or failed job, by error kind (the full sentence is in the details).
REASONS = {
    "no_balance": "no balance", "auth": "key refused", "forbidden": "no access", "no_key": "no API key",
    "bad_request": "invalid request", "bad_image": "bad image", "rate_limited": "rate limited",
    "network": "no connection", "offline_mode": "online access off", "failed": "no model made",
    "error_not_charged": "server error, not charged", "no_output": "no model returned",
    "not_glb": "not a model", "too_large": "too large", "download": "download failed",
    "import_failed": "import failed", "inline_refused": "needs bucket or URL", "insecure_url": "unsafe address", "retries_exhausted": "lost contact",
}


@dataclass
class Status:
    """How one job looks in the list: icon, words, and a bar only when measured."""

    icon: str
    text: str
    factor: float | None = None  # a bar only when something is measured
    active: bool = False  # still running (or waiting to run) in this Blender
    short: str = ""  # for the list's row, which has half a sidebar's width

    def __post_init__(self) -> None:
        self.short = self.short or self.text.split(":")[0].split("...")[0]


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def server_estimate(jobs) -> float | None:
    """Median seconds from submit to the server's COMPLETED over this user's
    last 10 jobs that got that far; None with fewer than 2 of them."""
    spans = sorted(((j.completed_seen_at, j.completed_seen_at - j.submitted_at) for j in jobs
                    if j.submitted_at and j.completed_seen_at and j.completed_seen_at > j.submitted_at),
                   reverse=True)[:10]
    if len(spans) < 2:
        return None
    ordered = sorted(span for _t, span in spans)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _reason(job: Job) -> str:
    return REASONS.get(job.error_kind or "", "")


def status(job: Job, *, running: bool, waiting: bool = False, paused: bool = False,
           estimate: float | None = None, now: float | None = None, object_mode: bool = False) -> Status:
    now = time.time() if now is None else now
    s = job.state
    if object_mode and s in (State.DOWNLOADED, State.IMPORTING):
        return Status("OBJECT_DATAMODE", "Waiting for Object mode to import", short="Waits: Object mode")
    if paused:
        return Status("PAUSE", "Paused: online access is off")
    if waiting:
        return Status("SORTTIME", "Waiting for a free slot", active=True)
    if running:
        if s == State.UPLOADING and job.upload_total:
            return Status("EXPORT", f"Uploading {_mb(job.upload_bytes)}/{_mb(job.upload_total)} MB",
                          job.upload_bytes / max(1, job.upload_total), True, "Upload")
        if s in (State.NEW, State.UPLOADING):
            return Status("EXPORT", "Preparing the image...", active=True)
        if s == State.SUBMITTING:
            return Status("EXPORT", "Sending...", active=True)
        if s in (State.QUEUED, State.PROCESSING, State.INTERRUPTED):
            elapsed = now - (job.submitted_at or job.created_at)
            word, short = ("Queued on server", "Queued") if s == State.QUEUED else ("Generating on server", "Working")
            if estimate and elapsed > estimate:  # longer than usual: no bar pretending to know
                return Status("TIME", f"{word}... {clock(elapsed)} (usually ~{clock(estimate)})", active=True,
                              short=f"{short} {clock(elapsed)}")
            if estimate:
                return Status("TIME", f"{word}... {clock(elapsed)} of ~{clock(estimate)}",
                              min(0.99, elapsed / estimate), True, f"{short} {clock(elapsed)}")
            return Status("TIME", f"{word}... {clock(elapsed)}", active=True, short=f"{short} {clock(elapsed)}")
        if s == State.DOWNLOADING and job.download_total:
            return Status("IMPORT", f"Downloading {_mb(job.download_bytes)}/{_mb(job.download_total)} MB",
                          job.download_bytes / max(1, job.download_total), True, "Download")
        if s in (State.COMPLETED, State.DOWNLOADING):
            return Status("IMPORT", "Downloading...", active=True)
        return Status("IMPORT", "Importing...", active=True)
    if s == State.IMPORTED:
        return Status("CHECKMARK", "Done")
    if s in (State.DOWNLOADED, State.IMPORTING):
        return Status("IMPORT", "Ready to import")
    if s == State.REJECTED:
        return Status("CANCEL", f"Rejected: {_reason(job)}" if _reason(job) else "Rejected")
    if s == State.STOPPED:
        return Status("CANCEL", "Stopped")
    if s == State.SUBMIT_UNKNOWN:
        return Status("QUESTION", "Unknown: check dashboard")
    if s == State.INTERRUPTED:
        return Status("PAUSE", "Interrupted: can resume")
    if s in (State.NEW, State.UPLOADING, State.SUBMITTING):
        return Status("PAUSE", "Not sent")
    if s in (State.QUEUED, State.PROCESSING, State.COMPLETED, State.DOWNLOADING):
        return Status("PAUSE", "Not tracked: can resume")
    reason = _reason(job)
    return Status("ERROR", f"Failed: {reason}" if reason else "Failed")


#: Finished without a model; Retry submits the image again (and pays again).
RETRYABLE = {State.REJECTED, State.FAILED, State.ERROR, State.STOPPED, State.SUBMIT_UNKNOWN}
