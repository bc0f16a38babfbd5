"""What the job engine does with its own bugs: one job marked, the rest goes on."""

from __future__ import annotations

from ...core import buglog
from ...core.jobs import FINISHED, Job, State
from ..user_data import journal


def mark_job(manager, job_id: str, data: dict, exc: Exception) -> None:
    """A bug while applying one job's event: that job is stopped and marked (resumable,
    its request id kept), the traceback logged, the error reported; nothing else stops."""
    log = buglog.record(journal().directory, exc, f"applying an event of job {job_id}")
    job = manager.jobs.get(job_id) or Job.from_dict(data)
    stop = manager.stops.pop(job_id, None)
    if stop is not None:
        stop.set()  # its worker ends; the journal keeps what it did
    manager.threads.pop(job_id, None)
    manager.ignored.add(job_id)  # its worker's last events are not applied over this
    manager.worker_tokens.pop(job_id, None)  # nor once the job is resumed (a new worker, a new token)
    manager.release_claim(job_id)
    job.error, job.error_kind = buglog.sentence(job.label, exc, log), "internal"
    if job.state not in FINISHED:
        # Paid and maybe downloaded: resumable, never lost.
        job.state = State.INTERRUPTED if job.request_id else State.STOPPED
    manager.jobs[job_id] = job
    try:
        journal().save(job)
    except OSError:
        pass
    manager.report("ERROR", f"{job.label}: {job.error}")
