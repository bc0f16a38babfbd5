"""How a job's image reaches the gateway (:class:`Delivery`), and the clean-up after it.

The gateway's contract asks for "a publicly accessible URL" of the image.
Routes:

- ``url``: an http(s) source is sent as it is;
- ``s3``: a local image is put in the user's own S3-compatible bucket and the
  gateway gets a short-lived presigned GET link; the object is deleted once
  the gateway no longer needs it;
- ``inline``: the bytes travel inside the request as a ``data:`` URI
  (experimental: nothing public shows that the live gateway takes them);
- ``auto``: ``s3`` when a bucket is configured, otherwise ``inline``.

The job record keeps where the object is (bucket, key, when its link
expires, whether it was deleted) but never a secret or the signed link:
a link is signed again, locally, whenever it is needed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from .. import errors as E
from ..images import PreparedImage
from ..jobs import Job, State, keeps_an_upload
from ..journal.store import Journal
from .config import INLINE, S3, StorageConfig

if TYPE_CHECKING:  # the client (and requests) load when a job first needs them
    from .client import S3Storage

#: The route of an http(s) picture, sent as it is (the others are the ones a user asks for: .config).
URL = "url"

#: A reused upload must stay readable at least this long after the submit,
#: so the gateway has time to fetch it.
REUSE_MARGIN = 15 * 60
#: States in which the gateway has certainly finished with the image.
SERVER_DONE = {
    State.REJECTED, State.FAILED, State.ERROR, State.COMPLETED, State.DOWNLOADING, State.DOWNLOADED,
    State.DOWNLOAD_FAILED, State.IMPORTING, State.IMPORTED, State.IMPORT_FAILED,
}

INLINE_REFUSED = (
    "The gateway refused the image sent inline{said}; nothing was charged. It takes images by address: "
    "set up your own bucket (Preferences > Add-ons > Tripo3D > Storage, or --upload s3://BUCKET/PREFIX "
    "with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or give a public image URL. See the README's "
    "'Your own bucket'."
)


def choose_route(requested: str, prepared: PreparedImage | None, storage: StorageConfig | None) -> str:
    """The route a job's image takes; raises when the bucket route has no bucket."""
    if prepared is not None and prepared.is_remote:
        return URL
    if requested == INLINE:
        return INLINE
    if requested == S3 and storage is None:
        raise E.StorageConfigError(
            "The upload route is your bucket, but no bucket is set; give --upload s3://BUCKET/PREFIX "
            "or set the bucket in the add-on preferences."
        )
    return S3 if storage is not None else INLINE


def describe(route: str, storage: StorageConfig | None = None) -> str:
    """How the image will travel, in a few words for the panel and the CLI."""
    if route == URL:
        return "as its public URL"
    if route == S3 and storage is not None:
        return f"via your bucket {storage.location}"
    return "inline (experimental)"


@dataclass
class Delivery:
    """What a new job needs to hand its image to the gateway."""

    route: str
    prepared: PreparedImage
    storage: StorageConfig | None = None

    @property
    def description(self) -> str:
        return describe(self.route, self.storage)


StorageFactory = Callable[..., "S3Storage"]


def _s3_storage(*args, **kwargs) -> "S3Storage":
    from .client import S3Storage

    return S3Storage(*args, **kwargs)

Save = Callable[[str | None, str], None]  # (new state or None, event)


def deliver(job: Job, delivery: Delivery, save: Save, *, stop: threading.Event | None = None,
            clock: Callable[[], float] = time.time, storage_factory: StorageFactory = _s3_storage) -> str:
    """The ``image_url`` to submit for ``job``; for the bucket route, upload first.

    Each step is journalled before it happens (the object's key before the PUT),
    so an object left by a crash is found and deleted later. Raises a
    StorageError with one clear sentence; nothing is submitted then.
    """
    prepared = delivery.prepared
    if delivery.route != S3:
        job.delivery = {"route": delivery.route}
        return prepared.url if delivery.route == URL else prepared.image_url
    config = delivery.storage
    assert config is not None and prepared.data is not None and prepared.info is not None
    store = storage_factory(config, stop=stop)
    try:
        link = _reuse(job, config, store, clock)
        if link:
            return link
        key = store.new_key(prepared.extension)
        job.delivery = _record(config, key)
        job.upload_bytes, job.upload_total = 0, len(prepared.data)
        save(State.UPLOADING, "state")  # the key is on disk before the object exists
        last = [0.0]

        def progress(sent: int, total: int) -> None:
            job.upload_bytes, job.upload_total = sent, total
            if clock() - last[0] >= 0.1:
                last[0] = clock()
                save(None, "progress")

        store.put(key, prepared.data, prepared.info.mime, progress=progress)
        now = clock()
        job.delivery.update(uploaded_at=now, url_expires_at=now + config.url_lifetime)
        save(None, "state")
        link = store.presign_get(key, config.url_lifetime)
        try:
            store.check_readable(link)
        except E.StorageError:
            _delete_quietly(job, store)
            save(None, "state")
            raise
        return link
    finally:
        store.close()


def _record(config: StorageConfig, key: str) -> dict:
    return {
        "route": S3, "location": config.location, "bucket": config.bucket, "endpoint": _endpoint(config),
        "region": config.region, "key": key, "uploaded_at": None, "url_expires_at": None, "deleted": False,
    }


def _endpoint(config: StorageConfig) -> str:
    parts = urlsplit(config.endpoint or "")
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}".rstrip("/") if parts.scheme else ""


def _same_bucket(record: dict, config: StorageConfig) -> bool:
    return record.get("bucket") == config.bucket and record.get("endpoint", "") == _endpoint(config)


def _reuse(job: Job, config: StorageConfig, store: "S3Storage", clock) -> str | None:
    """A fresh link to this job's earlier upload, if the object is still there
    and can stay readable long enough; the object itself is never re-sent."""
    record = job.delivery or {}
    if record.get("route") != S3 or record.get("deleted") or not record.get("uploaded_at"):
        return None
    if not _same_bucket(record, config):
        return None
    now = clock()
    # A link may be signed again, but only within the lifetime the user chose
    # for the object: reuse it while that leaves the gateway time to fetch it.
    remaining = float(record["uploaded_at"]) + config.url_lifetime - now
    if remaining < min(REUSE_MARGIN, config.url_lifetime / 2):
        return None
    link = store.presign_get(record["key"], int(remaining))
    try:
        store.check_readable(link)
    except E.StorageError:
        return None  # gone (a lifecycle rule, a cleanup): upload again
    record["url_expires_at"] = now + int(remaining)
    return link


def object_due_for_deletion(job: Job, now: float) -> bool:
    """True once the gateway can no longer need the job's uploaded object."""
    record = job.delivery or {}
    if not keeps_an_upload(record):
        return False
    if job.state in SERVER_DONE:
        return True
    if job.state == State.STOPPED and not job.request_id:
        return True  # stopped before it was sent
    expires = record.get("url_expires_at")
    # Queued, processing, stopped while running, or maybe submitted: the gateway
    # may still fetch it until its link expires (an object whose upload never
    # finished has no link: it is due at once, unless the job may still use it).
    if expires is None:
        return job.state not in (State.NEW, State.UPLOADING)
    return float(expires) <= now


def release(job: Job, config: StorageConfig | None, save: Save, *, clock: Callable[[], float] = time.time,
            storage_factory: StorageFactory = _s3_storage, stop: threading.Event | None = None) -> bool:
    """Delete the job's uploaded object if it is due; True when deleted.

    A failure is not the job's failure: the record keeps ``deleted: False``
    and :func:`sweep` tries again at the next start.
    """
    if config is None or not config.delete_after or not object_due_for_deletion(job, clock()):
        return False
    store = storage_factory(_config_for(job.delivery, config), stop=stop)
    try:
        if _delete_quietly(job, store):
            save(None, "state")
            return True
        return False
    finally:
        store.close()


def _delete_quietly(job: Job, store: "S3Storage") -> bool:
    try:
        store.delete(job.delivery["key"])
    except E.TripoError as exc:
        job.delivery["delete_error"] = exc.message
        return False
    job.delivery["deleted"] = True
    job.delivery.pop("delete_error", None)
    return True


def _config_for(record: dict, config: StorageConfig) -> StorageConfig:
    """The current credentials, pointed at the bucket the object went to."""
    from dataclasses import replace

    return replace(config, bucket=record.get("bucket") or config.bucket,
                   endpoint=record.get("endpoint", config.endpoint),
                   region=record.get("region") or config.region)


def sweep(journal: Journal, config: StorageConfig | None, *, clock: Callable[[], float] = time.time,
          storage_factory: StorageFactory = _s3_storage) -> tuple[int, list[str]]:
    """Delete uploaded objects left behind (a crash, a failed delete, an expired link).

    Only jobs this process can claim are touched: a job another worker (or
    another Blender) is running keeps its object until it ends. Returns
    (objects deleted, one sentence per object that could not be deleted).
    """
    if config is None or not config.delete_after:
        return 0, []
    deleted, problems = 0, []
    for job in journal.with_uploads():  # only the records that may name an object
        if not object_due_for_deletion(job, clock()):
            continue
        lock = journal.try_lock(job.key)
        if lock is None:
            continue
        try:
            job = journal.load(job.id) or job  # re-read under the claim
            if release(job, config, lambda *_a, j=job: journal.save(j), clock=clock,
                       storage_factory=storage_factory):
                deleted += 1
            elif (job.delivery or {}).get("delete_error"):
                where = f"s3://{job.delivery.get('bucket', '')}/{job.delivery.get('key', '')}"
                problems.append(f"Could not delete {where} left by {job.label}: {job.delivery['delete_error']}")
        finally:
            lock.release()
    return deleted, problems


class InlineRefused(E.BadRequest):
    """The gateway said 400 to an image sent inline: it wants an address."""

    kind = "inline_refused"

    @classmethod
    def from_refusal(cls, exc: E.BadRequest) -> "InlineRefused":
        text = exc.message
        # Keep the server's own words (in brackets in the client's sentence).
        said = f" ({text[text.index('(') + 1: text.rindex(')')]})" if "(" in text and ")" in text else ""
        return cls(INLINE_REFUSED.format(said=said))
