"""What the UI, the console and the CLI share: the journal, the import step,
and a blocking driver that takes one image all the way into the scene.

The blocking driver runs the network steps on the calling thread; it is for
background Blender, scripts and tests (where timers never fire), never for
the UI, which runs the same :func:`~..core.runner.advance` in a worker thread.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import bpy

from ..core import errors as E
from ..core.jobs import Job, State
from ..core.journal import Journal
from ..core.urls import shorten
from . import settings as settings_mod
from .import_options import ImportOptions
from .paths import user_dir

if TYPE_CHECKING:
    from ..core.gateway import RetryPolicy

_journal: Journal | None = None


def journal() -> Journal:
    """The journal under Blender's user resources (``BLENDER_USER_RESOURCES`` moves it)."""
    global _journal
    directory = user_dir()
    if _journal is None or _journal.directory != directory:
        _journal = Journal(directory)
    return _journal


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
    from .importer import import_glb  # loaded at the first import, not at registration

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
            from ..core import buglog

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


@dataclass
class Outcome:
    """What happened to one requested image, for reports and messages."""

    image: str
    job: Job | None = None
    error: str | None = None
    error_kind: str | None = None
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.job is not None and self.job.state == State.IMPORTED

    def to_report(self) -> dict:
        job = self.job
        status = "COMPLETED" if self.ok else (job.state.upper() if job else "REJECTED")
        return {
            "image": self.image,
            "request_id": job.request_id if job else None,
            "status": status,
            "glb": job.glb_path if job else None,
            "objects": list(job.objects) if self.ok and job else [],
            "error": None if self.ok else (self.error or (job.error if job else None)),
        }


def generate_blocking(
    source: str,
    params: dict | None = None,
    options: ImportOptions | None = None,
    *,
    force: bool = False,
    origin: str = "script",
    settings: settings_mod.Settings | None = None,
    retry: RetryPolicy | None = None,
    on_event: Callable[[Job, str], None] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> Outcome:
    """Take ``source`` from image to imported model, blocking until done.

    The same job engine as the sidebar and the batch command (see
    :mod:`.batch`), for one image. Never raises for an expected failure: the
    outcome carries the message. Resumes an earlier job for the same image and
    options instead of paying again, unless ``force``.
    """
    from dataclasses import replace

    from . import batch

    settings = replace(settings or settings_mod.current(), retry=retry)
    [outcome] = batch.run([source], params, options, settings=settings, jobs=1, force=force, origin=origin,
                          on_event=on_event, log=log)
    return outcome


def clean_uploads(settings: settings_mod.Settings) -> tuple[int, list[str]]:
    """Delete uploaded images left behind by earlier runs (blocking; CLI and scripts)."""
    if settings.storage is None or not bpy.app.online_access:
        return 0, []
    from ..core.delivery import sweep

    return sweep(journal(), settings.storage)


