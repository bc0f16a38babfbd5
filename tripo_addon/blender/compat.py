"""Where the Blender versions this extension supports (4.2 LTS to 5.3) differ,
in one place, each difference with the versions it covers.

Things every supported version has are used directly, unchecked:
``Context.temp_override`` (3.2+), ``UILayout.progress`` (4.0+),
``bpy.utils.register_cli_command`` (4.2+), extensions and
``bpy.utils.extension_path_user`` (4.2+).
"""

from __future__ import annotations

import bpy


def save_image_copy(image, filepath: str, quality: int = 92) -> None:
    """Write ``image`` to ``filepath`` in its ``file_format`` without changing the
    datablock (its path, its saved state).

    4.4 and later take ``save_copy=True`` to say so; 4.2 has no such parameter, and
    its ``save(filepath=...)`` already writes a copy and keeps the image's path
    (checked on 4.2.23)."""
    if "save_copy" in bpy.types.Image.bl_rna.functions["save"].parameters:
        image.save(filepath=filepath, quality=quality, save_copy=True)
    else:
        image.save(filepath=filepath, quality=quality)


def draco_decoder_missing(exc: Exception) -> bool:
    """The glTF importer could not load its Draco library. The PyPI bpy 4.2
    module looks for it relative to the working directory and fails, and the
    5.2 and 5.3 wheels lack it; 4.4 to 5.1 decode Draco (Debian's 4.3 package
    ships the library)."""
    text = str(exc).lower()
    return "draco" in text and any(s in text for s in ("oserror", "loadlibrary", "shared object"))


def usd_texture_arguments() -> dict:
    """The USD exporter's arguments that write a model's textures beside the file (into a
    ``textures`` folder), replacing older copies: 4.2 and 4.3 take ``export_textures=True``,
    4.4 and later ``export_textures_mode="NEW"`` (with ``overwrite_textures``)."""
    props = bpy.ops.wm.usd_export.get_rna_type().properties
    if "export_textures_mode" in props:
        args = {"export_textures_mode": "NEW"}
    else:
        args = {"export_textures": True}
    if "overwrite_textures" in props:
        args["overwrite_textures"] = True
    return args
