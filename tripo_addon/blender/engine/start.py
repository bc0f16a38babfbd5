"""Starting (or picking up) a job for one image: shared by the Generate button and
``api.generate``. No UI here: the panel and the console both call this.

The image is prepared on the main thread (local file work only), then
:mod:`.manager` does the network work in a worker thread and imports on
the main thread when the model is on disk.
"""

from __future__ import annotations

import bpy

from ...core import errors as E
from ...core.engine.jobs import Job
from ...core.engine.planning import Decision, plan
from .. import settings as settings_mod
from ..exp.image_source import prepare_datablock, prepare_source
from ...core.placement_options import ImportOptions
from .manager import manager
from ..imp.prerequisites import check_import_prerequisites
from ..ui.properties import chosen_import_options, chosen_params, chosen_source, panel_settings
from ..user_data import journal


def start_generate(context, source: str = "", params: dict | None = None, *, force: bool = False,
                   options: ImportOptions | None = None) -> tuple[Job, str]:
    """Prepare the image and start (or pick up) its job. Raises TripoError with a clear message."""
    check_import_prerequisites()  # before anything is prepared, sent or paid for
    s = panel_settings(context)
    merged = chosen_params(s)
    merged.update({k: v for k, v in (params or {}).items() if v})
    if not all(merged.values()):
        raise E.BadRequest("An option set to Other... has no value; type the value to send.")
    options = options or chosen_import_options(s)
    datablock = None
    if source:
        prepared, note = prepare_source(source)
    else:
        kind, value = chosen_source(context)
        if kind == "image":
            if value is None:
                raise E.BadImage("No image is selected; open one in the Image Editor or pick one in the panel.")
            prepared, note = prepare_datablock(value)
            datablock = value
        else:
            if not value:
                raise E.BadImage("No image file or URL is given; fill in the field above Generate.")
            prepared, note = prepare_source(value)
    settings_mod.ensure_online()
    settings = settings_mod.current()
    if not settings.api_key:
        raise E.NoApiKey("No Pixazo API key is set; enter it in the add-on preferences or set PIXAZO_API_KEY.")
    delivery = settings.delivery(prepared)  # a bucket that cannot work is said now, before any request
    p = plan(journal(), prepared, merged, force=force, origin="ui", blend_file=bpy.data.filepath,
             active_ids=manager.active_ids())
    job = p.job
    job.import_options = options.__dict__.copy()
    job.blend_file = bpy.data.filepath  # asked for here, so it lands here
    manager.offer_only.discard(job.id)
    notes = [n for n in (note, p.note) if n]
    if p.decision in (Decision.BUSY, Decision.UNCERTAIN):
        extra = " Shift+click Generate to pay for another one." if p.decision == Decision.BUSY else ""
        raise E.TripoError(p.note + extra)
    journal().save(job)
    manager.jobs[job.id] = job
    for hook in list(manager.started_hooks):
        hook(job, datablock)
    if p.decision == Decision.REIMPORT:
        try:
            manager.import_now(job, asked=True)
        finally:
            p.release()
        notes.append("No new charge; Shift+click Generate to make a new model.")
    else:
        manager.start(job, delivery if p.decision == Decision.SUBMIT else None, lock=p.lock)
    return job, " ".join(notes)
