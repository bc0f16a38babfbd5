"""A faster way into Blender's glTF importer for big scenes: the operator's own entry point
(``IMPORT_SCENE_OT_gltf.unit_import``) run as a function in a scratch scene.

It is internal to Blender's glTF add-on, so it is only an optimisation: chosen by feature
detection, and any failure falls back to the public operator (see :func:`.importer.import_glb`)
before a job can fail.
"""

from __future__ import annotations

import json
import sys
import traceback

import bpy

from ...core.glb import MAX_JSON_CHUNK, json_chunk

#: Why the fast path is off for the rest of this session ("" while it works):
#: set once it failed on a model the operator then imported.
_broken = [""]


class _Reports:
    """Stands in for the operator: the importer reports through ``self.report``."""

    def __init__(self):
        self.errors: list[str] = []

    def report(self, kinds, text: str) -> None:
        if "ERROR" in kinds:
            self.errors.append(text)


def has_skins(path: str) -> bool:
    """True also when the JSON is unreadable: the operator then refuses it in its own words."""
    found = json_chunk(path)
    if found is None or found[0] > MAX_JSON_CHUNK:
        return True
    try:
        return bool(json.loads(found[1]).get("skins"))
    except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
        return True


def _default(prop):
    if prop.type == "ENUM" and prop.is_enum_flag:
        return set(prop.default_flag)
    return tuple(prop.default_array) if getattr(prop, "is_array", False) else prop.default


def _find_entry():
    """The glTF operator's entry point, if this Blender's importer has one."""
    run = getattr(getattr(bpy.types, "IMPORT_SCENE_OT_gltf", None), "unit_import", None)
    return run if callable(run) else None


def entry_point(path: str):
    """A function that imports ``path`` into the context's scene as the
    operator would, or None where that is not possible here.

    Not ``bpy.ops`` under ``temp_override``: an operator call releases the
    GIL, then reads the override's dict from C, which crashed Blender when a
    worker thread ran Python meanwhile. So this is offered only where the
    importer calls no operator itself: it can skip its select_all (4.4 on;
    4.2 cannot), and the model has no skins (bones use Edit mode)."""
    if _broken[0]:
        return None
    run = _find_entry()
    props = bpy.ops.import_scene.gltf.get_rna_type().properties
    if run is None or "import_select_created_objects" not in props or has_skins(path):
        return None
    # What the operator passes (its as_keywords() and user extensions), with its defaults.
    settings = {p.identifier: _default(p) for p in props if p.type not in ("COLLECTION", "POINTER")}
    settings.update(filepath=path, import_select_created_objects=False, import_user_extensions=[
        sys.modules[a].glTF2ImportUserExtension() for a in bpy.context.preferences.addons.keys()
        if hasattr(sys.modules.get(a), "glTF2ImportUserExtension")])

    def call():
        reports = _Reports()
        try:
            result = run(reports, path, settings)
        except Exception as exc:  # worded as the operator would raise it
            raise RuntimeError("Error: Python: " + "".join(traceback.format_exception(exc))) from None
        if reports.errors:
            raise RuntimeError("Error: " + "\n".join(reports.errors))
        return result
    return call


def give_up(exc: BaseException) -> None:
    """The fast path failed on a model the operator imported: off for this
    session, and written once to the bug log (the user saw the model)."""
    if _broken[0]:
        return
    _broken[0] = f"{type(exc).__name__}: {exc}"
    from ...core import buglog
    from ..user_data import journal

    buglog.record(journal().directory, exc, "the glTF importer's fast path (the operator imported the model; "
                                            "the operator is used for the rest of this session)")


def broken_reason() -> str:
    """Why the fast path is off in this session ("" while it is in use)."""
    return _broken[0]


def reset() -> None:
    """Try the fast path again (a new session, or a test)."""
    _broken[0] = ""
