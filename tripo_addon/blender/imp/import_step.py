"""The import step of a job: its downloaded GLB into the open scene, with
provenance on the model, the result written to the journal."""

from __future__ import annotations

import os
import time

from ...core import errors as E
from ...core.jobs import Job, State
from ...core.net.urls import shorten
from ...core.placement_options import ImportOptions
from ..user_data import journal


def model_name(job: Job) -> str:
    return os.path.splitext(job.label)[0] or "Tripo3D model"


def private_name(source: str) -> str:
    """A source as stored in a .blend: a URL without its query (it may carry a
    token), a local file by its name only."""
    if "://" in source:
        return shorten(source, limit=300)
    return os.path.basename(source.replace("\\", "/")) or source


def import_job(job: Job, options: ImportOptions | None = None, context=None) -> Job:
    """Import a downloaded job's GLB into the current scene (main thread only)."""
    from .importer import import_glb

    jr = journal()
    options = options or ImportOptions.from_dict(job.import_options)
    # Not journalled yet: "importing" and "downloaded" mean the same after a
    # crash (import again from the GLB), so one write after the import is enough.
    job.state = State.IMPORTING
    job.import_started_at = time.time()
    # A .blend travels (to clients, render farms, asset libraries): it names the
    # picture and the model file, not where they sit on this computer, unless asked.
    keep_paths = bool((job.import_options or {}).get("keep_paths"))
    provenance = {
        "request_id": job.request_id,
        "source": job.source if keep_paths else private_name(job.source),
        "model": "Tripo3D v2.5",
        "texture": job.params.get("texture"),
        "texture_alignment": job.params.get("texture_alignment"),
        "orientation": job.params.get("orientation"),
        "glb": job.glb_path if keep_paths else os.path.basename(job.glb_path or ""),
        "job": job.id,
    }
    try:
        result = import_glb(job.glb_path or "", model_name(job), options, provenance, context=context)
    except E.ImportFailed as exc:
        if exc.__cause__ is not None:  # a bug, not the model: the traceback goes to the bug log
            from ...core import buglog

            log = buglog.record(jr.directory, exc.__cause__, f"importing the model of job {job.id}")
            exc = E.ImportFailed(exc.message + (f" The details are in {log}." if log else ""))
        job.fail(State.IMPORT_FAILED, exc)
        jr.save(job, sync_folder=False)  # lost in a crash: the import is tried again
        return job
    job.objects = result.objects
    job.imported_at = time.time()
    job.error = job.error_kind = None
    job.state = State.IMPORTED
    jr.save(job, sync_folder=False)  # lost in a crash: imported again from the GLB, nothing paid
    return job
