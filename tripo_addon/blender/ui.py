"""The sidebar panel, its operators and settings, and ``blender --command tripo3d``.

Generate returns at once: the image is prepared on the main thread (local
file work only), then :mod:`.job_manager` does the network work in a worker
thread and imports on the main thread when the model is on disk.
"""

from __future__ import annotations

import os
import sys
import time

import bpy
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, PointerProperty, StringProperty

from ..core import errors as E
from ..core.jobs import Job, State
from ..core.planning import Decision, plan
from . import settings as settings_mod
from .image_source import prepare_datablock, prepare_source
from .importer import ImportOptions
from .job_manager import CATEGORY, manager, redraw
from .service import journal

CUSTOM = "CUSTOM"

TEXTURE_ITEMS = [
    ("standard", "Standard", "Standard texture quality"),
    ("HD", "HD", "High-definition texture"),
    ("no", "None", "Geometry only, no texture"),
    (CUSTOM, "Other...", "Send another value"),
]
ALIGNMENT_ITEMS = [
    ("original_image", "Original Image", "Keep the texture true to the picture"),
    ("geometry", "Geometry", "Fit the texture to the shape"),
    (CUSTOM, "Other...", "Send another value"),
]
ORIENTATION_ITEMS = [
    ("default", "Default", "The model's own orientation"),
    ("align_image", "Align to Image", "Turn the model to face like the picture"),
    (CUSTOM, "Other...", "Send another value"),
]
SOURCE_ITEMS = [
    ("EDITOR", "Image Editor", "The image shown in the Image Editor (or the one picked below)"),
    ("IMAGE", "Blender Image", "Any image in this file, including the Render Result"),
    ("FILE", "File", "An image file on disk"),
    ("URL", "URL", "A public http(s) address the gateway can fetch"),
]

PROGRESS = {
    State.NEW: 0.02, State.SUBMITTING: 0.05, State.QUEUED: 0.15, State.PROCESSING: 0.4,
    State.COMPLETED: 0.7, State.DOWNLOADING: 0.7, State.DOWNLOADED: 0.95, State.IMPORTING: 0.97,
    State.IMPORTED: 1.0,
}


class TRIPO3D_PG_settings(bpy.types.PropertyGroup):
    source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="EDITOR")  # type: ignore[valid-type]
    image: PointerProperty(name="Image", type=bpy.types.Image)  # type: ignore[valid-type]
    filepath: StringProperty(name="File", subtype="FILE_PATH")  # type: ignore[valid-type]
    url: StringProperty(name="URL", description="A public http(s) image address")  # type: ignore[valid-type]
    texture: EnumProperty(name="Texture", items=TEXTURE_ITEMS, default="standard")  # type: ignore[valid-type]
    texture_other: StringProperty(name="Texture Value")  # type: ignore[valid-type]
    texture_alignment: EnumProperty(name="Alignment", items=ALIGNMENT_ITEMS, default="original_image")  # type: ignore[valid-type]
    texture_alignment_other: StringProperty(name="Alignment Value")  # type: ignore[valid-type]
    orientation: EnumProperty(name="Orientation", items=ORIENTATION_ITEMS, default="default")  # type: ignore[valid-type]
    orientation_other: StringProperty(name="Orientation Value")  # type: ignore[valid-type]
    at_cursor: BoolProperty(name="At 3D Cursor", default=True)  # type: ignore[valid-type]
    rest_on_ground: BoolProperty(name="Rest on Ground", default=True,  # type: ignore[valid-type]
                                 description="Put the origin at the model's base and the base on the ground")
    normalize: BoolProperty(name="Normalize Size", default=False)  # type: ignore[valid-type]
    size: FloatProperty(name="Size", default=1.0, min=0.001, unit="LENGTH")  # type: ignore[valid-type]
    collection: PointerProperty(name="Collection", type=bpy.types.Collection,  # type: ignore[valid-type]
                                description="Parent collection for the models (empty: the scene's)")

    def params(self) -> dict:
        def pick(value: str, other: str) -> str:
            return other.strip() if value == CUSTOM else value

        return {
            "texture": pick(self.texture, self.texture_other),
            "texture_alignment": pick(self.texture_alignment, self.texture_alignment_other),
            "orientation": pick(self.orientation, self.orientation_other),
        }

    def import_options(self) -> ImportOptions:
        return ImportOptions(
            at_cursor=self.at_cursor, rest_on_ground=self.rest_on_ground,
            normalize_size=self.size if self.normalize else 0.0,
            collection=self.collection.name if self.collection else "",
        )


def panel_settings(context) -> TRIPO3D_PG_settings:
    return context.scene.tripo3d


def editor_image(context):
    """The image in front of the user: the Image Editor's, else the one picked."""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    for window in context.window_manager.windows if context.window_manager else []:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR" and area.spaces.active.image is not None:
                return area.spaces.active.image
    return panel_settings(context).image


def chosen_source(context) -> tuple[str, object]:
    """(kind, value): the image datablock, file path or URL the panel points at."""
    s = panel_settings(context)
    if s.source == "EDITOR":
        return "image", editor_image(context)
    if s.source == "IMAGE":
        return "image", s.image
    if s.source == "FILE":
        return "path", bpy.path.abspath(s.filepath) if s.filepath else ""
    return "url", s.url.strip()


# --- operators ---------------------------------------------------------------------


class TRIPO3D_OT_generate(bpy.types.Operator):
    """Make a textured 3D model of the image with Tripo3D v2.5 (Shift: pay for a new one even if it exists)"""

    bl_idname = "tripo3d.generate"
    bl_label = "Generate 3D Model"
    bl_options = {"REGISTER"}

    source: StringProperty(name="Source", description="Image name, file path or URL (empty: the panel's choice)")  # type: ignore[valid-type]
    texture: StringProperty(name="Texture", description="Empty: the panel's value")  # type: ignore[valid-type]
    texture_alignment: StringProperty(name="Texture Alignment")  # type: ignore[valid-type]
    orientation: StringProperty(name="Orientation")  # type: ignore[valid-type]
    force: BoolProperty(name="Pay Again", description="Submit a new job even if the same one exists",  # type: ignore[valid-type]
                        options={"SKIP_SAVE"})

    def invoke(self, context, event):
        if event.shift:
            self.force = True
        return self.execute(context)

    def execute(self, context):
        try:
            job, note = start_generate(context, self.source, {
                "texture": self.texture, "texture_alignment": self.texture_alignment,
                "orientation": self.orientation,
            }, force=self.force)
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        if note:
            self.report({"INFO"}, note)
        return {"FINISHED"}


def start_generate(context, source: str = "", params: dict | None = None, *, force: bool = False,
                   options: ImportOptions | None = None) -> tuple[Job, str]:
    """Prepare the image and start (or pick up) its job. Raises TripoError with a clear message."""
    s = panel_settings(context)
    merged = s.params()
    merged.update({k: v for k, v in (params or {}).items() if v})
    if not all(merged.values()):
        raise E.BadRequest("An option set to Other... has no value; type the value to send.")
    options = options or s.import_options()
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
    if not settings_mod.current().api_key:
        raise E.NoApiKey("No Pixazo API key is set; enter it in the add-on preferences or set PIXAZO_API_KEY.")
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
    ensure_job_icon(job, datablock)   # here, not in draw(): see _previews
    if p.decision == Decision.REIMPORT:
        try:
            manager.import_now(job, asked=True)
        finally:
            p.release()
        notes.append("No new charge; Shift+click Generate to make a new model.")
    else:
        manager.start(job, prepared.image_url if p.decision == Decision.SUBMIT else None, lock=p.lock)
    return job, " ".join(notes)


class _JobOperator:
    job_id: StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]

    def job(self) -> Job | None:
        return manager.jobs.get(self.job_id)


class TRIPO3D_OT_stop_job(_JobOperator, bpy.types.Operator):
    """Stop waiting for this job. The gateway cannot cancel it: it may still finish and charge"""

    bl_idname = "tripo3d.stop_job"
    bl_label = "Stop Tracking"

    def execute(self, context):
        manager.stop_tracking(self.job_id)
        self.report({"WARNING"}, "Stopped tracking; the gateway may still finish this job and charge for it.")
        return {"FINISHED"}


class TRIPO3D_OT_import_job(_JobOperator, bpy.types.Operator):
    """Import this job's downloaded model (again) into the current scene"""

    bl_idname = "tripo3d.import_job"
    bl_label = "Import"

    def execute(self, context):
        job = self.job()
        if job is None or not job.glb_path or not os.path.exists(job.glb_path):
            self.report({"ERROR"}, "This job has no downloaded model on disk; generate it again to fetch it.")
            return {"CANCELLED"}
        job = manager.import_now(job, asked=True)
        return {"FINISHED"} if job.state == State.IMPORTED else {"CANCELLED"}


class TRIPO3D_OT_resume_job(_JobOperator, bpy.types.Operator):
    """Check on this job again (no new charge)"""

    bl_idname = "tripo3d.resume_job"
    bl_label = "Resume"

    def execute(self, context):
        job = self.job()
        if job is None or not job.request_id:
            return {"CANCELLED"}
        try:
            settings_mod.ensure_online()
            lock = journal().try_lock(job.key)
            if lock is None:
                raise E.TripoError(f"{job.label} is being worked on by another Blender process right now.")
            if job.state in (State.STOPPED, State.DOWNLOAD_FAILED):
                job.state = State.COMPLETED if job.media_urls else State.INTERRUPTED
            manager.start(job, lock=lock)
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        return {"FINISHED"}


class TRIPO3D_OT_open_folder(_JobOperator, bpy.types.Operator):
    """Open the folder that holds the downloaded models"""

    bl_idname = "tripo3d.open_folder"
    bl_label = "Open Download Folder"

    def execute(self, context):
        job = self.job()
        folder = os.path.dirname(job.glb_path) if job and job.glb_path else journal().downloads_dir
        bpy.ops.wm.path_open(filepath=folder)
        return {"FINISHED"}


class TRIPO3D_OT_copy_request_id(_JobOperator, bpy.types.Operator):
    """Copy the gateway's request id, to look the job up in your Pixazo dashboard"""

    bl_idname = "tripo3d.copy_request_id"
    bl_label = "Copy Request ID"

    def execute(self, context):
        job = self.job()
        if job is None or not job.request_id:
            return {"CANCELLED"}
        context.window_manager.clipboard = job.request_id
        self.report({"INFO"}, f"Copied {job.request_id}")
        return {"FINISHED"}


class TRIPO3D_OT_remove_job(_JobOperator, bpy.types.Operator):
    """Remove this job from the list (its downloaded model stays on disk)"""

    bl_idname = "tripo3d.remove_job"
    bl_label = "Remove from List"

    def execute(self, context):
        if self.job_id in manager.threads:
            self.report({"ERROR"}, "This job is still running; stop tracking it first.")
            return {"CANCELLED"}
        manager.remove(self.job_id)
        return {"FINISHED"}


class TRIPO3D_OT_report(bpy.types.Operator):
    """Show a message in the status bar and the Info log (used by background jobs)"""

    bl_idname = "tripo3d.report"
    bl_label = "Tripo3D Message"
    bl_options = {"INTERNAL"}

    level: StringProperty(default="INFO")  # type: ignore[valid-type]
    message: StringProperty()  # type: ignore[valid-type]

    def execute(self, context):
        self.report({self.level if self.level in ("INFO", "WARNING", "ERROR") else "INFO"}, self.message)
        return {"FINISHED"}


class TRIPO3D_OT_test_connection(bpy.types.Operator):
    """Check the key and the gateway address with a free request"""

    bl_idname = "tripo3d.test_connection"
    bl_label = "Test Connection"

    def execute(self, context):
        import threading

        try:
            settings_mod.ensure_online()
            client = settings_mod.current().client()
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        result: list = []

        def probe() -> None:
            result.append(settings_mod.check_connection(client))

        threading.Thread(target=probe, daemon=True).start()

        def deliver():
            if not result:
                return 0.2
            manager.report(*result[0])
            return None

        bpy.app.timers.register(deliver, first_interval=0.2)
        self.report({"INFO"}, "Testing the connection...")
        return {"FINISHED"}


# --- panel --------------------------------------------------------------------------

# Thumbnails. draw() only reads icon ids made beforehand. Never let a
# thumbnail be built while the panel draws: a file preview from
# ``bpy.utils.previews.load()`` is loaded by Blender's "Loading previews" job
# (an ID preview by its icon job) the first time it is drawn, and that job
# sends NC_WINDOW notifiers every 0.1 s and at its end, which redraw EVERY
# region of the window (~110-160 ms each under software OpenGL), right after
# the click that started a job.
_previews = None
#: job id -> icon id of the job's picture (0: the plain image icon); see ensure_job_icon.
_job_icons: dict[str, int] = {}
#: job id -> where that thumbnail came from ("datablock", "file" or "none"), for tests.
job_icon_sources: dict[str, str] = {}
#: absolute file path -> icon id of its loaded thumbnail (0: could not be read).
_file_icons: dict[str, int] = {}
_file_icons_pending: set[str] = set()


def _image_preview_icon(image) -> int:
    """The icon of an image datablock's own preview if Blender has already
    built its preview-size pixels (the Generate panel's thumbnail of the
    chosen image is that preview), else 0. Reading it starts no preview job.
    The job list draws it with template_icon(), i.e. at that same size, so
    Blender never has to make another size of it."""
    try:
        preview = image.preview
        if preview is not None and preview.image_size[0] > 0:
            return preview.icon_id
    except (AttributeError, ReferenceError):
        pass
    return 0


def _file_icon(path: str, *, load: bool = True) -> int:
    """A thumbnail of an image file. With ``load`` it is read now, on this
    (main) thread, from the OS thumbnail cache (made there once): reading
    ``image_size`` makes Blender load the deferred preview synchronously, so
    no "Loading previews" job and no whole-window redraws follow. Without
    ``load``: 0 unless already loaded (what draw() uses)."""
    if _previews is None or not path:
        return 0
    key = os.path.abspath(path)
    icon = _file_icons.get(key)
    if icon is not None or not load:
        return icon or 0
    icon = 0
    if os.path.isfile(key):
        try:
            preview = _previews[key] if key in _previews else _previews.load(key, key, "IMAGE")
            icon = preview.icon_id if preview.image_size[0] > 0 else 0
        except (KeyError, RuntimeError):
            icon = 0
    _file_icons[key] = icon
    return icon


def _file_icon_later(path: str) -> int:
    """For draw(): the file's thumbnail if loaded, else 0 now and a one-shot
    timer loads it (outside draw()) and redraws the sidebars."""
    if not path or _previews is None:
        return 0
    key = os.path.abspath(path)
    if key in _file_icons:
        return _file_icons[key]
    if key not in _file_icons_pending:
        _file_icons_pending.add(key)

        def load() -> None:
            _file_icons_pending.discard(key)
            if _previews is not None:
                _file_icon(key)
                redraw()

        bpy.app.timers.register(load, first_interval=0.0)
    return 0


def _image_for_source(source: str):
    """The image datablock a job's source names (its file or its name), if any."""
    if not source:
        return None
    image = bpy.data.images.get(source)
    if image is not None:
        return image
    key = os.path.normpath(os.path.abspath(source)) if os.path.isabs(source) else None
    if key is None:
        return None
    for image in bpy.data.images:
        if image.source == "FILE" and image.filepath and os.path.normpath(
                bpy.path.abspath(image.filepath, library=image.library)) == key:
            return image
    return None


def ensure_job_icon(job: Job, image=None) -> int:
    """Make the job's thumbnail once, outside draw(): the datablock's existing
    preview when there is one (free), else the file's, loaded now."""
    if job.id in _job_icons:
        return _job_icons[job.id]
    icon, origin = 0, "none"
    if bpy.app.background:  # no panel to show it in
        _job_icons[job.id] = icon
        job_icon_sources[job.id] = origin
        return icon
    image = image if image is not None else _image_for_source(job.source)
    if image is not None:
        icon = _image_preview_icon(image)
        origin = "datablock" if icon else origin
    if not icon and job.source and not job.source.startswith(("http://", "https://")):
        icon = _file_icon(job.source)
        origin = "file" if icon else origin
    _job_icons[job.id] = icon
    job_icon_sources[job.id] = origin
    return icon


def _icon_listener(job: Job, _event: str) -> None:
    """Manager listener (its timer tick): a thumbnail for a job that did not
    come from the operator (resumed from the journal) on its first event."""
    if job.id not in _job_icons:
        ensure_job_icon(job)


def _ensure_listed_icons() -> None:
    """Thumbnails of the jobs the panel lists, after the journal was read."""
    for job in sorted(manager.jobs.values(), key=lambda j: j.created_at, reverse=True)[:12]:
        ensure_job_icon(job)


def _thumbnail_icon(kind: str, value) -> int:
    if kind == "image" and value is not None:
        preview = getattr(value, "preview", None)
        if preview is None and hasattr(value, "preview_ensure"):
            # Once per image: Blender renders it in its icon job (the chosen
            # image's thumbnail is the point of this panel).
            preview = value.preview_ensure()
        return preview.icon_id if preview else 0
    if kind == "path" and value:
        return _file_icon_later(value)
    return 0


def _job_icon(job: Job) -> int:
    return _job_icons.get(job.id, 0)


def _elapsed(job: Job) -> str:
    end = job.imported_at or (job.updated_at if job.finished else time.time())
    seconds = max(0, int(end - job.created_at))
    return f"{seconds // 60}:{seconds % 60:02d}"


class _SidebarPanel:
    bl_region_type = "UI"
    bl_category = CATEGORY


class TRIPO3D_PT_generate_base(_SidebarPanel):
    bl_label = "Tripo3D Image to 3D"

    def draw(self, context):
        layout = self.layout
        s = panel_settings(context)
        if not bpy.app.online_access:
            box = layout.box()
            box.label(text="Online access is off: no requests are made.", icon="ERROR")
            box.prop(context.preferences.system, "use_online_access", text="Allow Online Access")
        elif not settings_mod.current().api_key:
            box = layout.box()
            box.label(text="No API key: set it in the preferences.", icon="ERROR")
            box.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = (
                settings_mod.ADDON_PACKAGE)

        layout.prop(s, "source", text="")
        kind, value = chosen_source(context)
        if s.source == "IMAGE" or (s.source == "EDITOR" and getattr(context.space_data, "type", "") != "IMAGE_EDITOR"):
            layout.template_ID(s, "image", open="image.open")
        elif s.source == "FILE":
            layout.prop(s, "filepath", text="")
        elif s.source == "URL":
            layout.prop(s, "url", text="")
        icon = _thumbnail_icon(kind, value)
        if icon:
            layout.template_icon(icon_value=icon, scale=6.0)
        name = getattr(value, "name", None) or (os.path.basename(value) if isinstance(value, str) else "")
        layout.label(text=name or "No image chosen", icon="IMAGE_DATA")

        col = layout.column(align=True)
        for prop in ("texture", "texture_alignment", "orientation"):
            col.prop(s, prop)
            if getattr(s, prop) == CUSTOM:
                col.prop(s, prop + "_other", text="")
        col = layout.column(heading="Import")
        col.prop(s, "at_cursor")
        col.prop(s, "rest_on_ground")
        row = col.row(align=True)
        row.prop(s, "normalize", text="Normalize")
        sub = row.row()
        sub.enabled = s.normalize
        sub.prop(s, "size", text="")
        col.prop(s, "collection", text="Into")

        row = layout.row()
        row.scale_y = 1.5
        row.enabled = bpy.app.online_access
        row.operator("tripo3d.generate", icon="MESH_MONKEY")
        for stamp, level, text in list(manager.messages)[-1:]:
            if time.time() - stamp < 30:
                col = layout.column(align=True)
                for i, line in enumerate(_wrap(text, 44)[:4]):
                    col.label(text=line, icon=("ERROR" if level == "ERROR" else "INFO") if i == 0 else "BLANK1")


class TRIPO3D_PT_jobs_base(_SidebarPanel):
    bl_label = "Tripo3D Jobs"

    def draw(self, context):
        layout = self.layout
        jobs = sorted(manager.jobs.values(), key=lambda j: j.created_at, reverse=True)[:12]
        if not jobs:
            layout.label(text="No jobs yet.")
            return
        waiting = {j.id for j, _ in manager.waiting}
        for job in jobs:
            box = layout.box()
            row = box.row()
            icon = _job_icon(job)
            if icon:
                # Preview size, made before (see ensure_job_icon): nothing to build here.
                row.template_icon(icon_value=icon, scale=1.0)
                row.label(text=job.label)
            else:
                row.label(text=job.label, icon="IMAGE_DATA")
            row.label(text=_elapsed(job))
            state = job.state.replace("_", " ")
            if job.state == State.DOWNLOADING and job.download_total:
                factor = 0.7 + 0.25 * job.download_bytes / max(1, job.download_total)
                state = f"downloading {job.download_bytes / 1e6:.1f}/{job.download_total / 1e6:.1f} MB"
            else:
                factor = PROGRESS.get(job.state, 1.0 if job.finished else 0.5)
            if hasattr(box, "progress"):
                box.progress(factor=factor, type="BAR", text=state)
            else:
                box.label(text=state)
            if job.error and job.state != State.IMPORTED:
                for line in _wrap(job.error, 44):
                    box.label(text=line)
            row = box.row(align=True)
            running = job.id in manager.threads or job.id in waiting
            if running:
                row.operator("tripo3d.stop_job", text="Stop", icon="CANCEL").job_id = job.id
            elif job.request_id and (not job.finished or job.state in (State.STOPPED, State.DOWNLOAD_FAILED)):
                row.operator("tripo3d.resume_job", text="Resume", icon="FILE_REFRESH").job_id = job.id
            if job.glb_path and os.path.exists(job.glb_path) and not running:
                row.operator("tripo3d.import_job", text="Import", icon="IMPORT").job_id = job.id
            if job.glb_path:
                row.operator("tripo3d.open_folder", text="", icon="FILE_FOLDER").job_id = job.id
            if job.request_id:
                row.operator("tripo3d.copy_request_id", text="", icon="COPYDOWN").job_id = job.id
            if not running:
                row.operator("tripo3d.remove_job", text="", icon="X").job_id = job.id


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


class TRIPO3D_PT_generate_view3d(TRIPO3D_PT_generate_base, bpy.types.Panel):
    bl_idname = "TRIPO3D_PT_generate_view3d"
    bl_space_type = "VIEW_3D"


class TRIPO3D_PT_jobs_view3d(TRIPO3D_PT_jobs_base, bpy.types.Panel):
    bl_idname = "TRIPO3D_PT_jobs_view3d"
    bl_space_type = "VIEW_3D"


class TRIPO3D_PT_generate_image(TRIPO3D_PT_generate_base, bpy.types.Panel):
    bl_idname = "TRIPO3D_PT_generate_image"
    bl_space_type = "IMAGE_EDITOR"


class TRIPO3D_PT_jobs_image(TRIPO3D_PT_jobs_base, bpy.types.Panel):
    bl_idname = "TRIPO3D_PT_jobs_image"
    bl_space_type = "IMAGE_EDITOR"


CLASSES = (
    TRIPO3D_PG_settings,
    TRIPO3D_OT_generate,
    TRIPO3D_OT_stop_job,
    TRIPO3D_OT_import_job,
    TRIPO3D_OT_resume_job,
    TRIPO3D_OT_open_folder,
    TRIPO3D_OT_copy_request_id,
    TRIPO3D_OT_remove_job,
    TRIPO3D_OT_report,
    TRIPO3D_OT_test_connection,
    TRIPO3D_PT_generate_view3d,
    TRIPO3D_PT_jobs_view3d,
    TRIPO3D_PT_generate_image,
    TRIPO3D_PT_jobs_image,
)

_cli_handle = None


def _tick() -> float:
    # One function object for the timer: a bound method is a new object at
    # every access, so bpy.app.timers could never find it again to unregister.
    return manager.tick()


@persistent
def _on_load_post(_dummy=None) -> None:
    # A newly opened file may be the one that started a finished job.
    manager.recover()
    _ensure_listed_icons()


def _cli_command(argv: list[str]) -> int:
    from .cli import main

    return main(argv, prog="blender --command tripo3d")


def register() -> None:
    global _previews, _cli_handle
    import bpy.utils.previews

    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.tripo3d = PointerProperty(type=TRIPO3D_PG_settings)
    _previews = bpy.utils.previews.new()
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.1, persistent=True)
    bpy.app.handlers.load_post.append(_on_load_post)
    if hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("tripo3d", _cli_command)
    if _icon_listener not in manager.listeners:
        manager.listeners.append(_icon_listener)
    try:
        manager.recover()
    except OSError as exc:
        print(f"Tripo3D: could not read the job journal ({exc.strerror}).", file=sys.stderr)
    try:
        _ensure_listed_icons()
    except AttributeError:
        pass  # bpy.data is not readable while Blender starts; load_post does it


def unregister() -> None:
    global _previews, _cli_handle
    manager.shutdown(timeout=0.5)
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    if _icon_listener in manager.listeners:
        manager.listeners.remove(_icon_listener)
    _job_icons.clear()
    job_icon_sources.clear()
    _file_icons.clear()
    _file_icons_pending.clear()
    del bpy.types.Scene.tripo3d
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

