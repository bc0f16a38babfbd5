"""Add-on preferences. The API key lives here (Blender's user preferences),
never in a .blend file; PIXAZO_API_KEY is used when it is empty."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty

from .paths import ADDON_PACKAGE


class TRIPO3D_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    api_key: StringProperty(  # type: ignore[valid-type]
        name="API Key",
        description="Your Pixazo API key (stored in Blender's preferences only; PIXAZO_API_KEY is used when empty)",
        subtype="PASSWORD",
    )
    base_url: StringProperty(  # type: ignore[valid-type]
        name="Gateway",
        description="Gateway address (empty: PIXAZO_BASE_URL, else https://gateway.pixazo.ai)",
    )
    poll_interval: FloatProperty(  # type: ignore[valid-type]
        name="Poll Interval", description="Seconds between status checks of a job",
        default=2.0, min=1.0, max=60.0, unit="TIME_ABSOLUTE",
    )
    max_concurrent: IntProperty(  # type: ignore[valid-type]
        name="Max Concurrent Jobs", description="Jobs sent to the gateway at the same time; others wait",
        default=3, min=1, max=16,
    )
    max_download_mb: IntProperty(  # type: ignore[valid-type]
        name="Max Download (MB)", description="Refuse model files larger than this",
        default=512, min=1, max=4096,
    )
    download_dir: StringProperty(  # type: ignore[valid-type]
        name="Download Folder",
        description="Where downloaded models are kept (empty: the add-on's own user folder)",
        subtype="DIR_PATH",
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        col = layout.column()
        col.prop(self, "api_key")
        col.prop(self, "base_url", placeholder="https://gateway.pixazo.ai")
        row = col.row()
        row.operator("tripo3d.test_connection", icon="URL")
        col.separator()
        col.prop(self, "poll_interval")
        col.prop(self, "max_concurrent")
        col.prop(self, "max_download_mb")
        col.prop(self, "download_dir")
        if not bpy.app.online_access:
            box = layout.box()
            box.label(text="Online access is off: the add-on makes no requests.", icon="ERROR")
            box.prop(context.preferences.system, "use_online_access")


def register() -> None:
    bpy.utils.register_class(TRIPO3D_AP_preferences)


def unregister() -> None:
    bpy.utils.unregister_class(TRIPO3D_AP_preferences)
