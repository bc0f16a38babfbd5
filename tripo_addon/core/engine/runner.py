"""Moving a job forward over the network: :func:`advance` submits, polls and downloads.

:func:`advance` is the single piece of job logic: the sidebar, the console and
the batch command all run it in a job's worker thread (:mod:`.worker`) and
import on the main thread when it returns. It never touches ``bpy``, and it
stores the job in the journal at every change of state, the request id first
of all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .. import errors as E
from ..fsutil import save_failure
from ..storage.delivery import Delivery, InlineRefused, deliver, release
from ..jobs import NOT_SENT, SERVER_TO_STATE, Job, State
from ..journal.store import Journal
from ..storage.config import S3, StorageConfig

if TYPE_CHECKING:  # requests loads with the first client, not with this module
    from ..net.gateway import GatewayClient

EventSink = Callable[[Job, str], None]


@dataclass
class RunSettings:
    """How a job is driven: polling, waiting, where models go, webhooks."""

    #: Seconds between status checks of one job (the gateway suggests 5-10;
    #: 2 keeps the wait short at one request per 2 s).
    poll_interval: float = 2.0
    #: Seconds one call waits for a queued or processing job before pausing it.
    max_wait: float = 3600.0
    #: Folder for downloaded models ("" = the journal's own downloads folder).
    downloads_dir: str = ""
    #: For server pipelines: the gateway also POSTs the job's status here
    #: (https; "terminal" or "sync" mode). The job is still polled.
    webhook_url: str = ""
    webhook_mode: str = ""


def mark_submit_unknown(job: Job) -> None:
    """A job found in ``submitting`` was cut off mid-submit: say so, never resend."""
    job.state = State.SUBMIT_UNKNOWN
    job.error = (
        f"The submit of {job.label} was interrupted before the gateway answered; it may have been "
        "submitted and charged. Check your Pixazo dashboard, and submit again only if it is not there."
    )
    job.error_kind = E.SubmitUncertain.kind


def advance(
    job: Job,
    client: GatewayClient,
    journal: Journal,
    *,
    image_url: str | None = None,
    delivery: Delivery | None = None,
    storage: StorageConfig | None = None,
    settings: RunSettings | None = None,
    on_event: EventSink | None = None,
    **delivery_options,
) -> Job:
    """Take ``job`` as far as the network can: to ``downloaded`` or a final state.

    A new job needs ``delivery`` (how its image travels) or a ready
    ``image_url``. ``storage`` is the user's bucket, used to delete the job's
    uploaded image once the gateway no longer needs it.

    Returns early, with the state unchanged, when the client's stop event is
    set; the journal then holds everything needed to resume.
    """
    settings = settings or RunSettings()

    def changed(state: str | None = None, event: str = "state") -> None:
        if state is not None:
            job.state = state
        if event != "progress":  # byte counts are not worth an fsync
            try:
                journal.save(job)
            except E.JournalUnwritable:
                # The record (a paid request id, maybe) is kept in the journal's
                # memory and written by the next save that works; say so now.
                if on_event:
                    on_event(job, "unsaved")
        if on_event:
            on_event(job, event)

    _advance(job, client, journal, image_url, delivery, settings, changed, delivery_options)
    if storage is not None and (job.delivery or {}).get("route") == S3 and not client.stop.is_set():
        # Its own step: a failed delete is retried by the next start's sweep, never the job's failure.
        release(job, storage, lambda state, event: changed(state, event), stop=client.stop, **delivery_options)
    return job


def _advance(job: Job, client: GatewayClient, journal: Journal, image_url: str | None, delivery: Delivery | None,
             settings: RunSettings, changed, delivery_options: dict) -> None:
    try:
        if job.state == State.SUBMITTING:
            mark_submit_unknown(job)
            changed()
            return
        if job.state in NOT_SENT:
            if delivery is None and not image_url:
                raise ValueError("a new job needs its delivery or image_url")
            job.error = job.error_kind = None
            try:
                if delivery is not None:
                    image_url = deliver(job, delivery, lambda state, event: changed(state, event),
                                        stop=client.stop, **delivery_options)
                else:
                    job.delivery = {"route": "inline" if image_url.startswith("data:") else "url"}
            except E.Stopped:
                changed(State.NEW)  # nothing was sent; the upload, if any, is reused next time
                return
            except E.StorageError as exc:
                job.fail(State.REJECTED, exc)
                changed()
                return
            assert image_url
            changed(State.SUBMITTING)
            try:
                result = client.submit(image_url, job.params, webhook_url=settings.webhook_url or None,
                                       webhook_mode=settings.webhook_mode or None)
            except E.SubmitUncertain as exc:
                job.fail(State.SUBMIT_UNKNOWN, exc)
                changed()
                return
            except E.Stopped:
                # Stopped while waiting to retry a submit that never reached the queue.
                job.state = State.NEW
                changed()
                return
            except E.BadRequest as exc:
                if image_url.startswith("data:"):
                    exc = InlineRefused.from_refusal(exc)
                job.fail(State.REJECTED, exc)
                changed()
                return
            except E.TripoError as exc:
                job.fail(State.REJECTED, exc)
                changed()
                return
            job.request_id = result.request_id
            job.base_url = client.base_url
            job.polling_url = result.polling_url
            job.server_status = result.status
            job.submitted_at = time.time()
            # The paid job's id goes to disk before anything else happens.
            changed(SERVER_TO_STATE.get(result.status, State.QUEUED))
            client._wait(settings.poll_interval)

        if job.request_id and job.base_url and job.base_url != client.base_url and not job.media_urls:
            job.fail(State.INTERRUPTED, E.TripoError(
                f"{job.label} was submitted to the gateway at {job.base_url} (request {job.request_id}); set the "
                "gateway address back to it to resume the job. Nothing was sent to the new address."))
            changed()
            return
        if job.state in (State.QUEUED, State.PROCESSING) or (job.state == State.INTERRUPTED and not job.media_urls):
            _poll_until_done(job, client, settings, changed)
            if job.state != State.COMPLETED:
                return

        if job.state in (State.COMPLETED, State.DOWNLOADING) or (job.state == State.INTERRUPTED and job.media_urls):
            _download(job, client, journal, settings, changed)
    except E.Stopped:
        pass


def _poll_until_done(job: Job, client: GatewayClient, settings: RunSettings, changed) -> None:
    assert job.request_id
    started = time.monotonic()
    while True:
        try:
            status = client.status(job.request_id, job.polling_url)
        except E.Stopped:
            raise  # stopped, or online access off, right before the request: nothing was asked
        except E.RetriesExhausted as exc:
            job.fail(State.INTERRUPTED, exc)
            changed()
            return
        except E.NotFound:
            job.fail(State.INTERRUPTED, E.NotFound(
                f"The gateway does not know the job {job.request_id}; it may have expired. "
                "Check your Pixazo dashboard."
            ))
            changed()
            return
        except E.TripoError as exc:  # 401/403 etc.: the key changed mid-job
            job.fail(State.INTERRUPTED, exc)
            changed()
            return
        if status.status != job.server_status:
            job.server_status = status.status
            changed(event="status")
        if status.status == "COMPLETED":
            job.media_urls = list(status.media_urls)
            job.media_type = status.media_type
            job.completed_seen_at = time.time()
            job.error = job.error_kind = None
            changed(State.COMPLETED)
            return
        if status.status == "FAILED":
            reason = f": {status.error}" if status.error else ""
            job.fail(State.FAILED, E.JobFailed(
                f"Tripo3D could not make a model from {job.label}{reason}. "
                "Try a clear image of a single object on a plain background."
            ))
            changed()
            return
        if status.status == "ERROR":
            reason = f" ({status.error})" if status.error else ""
            job.fail(State.ERROR, E.JobErrored(
                f"The gateway had a system error on {job.label}{reason}; this job was not charged, "
                "so you can simply try again."
            ))
            changed()
            return
        # QUEUED, PROCESSING, or a status the contract does not list: keep waiting
        # (an unknown status leaves the state as it was).
        new_state = SERVER_TO_STATE.get(status.status, job.state if job.state in (State.QUEUED, State.PROCESSING)
                                        else State.QUEUED)
        if job.state != new_state:
            job.error = job.error_kind = None
            changed(new_state)
        if time.monotonic() - started > settings.max_wait:
            job.fail(State.INTERRUPTED, E.RetriesExhausted(
                f"{job.label} is still {status.status.lower()} after {settings.max_wait / 60:.0f} minutes; "
                "it is saved and will be checked again when you resume."
            ))
            changed()
            return
        client._wait(settings.poll_interval)


def _download(job: Job, client: GatewayClient, journal: Journal, settings: RunSettings, changed) -> None:
    changed(State.DOWNLOADING)
    last = [0.0]

    def progress(received: int, total: int | None) -> None:
        job.download_bytes, job.download_total = received, total
        now = time.monotonic()
        if now - last[0] >= 0.1:
            last[0] = now
            changed(event="progress")

    try:
        path = client.download(job.media_urls, journal.download_path(job, settings.downloads_dir),
                               media_type=job.media_type,
                               progress=progress)
    except (E.NoOutput, E.NotAGlb, E.TooLarge, E.InsecureUrl, E.NotFound, E.BadRequest) as exc:
        job.fail(State.DOWNLOAD_FAILED, exc)
        changed()
        return
    except E.Stopped:
        raise
    except E.TripoError as exc:
        job.fail(State.INTERRUPTED, exc)
        changed()
        return
    except OSError as exc:  # the model could not be saved here (a full disk...): paid, so resumable
        job.fail(State.INTERRUPTED, E.DownloadError(save_failure(
            exc, f"the model of {job.label}", then=", and the job resumes without a new charge")))
        changed()
        return
    job.glb_path = path
    job.downloaded_at = time.time()
    job.error = job.error_kind = None
    changed(State.DOWNLOADED)
