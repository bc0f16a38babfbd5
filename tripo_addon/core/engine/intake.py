"""A job's first step, in its worker thread: the picture prepared, how it travels chosen, and its
journal record found or made (so nothing is paid twice).

Until this is done the job is only a request in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import errors as E
from .. import session as session_mod
from ..images import PreparedImage
from ..jobs import Job
from ..storage.delivery import Delivery, choose_route
from .planning import Decision, Plan, plan

if TYPE_CHECKING:
    from ..journal.store import Journal


@dataclass
class StartRequest:
    """What starting a job was asked for: read on the main thread, used in the worker."""

    source: str  # the path or URL as given, or the Blender image's name
    params: dict
    import_options: dict = field(default_factory=dict)
    force: bool = False
    origin: str = "script"
    blend_file: str = ""  # the file the model goes into
    #: The Blender process asking (core.session), read on the main thread: with
    #: an unsaved file, the model lands only in this process's file.
    session: str = field(default_factory=session_mod.current)
    #: The picture, when the main thread had to read it (a Blender image, or a
    #: file only Blender can decode); None: the worker reads the file or URL.
    prepared: PreparedImage | None = field(default=None, repr=False)
    note: str = ""  # what preparing it on the main thread did
    #: Decodes, apart, a file the gateway cannot take as it is (a DecoderClient, made on the main
    #: thread); None: such a file is refused.
    decoder: object = field(default=None, repr=False)
    #: How local pictures travel: an object with ``upload_route``, ``storage``
    #: and ``storage_error`` (the Blender layer's Settings), read in the worker.
    bucket: object = None
    #: Jobs this Blender was working on when the request was made (to say "already being generated").
    active_ids: frozenset = frozenset()
    #: Send a local picture's EXIF/XMP/IPTC and text as they are (by default they are removed).
    keep_metadata: bool = False


@dataclass
class Intake:
    """The job the request became, and what it needs next."""

    job: Job
    decision: str
    notes: list = field(default_factory=list)
    delivery: Delivery | None = None
    plan: Plan | None = None


def take_in(request: StartRequest, journal: Journal, job_id: str = "") -> Intake:
    """Prepare the picture and plan its job (a new one gets ``job_id``). Raises :class:`~..errors.TripoError`
    (a picture that cannot be sent, a journal that cannot be written): nothing
    was sent then, and no record was made."""
    from ..images.decoder_client import prepare_local

    prepared, decoded_note = (request.prepared, "") if request.prepared else prepare_local(
        request.source, request.decoder, keep_metadata=request.keep_metadata)
    requested = getattr(request.bucket, "upload_route", "auto")
    storage = getattr(request.bucket, "storage", None)
    problem = getattr(request.bucket, "storage_error", None)
    if problem is not None and not prepared.is_remote and requested != "inline":
        raise problem  # the bucket this picture needs cannot work: nothing is sent
    route = choose_route(requested, prepared, storage)
    delivery = Delivery(route, prepared, storage if route == "s3" else None)
    # A job this process works on holds its claim (an OS file lock that
    # conflicts within a process too): planning sees it as busy either way.
    p = plan(journal, prepared, request.params, force=request.force, origin=request.origin,
             blend_file=request.blend_file, active_ids=request.active_ids, new_id=job_id)
    job = p.job
    notes = [n for n in (request.note, decoded_note, p.note) if n]
    if p.decision in (Decision.SUBMIT, Decision.RESUME, Decision.REIMPORT):
        job.import_options = dict(request.import_options)
        job.blend_file = request.blend_file  # asked for here, so it lands here
        job.session = request.session
        try:
            journal.save(job)
        except E.JournalUnwritable:
            p.release()
            raise
    return Intake(job, p.decision, notes, delivery if p.decision == Decision.SUBMIT else None, p)
