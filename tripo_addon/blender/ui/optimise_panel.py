"""The panel's game-ready side: the Optimise subpanel (face budget, texture size, LODs applied
on import as a Decimate modifier the artist can tweak) and the Export action on a finished job."""

from __future__ import annotations

import os
import sys

import bpy
from bpy.props import EnumProperty, StringProperty

from ...core import buglog
from ...core import errors as E
from ...core.gameready import FORMAT_EXTENSIONS, GameReadyOptions, export_file_name
from ...core.jobs import Job, State
from ..engine.manager import manager
from ..user_data import journal
from .panels import _SidebarPanel
from .properties import EXPORT_FORMAT_ITEMS, panel_settings


def model_objects(job: Job | None) -> list:
    """The objects a job made that are still in this file."""
    return [bpy.data.objects[n] for n in (job.objects if job else []) if n in bpy.data.objects]


def on_imported(job: Job) -> None:
    """After each import (main thread): the Optimise choice the job was started with, kept as modifiers."""
    choice = (job.import_options or {}).get("optimise") or {}
    objects = model_objects(job)
    if not choice or not objects:
        return
    from ..exp.optimise import optimise  # loaded with the first optimised model, not at registration

    try:
        options = GameReadyOptions(faces=int(choice.get("faces", 0)), texture_size=int(choice.get("texture_size", 0)),
                                   lods=int(choice.get("lods", 1)))
        job.objects = [o.name for o in optimise(objects, options, keep_modifiers=True)]
    except E.TripoError as exc:
        manager.report_job(job, "ERROR", f"{job.label} is imported as it came; optimising it failed: {exc.message}")
    except Exception as exc:  # a bug: the model stays as imported, the details go to the bug log
        log = buglog.record(journal().directory, exc, f"optimising {job.label}")
        print(f"Tripo3D: {buglog.sentence(job.label, exc, log)}", file=sys.stderr)
        manager.report_job(job, "ERROR", buglog.sentence(job.label, exc, log))


class TRIPO3D_OT_export_job(bpy.types.Operator):
    """Write the model this job made to a file for a game engine (modifiers applied, textures included)"""

    bl_idname = "tripo3d.export_job"
    bl_label = "Export"

    job_id: StringProperty(options={"HIDDEN", "SKIP_SAVE"})  # type: ignore[valid-type]
    filepath: StringProperty(name="File", subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    export_format: EnumProperty(name="Format", items=EXPORT_FORMAT_ITEMS, default="fbx")  # type: ignore[valid-type]

    def invoke(self, context, event):
        job = manager.jobs.get(self.job_id)
        s = panel_settings(context)
        self.export_format = s.export_format
        if job is not None and not self.filepath:
            folder = bpy.path.abspath(s.export_dir or "//") or os.path.expanduser("~")
            self.filepath = os.path.join(folder, export_file_name(job.source, self.export_format))
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        job = manager.jobs.get(self.job_id)
        objects = model_objects(job)
        if job is None or job.state != State.IMPORTED or not objects:
            self.report({"ERROR"}, "The model this job made is not in this file; import it again, then export.")
            return {"CANCELLED"}
        path = bpy.path.abspath(self.filepath) if self.filepath else ""
        if not path or os.path.isdir(path) or path.endswith(os.sep):
            folder = path or bpy.path.abspath(panel_settings(context).export_dir or "//")
            path = os.path.join(folder, export_file_name(job.source, self.export_format))
        path = bpy.path.ensure_ext(path, FORMAT_EXTENSIONS[self.export_format])
        from ..exp.export import export

        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            written = export(objects, path, self.export_format)
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        except OSError as exc:
            self.report({"ERROR"}, f"Cannot write {path} ({exc.strerror}); pick a folder you can write to.")
            return {"CANCELLED"}
        self.report({"INFO"}, f"{job.label}: exported to {written[0]}"
                              + (f" (and {len(written) - 1} more file(s))" if len(written) > 1 else "") + ".")
        return {"FINISHED"}


class TRIPO3D_PT_optimise_base(_SidebarPanel):
    bl_label = "Optimise"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_header(self, context):
        self.layout.prop(panel_settings(context), "optimise", text="")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        s = panel_settings(context)
        col = layout.column()
        col.enabled = s.optimise
        col.prop(s, "faces")
        col.prop(s, "texture_size")
        col.prop(s, "lods")
        col = layout.column()
        col.label(text="Export")
        col.prop(s, "export_format")
        col.prop(s, "export_dir", text="Folder")


def _subpanel(space: str, suffix: str):
    attrs = {"bl_idname": f"TRIPO3D_PT_optimise_{suffix}", "bl_space_type": space,
             "bl_parent_id": f"TRIPO3D_PT_generate_{suffix}"}
    return type(f"TRIPO3D_PT_optimise_{suffix}", (TRIPO3D_PT_optimise_base, bpy.types.Panel), attrs)


CLASSES = (TRIPO3D_OT_export_job, _subpanel("VIEW_3D", "view3d"), _subpanel("IMAGE_EDITOR", "image"))


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    if on_imported not in manager.imported_hooks:
        manager.imported_hooks.insert(0, on_imported)  # before the preview is rendered


def unregister() -> None:
    if on_imported in manager.imported_hooks:
        manager.imported_hooks.remove(on_imported)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
