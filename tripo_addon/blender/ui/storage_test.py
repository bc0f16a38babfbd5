"""The Test Storage button: proving the user's bucket works before a job needs it.

The network work runs in a thread that never touches ``bpy``; a one-shot
timer reports the result where the button was clicked (the status bar and
the Info log).
"""

from __future__ import annotations

import bpy

from ...core import errors as E
from .. import settings as settings_mod
from .operators import report_about


class TRIPO3D_OT_test_storage(bpy.types.Operator):
    """Upload a tiny test object to your bucket, fetch it through a presigned link and delete it"""

    bl_idname = "tripo3d.test_storage"
    bl_label = "Test Storage"

    def execute(self, context):
        import threading

        from ...core.storage.client import test_storage

        try:
            settings_mod.ensure_online()
            settings = settings_mod.current()
            if settings.storage_error is not None:
                raise settings.storage_error
            if settings.storage is None:
                raise E.StorageConfigError("No bucket is set; enter s3://bucket/prefix in the Bucket field first.")
        except E.TripoError as exc:
            self.report({"ERROR"}, exc.message)
            return {"CANCELLED"}
        result: list = []

        def probe() -> None:  # network only: no bpy in this thread
            try:
                ok, text = test_storage(settings.storage)
            except Exception as exc:  # a bug must still end in a message
                ok, text = False, f"Test Storage stopped unexpectedly ({type(exc).__name__})."
            result.append(("INFO" if ok else "ERROR", text))

        threading.Thread(target=probe, daemon=True).start()

        def deliver():
            if not result:
                return 0.2
            report_about("storage", *result[0])
            return None

        bpy.app.timers.register(deliver, first_interval=0.2)
        report_about("storage", "INFO", "Testing the storage...")
        return {"FINISHED"}


def register() -> None:
    bpy.utils.register_class(TRIPO3D_OT_test_storage)


def unregister() -> None:
    bpy.utils.unregister_class(TRIPO3D_OT_test_storage)
