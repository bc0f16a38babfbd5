"""The panel's operators: Generate, the per-job actions, and the reporter.

Each operator does its work through :mod:`..engine.start` and :mod:`..engine.manager`;
none touches the network on the main thread.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, StringProperty

from ...core import errors as E
from ...core.jobs import FINISHED, Job, State
from . import job_list
from ..imp import viewport
from .. import settings as settings_mod
from ...core.placement_options import ImportOptions
from ..engine.manager import manager
from ...core.engine.job_display import RETRYABLE
from .button_results import run_check
from .properties import chosen_source, panel_request
from ..user_data import journal


def generate_blocker(context) -> str:
    """Why Generate cannot run now ("" when it can): shown greyed out with this reason."""
    if not bpy.app.online_access:
        return "Online access is off: allow it in Preferences > System > Network."
    if not settings_mod.current().api_key:
        return "No Pixazo API key: set it in the add-on preferences."
    region = getattr(context, "region", None)
    if region is not None and region.type == "UI":  # the sidebar's button (scripts pass a source)
        kind, value = chosen_source(context)
        if value is None or value == "":
            return {"image": "No image: open one in the Image Editor or pick one above.",
                    "path": "No image file chosen.", "url": "No image URL given."}[kind]
    return ""


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

    @classmethod
    def poll(cls, context):
        reason = generate_blocker(context)
        if reason:
            cls.poll_message_set(reason)
        return not reason

    def invoke(self, context, event):
        if event.shift:
            self.force = True
        return self.execute(context)

    def execute(self, context):
        try:
            from ..engine.start import start_job  # loaded at the first click, not at registration

            source, image, params, options = panel_request(context, self.source, {
                "texture": self.texture, "texture_alignment": self.texture_alignment,
                "orientation": self.orientation,
            })
            start_job(source, params, options, force=self.force, origin="ui", image=image)
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        return {"FINISHED"}


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
    """Import this job's downloaded model (again) into the current scene; no new charge"""

    bl_idname = "tripo3d.import_job"
    bl_label = "Import Again"

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
        job_list.sync()
        return {"FINISHED"}


class TRIPO3D_OT_retry_job(_JobOperator, bpy.types.Operator):
    """Submit this image again with the same options. This is a new job: it charges again"""

    bl_idname = "tripo3d.retry_job"
    bl_label = "Retry (charges again)"

    def execute(self, context):
        job = self.job()
        if job is None or job.state not in RETRYABLE:
            self.report({"ERROR"}, "Only a failed, refused or stopped job can be retried.")
            return {"CANCELLED"}
        try:
            from ..engine.start import start_job

            start_job(job.source, dict(job.params), ImportOptions.from_dict(job.import_options), force=True,
                      origin="ui")
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Retrying {job.label} as a new job (charged again).")
        return {"FINISHED"}


class TRIPO3D_OT_select_job(_JobOperator, bpy.types.Operator):
    """Select the model this job made and frame it in the 3D Viewports"""

    bl_idname = "tripo3d.select_job"
    bl_label = "Select & Frame"

    def execute(self, context):
        job = self.job()
        found = viewport.select_only(job.objects if job else [], context)
        if not found:
            self.report({"WARNING"}, "The model this job made is not in this scene (deleted, or in another file).")
            return {"CANCELLED"}
        viewport.frame_selected(context)
        return {"FINISHED"}


class TRIPO3D_OT_mark_asset(_JobOperator, bpy.types.Operator):
    """Mark the model this job made as an asset, with a preview, so it shows in the Asset Browser"""

    bl_idname = "tripo3d.mark_asset"
    bl_label = "Mark as Asset"

    def execute(self, context):
        from ..imp.importer import mark_asset

        job = self.job()
        top = next((bpy.data.objects.get(n) for n in (job.objects if job else [])
                    if bpy.data.objects.get(n) is not None and bpy.data.objects[n].parent is None), None)
        if top is None:
            self.report({"WARNING"}, "The model this job made is not in this file.")
            return {"CANCELLED"}
        mark_asset(top)
        self.report({"INFO"}, f"{top.name} is an asset now: find it in the Asset Browser (Current File).")
        return {"FINISHED"}


class TRIPO3D_OT_clear_finished(bpy.types.Operator):
    """Remove finished jobs from the list (downloaded models stay on disk; running jobs stay)"""

    bl_idname = "tripo3d.clear_finished"
    bl_label = "Clear Finished"

    def execute(self, context):
        gone = [j.id for j in list(manager.jobs.values())
                if j.state in FINISHED and j.id not in manager.active_ids() and j.id not in manager.paused]
        for job_id in gone:
            manager.remove(job_id)
        job_list.sync()
        self.report({"INFO"}, f"Cleared {len(gone)} finished job(s).")
        return {"FINISHED"}


class TRIPO3D_OT_report(bpy.types.Operator):
    """Show a message in the status bar and the Info log (used by background jobs)"""

    bl_idname = "tripo3d.report"
    bl_label = "Tripo3D Message"
    bl_options = {"INTERNAL"}

    level: StringProperty(default="INFO")  # type: ignore[valid-type]
    message: StringProperty()  # type: ignore[valid-type]

    def _report(self, modal: bool = False) -> None:
        level = self.level if self.level in ("INFO", "WARNING", "ERROR") else "INFO"
        if modal and level == "ERROR":
            # Blender opens a popup under the pointer for an operator's ERROR:
            # a background job must not interrupt a stroke. A WARNING reaches
            # the status bar and the Info log all the same.
            level = "WARNING"
        self.report({level}, self.message)

    def execute(self, context):
        # A report made while Python's bpy.ops call runs belongs to that call:
        # Blender prints it to the console and drops it, so it never reaches
        # the status bar or the Info log. A modal operator's reports belong to
        # the window manager, so report from modal(), at the next timer event.
        if context.window is None:
            self._report()  # no window (background): the console line is all there is
            return {"FINISHED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        self._report(modal=True)
        return {"FINISHED", "PASS_THROUGH"}  # the timer event may be another operator's: let it through


class TRIPO3D_OT_test_connection(bpy.types.Operator):
    """Check the key and the gateway address with a free request"""

    bl_idname = "tripo3d.test_connection"
    bl_label = "Test Connection"

    def execute(self, context):
        from ...core.net.apikey import check_api_key
        from ...core.net.urls import normalise_base_url

        try:
            settings_mod.ensure_online()
            settings = settings_mod.current()
            check_api_key(settings.api_key)
            normalise_base_url(settings.base_url)
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        # The client (and the HTTP library) load in the check's thread, off the main thread.
        run_check("connection", lambda: settings_mod.check_connection(settings.client()), "Testing the connection...")
        return {"FINISHED"}


CLASSES = (
    TRIPO3D_OT_generate,
    TRIPO3D_OT_stop_job,
    TRIPO3D_OT_import_job,
    TRIPO3D_OT_resume_job,
    TRIPO3D_OT_open_folder,
    TRIPO3D_OT_copy_request_id,
    TRIPO3D_OT_remove_job,
    TRIPO3D_OT_retry_job,
    TRIPO3D_OT_select_job,
    TRIPO3D_OT_mark_asset,
    TRIPO3D_OT_clear_finished,
    TRIPO3D_OT_report,
    TRIPO3D_OT_test_connection,
)


register, unregister = bpy.utils.register_classes_factory(CLASSES)  # in order; unregistered in reverse
