"""Where and when a finished job's model lands, and how its result is said:
the job manager's part that imports (main thread only)."""

from __future__ import annotations

import time

import bpy

from ...core import session
from ...core.errors import scrub
from ...core.jobs import Job, State
from ..imp.import_step import import_job
from ..windows import call_operator, redraw


class Landing:
    """Mixed into the job manager: uses its jobs, offer_only,
    waiting_for_object_mode, imported_hooks, messages and topic."""

    def import_now(self, job: Job, *, asked: bool = False) -> Job:
        """Import a downloaded job into the open file, or leave it on offer.

        ``asked``: the user asked for this import; otherwise the model only goes
        into the file that started the job (an unsaved one: this Blender
        process's, see core.session).
        """
        elsewhere = not session.lands_in(job.blend_file, job.session, bpy.data.filepath) or job.id in self.offer_only
        if not asked and elsewhere:
            self.report_job(job, "INFO", f"{job.label} is ready; it was started in another file, import it from the job list.")
            return job
        mode = getattr(bpy.context, "mode", "OBJECT")
        if not asked and not bpy.app.background and mode != "OBJECT":
            # Never throw the artist out of Edit, Sculpt or Paint mode: the tick
            # imports it once they are back in Object mode.
            if job.id not in self.waiting_for_object_mode:
                self.waiting_for_object_mode.add(job.id)
                self.report_job(job, "INFO", f"{job.label} is ready; it is imported when you are back in "
                                             "Object mode.")
            return job
        self.waiting_for_object_mode.discard(job.id)
        self.offer_only.discard(job.id)
        job = import_job(job)
        if job.state == State.IMPORTED and not bpy.app.background:
            try:  # its own step: Ctrl+Z takes the model out, nothing else (any window)
                call_operator(bpy.ops.ed.undo_push, message="Import Tripo3D model")
            except RuntimeError:
                pass
        self.jobs[job.id] = job
        if job.state == State.IMPORTED:
            self.report_job(job, "INFO", f"{job.label}: imported {len(job.objects)} object(s) (request {job.request_id}).")
            for hook in list(self.imported_hooks):
                hook(job)
        else:
            self.report_job(job, "ERROR", f"{job.label}: {job.error}")
        redraw()
        return job

    def report_job(self, job: Job, level: str, text: str) -> None:
        """A job's result: reported like any other, and shown in the job's own row."""
        self.topic = job.id
        try:
            self.report(level, text)
        finally:
            self.topic = ""

    def report(self, level: str, text: str) -> None:
        """Status bar, Info log, console and the panel: one sentence each."""
        text = scrub(text)
        self.messages.append((time.time(), level, text, self.topic))
        print(f"Tripo3D: {text}", flush=True)
        if bpy.app.background:
            # No status bar to show it in, and any bpy.ops call first updates the
            # view layer, which after an import re-evaluates the whole scene.
            return
        try:  # the status bar and the Info log, once that is safe (see windows.call_operator)
            call_operator(bpy.ops.tripo3d.report, "EXEC_DEFAULT", needs_window=True, level=level, message=text)
        except (RuntimeError, AttributeError):
            pass  # the panel's list and the console line have it
