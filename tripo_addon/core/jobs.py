"""The job: one image sent with one set of options, from submit to import.

States are the gateway's (queued, processing, completed, failed, error)
plus local ones. The journal stores a job after every change of state.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields


class State:
    NEW = "new"
    UPLOADING = "uploading"  # the image goes to the user's bucket; nothing sent to the gateway yet
    SUBMITTING = "submitting"  # written before the POST leaves
    SUBMIT_UNKNOWN = "submit_unknown"  # sent, but no answer: may be charged
    REJECTED = "rejected"  # the gateway refused the submit: nothing queued
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"  # the server finished; not downloaded yet
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    DOWNLOAD_FAILED = "download_failed"
    IMPORTING = "importing"
    IMPORTED = "imported"
    IMPORT_FAILED = "import_failed"
    FAILED = "failed"  # the server's FAILED
    ERROR = "error"  # the server's ERROR: not charged
    INTERRUPTED = "interrupted"  # lost contact or stopped mid-way; resumable
    STOPPED = "stopped"  # the user stopped tracking it


#: The server still owes us a result (or we owe ourselves a download).
REMOTE_ACTIVE = {State.QUEUED, State.PROCESSING, State.COMPLETED, State.DOWNLOADING, State.INTERRUPTED}
#: A GLB is on disk and waits for Blender.
READY_TO_IMPORT = {State.DOWNLOADED, State.IMPORTING}
#: Nothing more will happen to these.
FINISHED = {
    State.REJECTED, State.SUBMIT_UNKNOWN, State.IMPORTED, State.IMPORT_FAILED, State.FAILED,
    State.ERROR, State.DOWNLOAD_FAILED, State.STOPPED,
}
#: Not sent to the gateway yet: a re-run submits this same record (nothing was paid).
NOT_SENT = {State.NEW, State.UPLOADING}
#: Finished without a model: a re-run may submit again.
FAILED_STATES = {State.REJECTED, State.FAILED, State.ERROR, State.DOWNLOAD_FAILED, State.STOPPED}

SERVER_TO_STATE = {
    "QUEUED": State.QUEUED,
    "PROCESSING": State.PROCESSING,
    "COMPLETED": State.COMPLETED,
    "FAILED": State.FAILED,
    "ERROR": State.ERROR,
}

DEFAULT_PARAMS = {"texture": "standard", "texture_alignment": "original_image", "orientation": "default"}


def _new_id() -> str:
    # uuid (and json, hashlib below) load at first use, not when Blender
    # registers the add-on at every start (a few ms each there).
    import uuid

    return uuid.uuid4().hex


def keeps_an_upload(delivery) -> bool:
    """Whether a job's delivery record says its image may still be in the
    user's bucket (uploaded, or about to be, and not deleted yet)."""
    return (isinstance(delivery, dict) and delivery.get("route") == "s3" and bool(delivery.get("key"))
            and not delivery.get("deleted"))


def idempotency_key(content_hash: str, params: dict) -> str:
    """Same image bytes (or URL) and same options give the same key."""
    import hashlib
    import json

    blob = json.dumps({"image": content_hash, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Job:
    """One image sent with one set of options: its record in the journal."""

    source: str
    params: dict
    content_hash: str
    id: str = field(default_factory=lambda: _new_id())
    key: str = ""
    state: str = State.NEW
    request_id: str | None = None
    polling_url: str | None = None
    server_status: str | None = None
    media_urls: list = field(default_factory=list)
    media_type: str | None = None
    glb_path: str | None = None
    objects: list = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    origin: str = "script"  # "ui", "cli" or "script"
    blend_file: str = ""  # the .blend that started the job ("" = unsaved)
    #: The Blender process that started it (core.session): an unsaved file is told by it.
    session: str = ""
    import_options: dict = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    submitted_at: float | None = None
    completed_seen_at: float | None = None  # when we saw COMPLETED
    downloaded_at: float | None = None
    import_started_at: float | None = None
    imported_at: float | None = None
    download_bytes: int = 0
    download_total: int | None = None
    #: How the image travels and, for the bucket route, the object to delete
    #: afterwards (see core.storage.delivery; never a secret or a signed link).
    delivery: dict = field(default_factory=dict)
    #: The gateway the job was submitted to: its request id means nothing elsewhere,
    #: and the key is never sent to another address to ask about it.
    base_url: str = ""
    upload_bytes: int = 0
    upload_total: int | None = None

    def __post_init__(self) -> None:
        if not self.key:
            self.key = idempotency_key(self.content_hash, self.params)

    @property
    def label(self) -> str:
        import os

        name = os.path.basename(self.source.split("?", 1)[0].rstrip("/")) or self.source
        return name[:60]

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def fail(self, state: str, exc: Exception) -> None:
        self.state = state
        from .errors import scrub

        self.error = scrub(getattr(exc, "message", None) or str(exc))
        self.error_kind = getattr(exc, "kind", "error")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
