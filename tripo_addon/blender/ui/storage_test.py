"""The Test Storage button: proving the user's bucket works before a job needs it.

The network work runs in a thread that never touches ``bpy``; a one-shot
timer reports the result where the button was clicked (the status bar and
the Info log).
"""

from __future__ import annotations

import bpy

from ...core import errors as E
from .. import settings as settings_mod
from .button_results import run_check


class TRIPO3D_OT_test_storage(bpy.types.Operator):
    """Upload a tiny test object to your bucket, fetch it through a presigned link and delete it"""

    bl_idname = "tripo3d.test_storage"
    bl_label = "Test Storage"

    def execute(self, context):
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
        def check() -> tuple[str, str]:  # network only: no bpy in this thread
            ok, text = test_storage(settings.storage)
            return ("INFO" if ok else "ERROR"), text

        run_check("storage", check, "Testing the storage...")
        return {"FINISHED"}


def register() -> None:
    bpy.utils.register_class(TRIPO3D_OT_test_storage)


def unregister() -> None:
    bpy.utils.unregister_class(TRIPO3D_OT_test_storage)
