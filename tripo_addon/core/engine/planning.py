"""Decide what a request for (image, options) needs, so nothing is paid twice.

The same image bytes (or URL) with the same options map to one job in the
journal. Asking again resumes that job, or re-imports its GLB from disk,
instead of submitting; only ``force`` pays for a new one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..images import PreparedImage
from ..jobs import NOT_SENT, READY_TO_IMPORT, REMOTE_ACTIVE, Job, State, idempotency_key
from ..journal.locks import JobLock
from ..journal.store import Journal
from .runner import mark_submit_unknown


class Decision:
    SUBMIT = "submit"  # a new, paid job
    RESUME = "resume"  # an earlier job still owes us a result or a download
    REIMPORT = "reimport"  # the GLB is on disk already: import it, no network
    UNCERTAIN = "uncertain"  # an earlier submit may have been charged: ask the user
    BUSY = "busy"  # the same job is being worked on right now


@dataclass
class Plan:
    """The job for an image and options, and what it needs."""

    job: Job
    decision: str
    note: str = ""
    #: Held while this process works on the job (SUBMIT, RESUME, REIMPORT);
    #: the caller releases it when done.
    lock: JobLock | None = None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def plan(
    journal: Journal,
    prepared: PreparedImage,
    params: dict,
    *,
    force: bool = False,
    origin: str = "script",
    blend_file: str = "",
    active_ids: set[str] | frozenset[str] = frozenset(),
    new_id: str = "",
) -> Plan:
    """Find or create the job for ``prepared`` with ``params`` and say what it needs.

    ``active_ids`` are jobs being worked on in this process right now;
    ``new_id`` is the id a new job gets (a placeholder's, so it keeps it). The job
    is claimed with a lock (forced or not) so that no other process works on
    (or pays for) the same image and options at the same time.
    """
    key = idempotency_key(prepared.content_hash, params)
    existing = journal.find_by_key(key)
    if existing is not None and existing.id in active_ids:
        return Plan(existing, Decision.BUSY, f"{existing.label} is already being generated with these options"
                    + ("; wait for it to finish before paying for another." if force else "."))
    # A forced job claims its image and options too: a new paid job never runs
    # beside another worker's job for the same image and options.
    lock = journal.try_lock(key)
    if lock is None:
        job = existing or Job(source=prepared.source, params=dict(params), content_hash=prepared.content_hash)
        if journal.locked_here(key):  # another job of this Blender (the same picture under another name)
            return Plan(job, Decision.BUSY, f"{job.label} is already being generated with these options"
                        + ("; wait for it to finish before paying for another." if force else "."))
        return Plan(job, Decision.BUSY, f"{job.label} is being generated with these options by another "
                                        "Blender process right now; wait for it to finish.")
    if force:
        existing = None
    else:
        existing = journal.find_by_key(key)  # re-read: the other process may just have finished
    result = _decide(journal, existing, prepared, params, origin, blend_file, new_id)
    if result.decision in (Decision.SUBMIT, Decision.RESUME, Decision.REIMPORT):
        result.lock = lock
    elif lock is not None:
        lock.release()
    return result


def _decide(journal: Journal, existing: Job | None, prepared: PreparedImage, params: dict, origin: str,
            blend_file: str, new_id: str = "") -> Plan:
    if existing is not None:
        job = existing
        if job.state == State.SUBMITTING:
            mark_submit_unknown(job)
            journal.save(job)
        if job.state == State.SUBMIT_UNKNOWN:
            said = (job.error or f"An earlier submit of {job.label} may have been charged; check your "
                    "Pixazo dashboard").rstrip(".")
            return Plan(job, Decision.UNCERTAIN, said + ". To pay for a new job anyway, use force.")
        if job.glb_path and os.path.exists(job.glb_path) and (
            job.state in READY_TO_IMPORT or job.state in (State.IMPORTED, State.IMPORT_FAILED)
        ):
            return Plan(job, Decision.REIMPORT, f"{job.label} was generated before; using its downloaded model.")
        if job.request_id and (
            job.state in REMOTE_ACTIVE
            or job.state in (State.STOPPED, State.DOWNLOAD_FAILED, State.IMPORTED, State.IMPORT_FAILED)
            or job.state in READY_TO_IMPORT
        ):
            # Paid for already: wait for it, or fetch its output again.
            if job.media_urls and job.state not in (State.QUEUED, State.PROCESSING):
                job.state = State.COMPLETED
            elif not job.media_urls:
                job.state = State.INTERRUPTED if job.state not in (State.QUEUED, State.PROCESSING) else job.state
            job.error = job.error_kind = None
            journal.save(job)
            return Plan(job, Decision.RESUME, f"Resuming {job.label} (request {job.request_id}) without a new submit.")
        if job.state in NOT_SENT:
            # Never sent (its upload to the user's bucket, if any, is reused).
            return Plan(job, Decision.SUBMIT)
        # Rejected, failed or errored before: no model came of it, so try again.
    job = Job(source=prepared.source, params=dict(params), content_hash=prepared.content_hash,
              origin=origin, blend_file=blend_file)
    if new_id:
        job.id = new_id
    journal.save(job)  # the job exists on disk before any request leaves
    return Plan(job, Decision.SUBMIT)
