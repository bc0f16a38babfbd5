"""The option choices sent to Tripo3D, defined once for the panel and the CLI.

Plain Python (no ``bpy``): the CLI imports the value tuples, the panel the
EnumProperty items. Values outside these are passed on as typed ("Other...").
"""

from __future__ import annotations

#: The panel's "Other..." entry: send the value typed beside it.
CUSTOM = "CUSTOM"

#: (value, label, description) for each known value of each option.
TEXTURE_CHOICES = (
    ("standard", "Standard", "Standard texture quality"),
    ("HD", "HD", "High-definition texture"),
    ("no", "None", "Geometry only, no texture"),
)
ALIGNMENT_CHOICES = (
    ("original_image", "Original Image", "Keep the texture true to the picture"),
    ("geometry", "Geometry", "Fit the texture to the shape"),
)
ORIENTATION_CHOICES = (
    ("default", "Default", "The model's own orientation"),
    ("align_image", "Align to Image", "Turn the model to face like the picture"),
)

TEXTURES = tuple(value for value, _label, _desc in TEXTURE_CHOICES)
ALIGNMENTS = tuple(value for value, _label, _desc in ALIGNMENT_CHOICES)
ORIENTATIONS = tuple(value for value, _label, _desc in ORIENTATION_CHOICES)

_OTHER = (CUSTOM, "Other...", "Send another value (typed below)")
TEXTURE_ITEMS = [*TEXTURE_CHOICES, _OTHER]
ALIGNMENT_ITEMS = [*ALIGNMENT_CHOICES, _OTHER]
ORIENTATION_ITEMS = [*ORIENTATION_CHOICES, _OTHER]

SOURCE_ITEMS = [
    ("EDITOR", "Image Editor", "The image shown in the Image Editor (or the one picked below)"),
    ("IMAGE", "Blender Image", "Any image in this file, including the Render Result"),
    ("FILE", "File", "An image file on disk"),
    ("URL", "URL", "A public http(s) address the gateway can fetch"),
]
