"""The add-on preferences: the API key, the gateway, the bucket, the limits.

The API key and the storage secret live here (Blender's user preferences),
never in a .blend file; the environment fills empty fields
(PIXAZO_API_KEY, AWS_ACCESS_KEY_ID, ...)."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..user_data import ADDON_PACKAGE
from ..settings import PIXAZO_SITE


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
    keep_metadata: BoolProperty(  # type: ignore[valid-type]
        name="Keep Picture Metadata",
        description="Send pictures with their EXIF, GPS position, camera serial, XMP and IPTC "
                    "(by default only the pixels leave this computer)",
        default=False,
    )
    download_dir: StringProperty(  # type: ignore[valid-type]
        name="Download Folder",
        description="Where downloaded models are kept (empty: the add-on's own user folder)",
        subtype="DIR_PATH",
    )

    # Local images reach the gateway through the user's own S3-compatible bucket.
    upload_route: EnumProperty(  # type: ignore[valid-type]
        name="Send Local Images",
        items=[
            ("AUTO", "Automatic", "Through your bucket when one is set, else inline"),
            ("S3", "Your Bucket", "Upload to your bucket and send a short-lived link"),
            ("INLINE", "Inline (Experimental)", "Send the image inside the request; the gateway may refuse it"),
        ],
        default="AUTO",
    )
    storage_bucket: StringProperty(  # type: ignore[valid-type]
        name="Bucket", description="s3://bucket/prefix of your S3-compatible bucket (AWS S3, R2, B2, MinIO...)",
    )
    storage_endpoint: StringProperty(  # type: ignore[valid-type]
        name="Endpoint", description="S3 endpoint URL (empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS S3)",
    )
    storage_region: StringProperty(  # type: ignore[valid-type]
        name="Region", description="Bucket region (empty: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1; R2: auto)",
    )
    storage_access_key_id: StringProperty(  # type: ignore[valid-type]
        name="Access Key ID", description="Empty: AWS_ACCESS_KEY_ID",
    )
    storage_secret_access_key: StringProperty(  # type: ignore[valid-type]
        name="Secret Access Key",
        description="Stored in Blender's preferences only, never in a .blend file (empty: AWS_SECRET_ACCESS_KEY)",
        subtype="PASSWORD",
    )
    storage_url_lifetime_hours: FloatProperty(  # type: ignore[valid-type]
        name="Link Lifetime (Hours)", description="How long the gateway may fetch an uploaded image (up to 7 days)",
        default=1.0, min=0.1, max=168.0,
    )
    storage_delete_after: BoolProperty(  # type: ignore[valid-type]
        name="Delete After the Job", description="Delete the uploaded image once the gateway no longer needs it",
        default=True,
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        col = layout.column()
        col.prop(self, "api_key")
        if not self.api_key.strip():
            if os.environ.get("PIXAZO_API_KEY", "").strip():
                col.label(text="Using the key from PIXAZO_API_KEY", icon="INFO")
            else:
                col.operator("wm.url_open", text="Get an API Key", icon="URL").url = PIXAZO_SITE
        col.prop(self, "base_url", placeholder="https://gateway.pixazo.ai")
        row = col.row()
        row.operator("tripo3d.test_connection", icon="URL")
        _result_here(col, "connection")
        col.separator()
        col.prop(self, "poll_interval")
        col.prop(self, "max_concurrent")
        col.prop(self, "max_download_mb")
        col.prop(self, "download_dir")
        col.prop(self, "keep_metadata")

        box = layout.box()
        box.label(text="Storage for Local Images", icon="EXPORT")
        col = box.column()
        col.prop(self, "upload_route")
        col.prop(self, "storage_bucket", placeholder="s3://bucket/prefix")
        col.prop(self, "storage_endpoint", placeholder="https://<account>.r2.cloudflarestorage.com")
        col.prop(self, "storage_region", placeholder="us-east-1")
        col.prop(self, "storage_access_key_id")
        col.prop(self, "storage_secret_access_key")
        col.prop(self, "storage_url_lifetime_hours")
        col.prop(self, "storage_delete_after")
        col.operator("tripo3d.test_storage", icon="CHECKMARK")
        _result_here(col, "storage")
        if not bpy.app.online_access:
            box = layout.box()
            box.label(text="Online access is off: the add-on makes no requests.", icon="ERROR")
            box.prop(context.preferences.system, "use_online_access")


def _result_here(layout, topic: str) -> None:
    """The last Test Connection / Test Storage result, under its button."""
    from .button_results import last_message

    found = last_message(topic)
    if found is None:
        return
    level, text = found
    icon = {"ERROR": "ERROR", "WARNING": "ERROR"}.get(level, "CHECKMARK" if "..." not in text else "TIME")
    col = layout.column(align=True)
    words, line, lines = text.split(), "", []
    for word in words:  # the preferences are wide: 90 characters a line
        if line and len(line) + len(word) > 90:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    for i, part in enumerate(lines + [line]):
        col.label(text=part, icon=icon if i == 0 else "BLANK1")


def register() -> None:
    bpy.utils.register_class(TRIPO3D_AP_preferences)


def unregister() -> None:
    bpy.utils.unregister_class(TRIPO3D_AP_preferences)
