"""Starting a job for one picture: the one way in for the Generate button, the console
(``api.generate``) and the batch.

It returns at once: the job's worker reads the picture, plans the job and does the network steps."""

from __future__ import annotations

import uuid

import bpy

from ...core import errors as E
from ...core.engine.intake import StartRequest
from ...core.gameready import DOCUMENTED_FIELDS
from ...core.jobs import Job
from ...core.placement_options import ImportOptions
from .. import settings as settings_mod
from ..exp import decoding
from ..exp.image_source import picture_request
from ..imp.prerequisites import check_import_prerequisites
from ..windows import remember_window
from .manager import manager


def start_job(source: str, params: dict, options: ImportOptions, *, force: bool = False, origin: str = "ui",
              image=None) -> Job:
    """Start a job for ``source`` (a file path, a URL or an image's name) or
    for ``image`` (a Blender image datablock); returns the job's placeholder.

    Raises :class:`~...core.errors.TripoError` with a clear sentence when it
    cannot start; what only the picture's contents can tell (and planning)
    is said by the job itself once its worker got that far."""
    remember_window(bpy.context.window)  # this job's reports from the timer go to the artist's window
    check_import_prerequisites()  # before anything is prepared, sent or paid for
    # Only the documented fields have an "Other..." entry; an extra field may be false or 0.
    if not all(params[name] for name in DOCUMENTED_FIELDS if name in params):
        raise E.BadRequest("An option set to Other... has no value; type the value to send.")
    settings = settings_mod.for_a_job(manager.settings_override)
    label, prepared, note = picture_request(source, image, keep_metadata=settings.keep_metadata)
    remote = prepared.is_remote if prepared is not None else "://" in label  # a URL comes back as it was given
    if not remote and settings.upload_route != "inline" and settings.storage_error is not None:
        raise settings.storage_error  # the bucket a local picture needs cannot work: said now, before any request
    request = StartRequest(source=label, params=dict(params), import_options=dict(options.__dict__), force=force,
                           origin=origin, blend_file=bpy.data.filepath, prepared=prepared, note=note,
                           bucket=settings, keep_metadata=settings.keep_metadata,
                           decoder=None if prepared is not None or remote else decoding.shared())
    job = Job(source=label, params=dict(params), content_hash="", id=uuid.uuid4().hex, origin=origin,
              blend_file=request.blend_file, import_options=dict(request.import_options))
    manager.start(job, request=request, settings=settings, image=image)
    return job
