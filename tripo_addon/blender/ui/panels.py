"""The sidebar panels (3D Viewport and Image Editor): Generate with its
option subpanels, and the job list (a UIList, details of the active job).

draw() only reads: thumbnails come from :mod:`.thumbnails` (made beforehand),
job rows from :mod:`...core.engine.job_display`, the list's items from :mod:`.job_list`.
"""

from __future__ import annotations

import os
import time

import bpy

from ...core.jobs import State
from ...core.engine import job_display
from .. import settings as settings_mod
from ..windows import CATEGORY
from ..engine.manager import manager
from .job_list import active_job, existing_result, job_row_status
from ...core.choices import CUSTOM
from .thumbnails import job_icon, result_icon, thumbnail_icon
from .properties import chosen_source, panel_settings

#: Seconds a message not about a job stays under Generate.
MESSAGE_SECONDS = 10.0


def travel_label(kind: str, value) -> tuple[str, str]:
    """How the chosen image will reach the gateway, shown before Generate."""
    if kind == "url":
        return "Sent as its public URL", "URL"
    settings = settings_mod.current()
    if settings.upload_route != "inline" and settings.storage_error is not None:
        return "Bucket not usable: see Preferences", "ERROR"
    if settings.upload_route == "inline" or settings.storage is None:
        return "Sent inline (experimental)", "EXPERIMENTAL"
    return f"Via your bucket {settings.storage.location}", "EXPORT"


def wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def chars_that_fit(context, indent: int = 40) -> int:
    """Characters of label text that fit the region's real width (Blender's
    interface font averages about 6.5 px a character at scale 1)."""
    region = getattr(context, "region", None)
    width = region.width if region is not None else 300
    scale = context.preferences.system.ui_scale
    return max(14, int((width - indent * scale) / (6.5 * scale)))


def label_wrapped(layout, context, text: str, icon: str = "NONE", lines: int = 6) -> None:
    col = layout.column(align=True)
    for i, line in enumerate(wrap(text, chars_that_fit(context))[:lines]):
        col.label(text=line, icon=icon if i == 0 else ("BLANK1" if icon != "NONE" else "NONE"))


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
            box.label(text="Online access is off", icon="ERROR")
            box.prop(context.preferences.system, "use_online_access", text="Allow Online Access")
        elif not settings_mod.current().api_key:
            box = layout.box()
            box.label(text="No API key", icon="ERROR")
            row = box.row(align=True)
            row.operator("preferences.addon_show", text="Preferences", icon="PREFERENCES").module = (
                settings_mod.ADDON_PACKAGE)
            row.operator("wm.url_open", text="Get a Key", icon="URL").url = settings_mod.PIXAZO_SITE

        layout.prop(s, "source", text="From")
        kind, value = chosen_source(context)
        if s.source == "IMAGE" or (s.source == "EDITOR" and getattr(context.space_data, "type", "") != "IMAGE_EDITOR"):
            layout.template_ID(s, "image", open="image.open")
        elif s.source == "FILE":
            layout.prop(s, "filepath", text="")
        elif s.source == "URL":
            layout.prop(s, "url", text="")
        icon = thumbnail_icon(kind, value)
        if icon:
            layout.template_icon(icon_value=icon, scale=6.0)
        name = getattr(value, "name", None) or (os.path.basename(value) if isinstance(value, str) else "")
        layout.label(text=name or "No image chosen", icon="IMAGE_DATA")
        travel, travel_icon = travel_label(kind, value)
        label_wrapped(layout, context, travel, icon=travel_icon, lines=3)

        done = existing_result(context)
        if done is not None:
            # Money is visible: the same image and options already made a model.
            col = layout.column(align=True)
            col.scale_y = 1.3
            col.operator("tripo3d.import_job", text="Import Again", icon="IMPORT").job_id = done.id
            op = col.operator("tripo3d.generate", text="Generate New (charges again)", icon="MESH_MONKEY")
            op.force = True
        else:
            row = layout.row()
            row.scale_y = 1.5
            row.operator("tripo3d.generate", icon="MESH_MONKEY")
        from .operators import generate_blocker

        reason = generate_blocker(context)
        if reason and bpy.app.online_access and settings_mod.current().api_key:  # else the box above says it
            label_wrapped(layout, context, reason, icon="INFO", lines=3)
        for stamp, level, text, topic in list(manager.messages)[-1:]:
            if not topic and time.time() - stamp < MESSAGE_SECONDS:
                label_wrapped(layout, context, text, icon="ERROR" if level == "ERROR" else "INFO", lines=4)


class TRIPO3D_PT_options_base(_SidebarPanel):
    bl_label = "Options"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        s = panel_settings(context)
        col = layout.column()
        for prop in ("texture", "texture_alignment", "orientation"):
            col.prop(s, prop)
            if getattr(s, prop) == CUSTOM:
                col.prop(s, prop + "_other", text="Value")


class TRIPO3D_PT_import_base(_SidebarPanel):
    bl_label = "Import"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        s = panel_settings(context)
        col = layout.column()
        split = col.split(factor=0.3)
        split.label(text="Place")
        split.prop(s, "placement", text="")
        col.prop(s, "frame_view")
        col.prop(s, "mark_asset")
        col.prop(s, "rest_on_ground")
        row = col.row(align=True)
        row.prop(s, "normalize", text="Size")
        sub = row.row()
        sub.enabled = s.normalize
        sub.prop(s, "size", text="")
        split = col.split(factor=0.3)
        split.label(text="Into")
        split.prop(s, "collection", text="")


class TRIPO3D_UL_jobs(bpy.types.UIList):
    """One row per job: its picture and name, and its state in plain words."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0, flt_flag=0):
        job = manager.jobs.get(item.job_id)
        if job is None:
            layout.label(text="(removed)")
            return
        st = job_row_status(job)
        thumb = job_icon(job)
        row = layout.row(align=True)
        narrow = chars_that_fit(context) < 30  # about 240 px: the picture says which job, words say how
        if narrow:
            if thumb:
                row.label(text="", icon_value=thumb)
            else:
                row.label(text="", icon="IMAGE_DATA")
        elif thumb:
            row.label(text=job.label, icon_value=thumb)
        else:
            row.label(text=job.label, icon="IMAGE_DATA")
        if st.factor is not None:
            row.progress(factor=st.factor, type="RING", text=st.short)
        else:
            row.label(text=st.short, icon=st.icon)


class TRIPO3D_MT_job(bpy.types.Menu):
    bl_label = "Job"

    def draw(self, context):
        layout = self.layout
        job = active_job(context)
        if job is None:
            layout.label(text="No job selected")
            return
        if job.request_id:
            layout.operator("tripo3d.copy_request_id", icon="COPYDOWN").job_id = job.id
        layout.operator("tripo3d.open_folder", icon="FILE_FOLDER").job_id = job.id
        if job.objects:
            layout.operator("tripo3d.mark_asset", icon="ASSET_MANAGER").job_id = job.id
        layout.operator("wm.url_open", text="Open Pixazo Website", icon="URL").url = settings_mod.PIXAZO_SITE
        layout.separator()
        layout.operator("tripo3d.remove_job", icon="X").job_id = job.id
        layout.operator("tripo3d.clear_finished", icon="TRASH")


class TRIPO3D_PT_jobs_base(_SidebarPanel):
    bl_label = "Tripo3D Jobs"

    def draw(self, context):
        layout = self.layout
        wm = context.window_manager
        if not manager.jobs:
            layout.label(text="No jobs yet.")
            return
        row = layout.row()
        rows = min(6, max(3, len(wm.tripo3d_jobs)))
        row.template_list("TRIPO3D_UL_jobs", "", wm, "tripo3d_jobs", wm, "tripo3d_job_index", rows=rows)
        layout.operator("tripo3d.clear_finished", icon="TRASH")
        job = active_job(context)
        if job is None:
            return
        box = layout.box()
        st = job_row_status(job)
        box.label(text=job.label, icon="IMAGE_DATA")
        picture = result_icon(job)
        if picture:  # the model as it was rendered after import
            box.template_icon(icon_value=picture, scale=5.0)
        if st.factor is not None:
            box.progress(factor=st.factor, type="BAR", text=st.text if chars_that_fit(context) >= 30 else st.short)
        else:
            label_wrapped(box, context, st.text, icon=st.icon, lines=2)
        if job.error and job.state != State.IMPORTED:
            label_wrapped(box, context, job.error, lines=6)
        if job.error_kind == "no_balance":
            box.operator("wm.url_open", text="Add Funds (Pixazo Website)", icon="URL").url = settings_mod.PIXAZO_SITE
        self.draw_actions(box, job, st)

    @staticmethod
    def draw_actions(layout, job, st: job_display.Status) -> None:
        col = layout.column(align=True)
        running = st.active
        if running or job.id in manager.paused:
            col.operator("tripo3d.stop_job", text="Stop Tracking", icon="CANCEL").job_id = job.id
        elif job.request_id and (not job.finished or job.state in (State.STOPPED, State.DOWNLOAD_FAILED)):
            col.operator("tripo3d.resume_job", text="Resume (no charge)", icon="FILE_REFRESH").job_id = job.id
        if job.objects and job.state == State.IMPORTED:
            col.operator("tripo3d.select_job", text="Select & Frame", icon="RESTRICT_SELECT_OFF").job_id = job.id
            col.operator("tripo3d.export_job", text="Export...", icon="EXPORT").job_id = job.id
        if job.glb_path and os.path.exists(job.glb_path) and not running:
            col.operator("tripo3d.import_job", text="Import Again", icon="IMPORT").job_id = job.id
        if job.state in job_display.RETRYABLE and not running:
            col.operator("tripo3d.retry_job", text="Retry (charges again)", icon="FILE_REFRESH").job_id = job.id
        col.menu("TRIPO3D_MT_job", text="More", icon="DOWNARROW_HLT")


def _panels(space: str, suffix: str) -> list:
    made = []
    for base, name in ((TRIPO3D_PT_generate_base, "generate"), (TRIPO3D_PT_options_base, "options"),
                       (TRIPO3D_PT_import_base, "import"), (TRIPO3D_PT_jobs_base, "jobs")):
        attrs = {"bl_idname": f"TRIPO3D_PT_{name}_{suffix}", "bl_space_type": space}
        if name in ("options", "import"):
            attrs["bl_parent_id"] = f"TRIPO3D_PT_generate_{suffix}"
        made.append(type(f"TRIPO3D_PT_{name}_{suffix}", (base, bpy.types.Panel), attrs))
    return made


TRIPO3D_PT_generate_view3d, TRIPO3D_PT_options_view3d, TRIPO3D_PT_import_view3d, TRIPO3D_PT_jobs_view3d = (
    _panels("VIEW_3D", "view3d"))
TRIPO3D_PT_generate_image, TRIPO3D_PT_options_image, TRIPO3D_PT_import_image, TRIPO3D_PT_jobs_image = (
    _panels("IMAGE_EDITOR", "image"))

CLASSES = (
    TRIPO3D_UL_jobs, TRIPO3D_MT_job,
    TRIPO3D_PT_generate_view3d, TRIPO3D_PT_options_view3d, TRIPO3D_PT_import_view3d, TRIPO3D_PT_jobs_view3d,
    TRIPO3D_PT_generate_image, TRIPO3D_PT_options_image, TRIPO3D_PT_import_image, TRIPO3D_PT_jobs_image,
)


register, unregister = bpy.utils.register_classes_factory(CLASSES)  # in order; unregistered in reverse
