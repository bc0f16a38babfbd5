"""Writing one model to a file for a game engine with Blender's own exporters: GLB, FBX, OBJ,
USD or STL, textures as each format needs them.

    export(objects, path, fmt) -> list[str]    # the files written, the model's file first

``objects`` are the model's objects (what :func:`.optimise.optimise` returns);
only they are written (the exporters' selection-only mode), with their
modifiers applied. Textures: GLB embeds them; FBX embeds them in the file
(``path_mode="COPY"``, ``embed_textures``); OBJ gets them as image files beside
its ``.mtl``; USD writes them into a ``textures`` folder beside it; STL has
none. The selection and the active object are restored afterwards. Main
thread only, and no ``temp_override`` (see docs/architecture.md's rule on
operators and threads): the objects must be in the current view layer.
"""

from __future__ import annotations

import os

import bpy

from ...core import errors as E
from ...core.errors import ExportFailed
from ...core.gameready import FORMAT_EXTENSIONS, FORMATS
from ..compat import save_image_copy, usd_texture_arguments
from .optimise import model_images

#: Each format's exporter operator and the Blender version that brings it.
EXPORTERS = {
    "glb": ("export_scene", "gltf", "the glTF 2.0 add-on (enable it in Preferences > Add-ons)"),
    "fbx": ("export_scene", "fbx", "the FBX add-on (enable it in Preferences > Add-ons)"),
    "obj": ("wm", "obj_export", "Blender 3.3 or later"),
    "usd": ("wm", "usd_export", "a Blender built with USD"),
    "stl": ("wm", "stl_export", "Blender 4.2 or later"),
}
#: Image file extensions Blender writes for an image's file_format (OBJ's textures).
_IMAGE_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "TARGA": ".tga", "TARGA_RAW": ".tga", "BMP": ".bmp",
                     "OPEN_EXR": ".exr", "TIFF": ".tif", "WEBP": ".webp"}


def exporter(fmt: str):
    """The operator that writes ``fmt``; :class:`ExportFailed` when this Blender lacks it."""
    if fmt not in EXPORTERS:
        raise E.BadOption(f"The export format {fmt!r} is not one Blender writes here; use one of "
                          f"{', '.join(FORMATS)}.")
    module, name, needs = EXPORTERS[fmt]
    operator = getattr(getattr(bpy.ops, module), name)
    try:
        operator.get_rna_type()
    except KeyError:
        raise ExportFailed(f"This Blender has no {fmt.upper()} exporter ({module}.{name}); it needs {needs}, "
                           "or choose another export format.") from None
    return operator


def is_lower_lod(name: str) -> bool:
    """Whether ``name`` is a LOD other than LOD0 (``NAME_LOD1``, ``NAME_LOD2.001``...)."""
    stem = name.rsplit(".", 1)[0] if name.rsplit(".", 1)[-1].isdigit() else name
    head, sep, level = stem.rpartition("_LOD")
    return bool(head and sep and level.isdigit() and int(level) > 0)


def _snapshot(folders) -> dict:
    seen = {}
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_file():
                st = entry.stat()
                seen[entry.path] = (st.st_mtime_ns, st.st_size)
    return seen


def _select_only(objects, view_layer):
    """Select just ``objects`` (for the exporters' selection-only mode); returns what to restore.
    Only the selected objects are visited, never every object of the scene."""
    before = (list(view_layer.objects.selected), view_layer.objects.active)
    for obj in before[0]:
        obj.select_set(False, view_layer=view_layer)
    for obj in objects:
        obj.select_set(True, view_layer=view_layer)
    view_layer.objects.active = objects[0]
    return before


def _restore(objects, before, view_layer) -> None:
    selected, active = before
    for obj in objects:
        if obj.name in view_layer.objects:
            obj.select_set(False, view_layer=view_layer)
    for obj in selected:
        if obj.name in view_layer.objects:
            obj.select_set(True, view_layer=view_layer)
    view_layer.objects.active = active if active is None or active.name in view_layer.objects else None


def _textures_beside(meshes, path: str, restore: list) -> None:
    """Write the model's images as files beside ``path`` (named after it, so models sharing a
    folder never overwrite each other's) and point the images at them for the exporter (OBJ
    reads textures by path); ``restore`` gets what to put back afterwards."""
    folder = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    for image in model_images(meshes):
        if not image.has_data and not image.packed_file:
            continue
        restore.append((image, image.filepath_raw, image.file_format))
        if image.file_format not in _IMAGE_EXTENSIONS:
            image.file_format = "PNG"
        target = os.path.join(folder, f"{stem}_{bpy.path.clean_name(image.name)}"
                                      f"{_IMAGE_EXTENSIONS[image.file_format]}")
        save_image_copy(image, target)
        image.filepath_raw = target


def export(objects, path: str, fmt: str) -> list[str]:
    """Write ``objects`` to ``path`` as ``fmt`` (glb, fbx, obj, usd, stl); returns the files
    written, ``path`` (made absolute) first. Raises :class:`ExportFailed` with one sentence when it cannot."""
    objects = list(objects)
    fmt = fmt.lower()
    operator = exporter(fmt)
    if not objects:
        raise ExportFailed(f"There is nothing to export to {os.path.basename(path)}: the model has no objects.")
    view_layer = bpy.context.view_layer
    view_layer.update()  # objects just linked (LODs) join the layer's list only once it syncs
    missing = [o.name for o in objects if view_layer.objects.get(o.name) != o]
    if missing:
        raise ExportFailed(f"{missing[0]} is not in the current view layer, so it cannot be exported; "
                           "include its collection and try again.")
    if fmt == "stl":  # one solid: the lower LODs would only lie inside LOD0
        objects = [o for o in objects if not is_lower_lod(o.name)] or objects
    expected = FORMAT_EXTENSIONS[fmt]
    if not path.lower().endswith(expected):
        path += expected
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ExportFailed(f"Could not make the export folder {folder} ({exc.strerror or exc}); "
                           "choose a folder you can write to.") from None
    watched = [folder, os.path.join(folder, "textures")]
    before_files = _snapshot(watched)
    meshes = [o for o in objects if o.type == "MESH"]
    before = _select_only(objects, view_layer)
    restore = []
    try:
        if fmt == "obj":
            _textures_beside(meshes, path, restore)
        result = operator(**_arguments(fmt, path))
    except (RuntimeError, OSError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ExportFailed(f"Blender's {fmt.upper()} exporter could not write {os.path.basename(path)} "
                           f"({reason[:200]}); check the folder and try again.") from None
    finally:
        for image, filepath, file_format in restore:
            image.filepath_raw = filepath
            image.file_format = file_format
        _restore(objects, before, view_layer)
    if "FINISHED" not in result or not os.path.isfile(path):
        raise ExportFailed(f"Blender's {fmt.upper()} exporter wrote no {os.path.basename(path)}; "
                           "check the folder and try again.")
    after = _snapshot(watched)
    changed = sorted(p for p, stamp in after.items() if before_files.get(p) != stamp and p != path)
    return [path, *changed]


def _arguments(fmt: str, path: str) -> dict:
    if fmt == "glb":
        return {"filepath": path, "export_format": "GLB", "use_selection": True, "export_apply": True}
    if fmt == "fbx":
        return {"filepath": path, "use_selection": True, "use_mesh_modifiers": True,
                "object_types": {"EMPTY", "MESH"}, "path_mode": "COPY", "embed_textures": True}
    if fmt == "obj":
        return {"filepath": path, "export_selected_objects": True, "apply_modifiers": True,
                "export_materials": True, "path_mode": "STRIP"}
    if fmt == "usd":
        return {"filepath": path, "selected_objects_only": True, "export_materials": True,
                "relative_paths": True, **usd_texture_arguments()}
    return {"filepath": path, "export_selected_objects": True, "apply_modifiers": True}
