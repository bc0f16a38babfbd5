"""Importing a downloaded GLB with Blender's own glTF importer: placement, naming,
provenance, and the roll-back when the importer fails.

The model lands in a new collection named after the image, its top object
named after the image too, resting on the ground at the 3D cursor (or, with
``placement="FREE"``, beside the selection or at the first free spot, never
inside another object), selected and active, framed in the 3D Viewports when
asked. If the importer fails, every datablock it made is removed again, so
the scene is as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import bpy
from mathutils import Matrix, Vector

from ...core.errors import ImportFailed
from ...core.glb import check_glb_file, external_references
from . import gltf_fast_path
from ..compat import draco_decoder_missing
from ..windows import call_operator
from ...core.placement_options import ImportOptions  # noqa: F401  (public here too)
from .viewport import world_bounds

# Datablock kinds the glTF importer may create.
_DATA_KINDS = (
    "objects", "meshes", "materials", "images", "textures", "node_groups", "actions", "cameras",
    "lights", "armatures", "curves", "collections", "shape_keys", "scenes",
)

PROVENANCE_PREFIX = "tripo3d_"


@dataclass
class ImportResult:
    """What an import made."""

    collection: str
    top: str
    objects: list


def _remove_new(after_uid: int) -> None:
    """Delete every datablock created after the one whose ``session_uid`` is
    ``after_uid`` (uids only grow): objects first, then their data. Only a
    failed import pays for this scan of all data; a good one scans nothing."""
    for kind in _DATA_KINDS:
        coll = getattr(bpy.data, kind)
        for id_ in [i for i in coll if i.session_uid > after_uid]:
            try:
                coll.remove(id_)
            except (ReferenceError, RuntimeError, TypeError):
                pass


def _remove_scenes_made(after_uid: int) -> None:
    """The glTF importer makes a Blender scene for each glTF scene but the
    default one (4.5 on; their objects come in excluded collections of ours):
    none of them stays in the user's file."""
    for scene in [s for s in bpy.data.scenes if s.session_uid > after_uid]:
        bpy.data.scenes.remove(scene)


def _find_layer_collection(layer_coll, collection):
    if layer_coll.collection == collection:
        return layer_coll
    for child in layer_coll.children:
        found = _find_layer_collection(child, collection)
        if found is not None:
            return found
    return None


def _layer_collection_of(view_layer, collection):
    """``collection``'s layer collection in ``view_layer``. From 5.2 a new
    scene's view layer has no layer collections until it is synced, which
    ``ViewLayer.update`` does; a synced one is searched as it is."""
    if view_layer.layer_collection is None:
        view_layer.update()
    found = _find_layer_collection(view_layer.layer_collection, collection)
    if found is None:
        view_layer.update()
        found = _find_layer_collection(view_layer.layer_collection, collection)
    return found


def _copy_excluded(work_layer_coll, layers, target) -> None:
    """Scenes of a multi-scene glTF other than the default one come excluded
    (the importer excludes them in the view layer it ran in): the same here."""
    excluded = [c.name for c in work_layer_coll.children if c.exclude]
    if excluded:
        mine = _find_layer_collection(layers, target)
        for child in mine.children if mine is not None else ():
            child.exclude = child.exclude or child.name in excluded


def _importer_reason(exc: Exception) -> str:
    """The importer's own words, without the traceback it sometimes carries."""
    # The operator's last line names a place in Blender's code
    # ("Location: .../ops.py:109"), not the error: it goes first.
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("Location:")]
    if any("Traceback" in ln for ln in lines):
        lines = lines[-1:]  # e.g. "KeyError: 7": the file's structure is broken
    # The operator words it "Error: Python: ...": drop those prefixes, not
    # the "Error:" inside a name such as "KeyError:".
    lines = [re.sub(r"^(?:Error:\s*)?(?:Python:\s*)?", "", ln) for ln in lines]
    text = " ".join(" ".join(lines).split())
    return (text[:160] + "...") if len(text) > 160 else (text or "unknown error")


DRACO_MISSING = ("Could not import the model for {name}: this Blender build cannot decode Draco-compressed models "
                 "(its Draco library does not load), so use a Blender from blender.org; the scene was not changed.")


def import_glb(path: str, name: str, options: ImportOptions | None = None, provenance: dict | None = None,
               context=None) -> ImportResult:
    """Import ``path`` as ``name``. Raises :class:`ImportFailed`, leaving the scene unchanged.

    The glTF operator is the contract. Where the importer's own entry point
    can be used (see .gltf_fast_path), it is tried first, because it keeps
    imports into a big scene fast; if it fails in any way, the scene is put
    back and the operator imports the model, so only the operator's verdict
    can fail a job."""
    options = options or ImportOptions()
    context = context or bpy.context
    problem = check_glb_file(path) or external_references(path)
    if problem:
        raise ImportFailed(f"Could not import the model for {name}: {problem}. Delete that file from the download "
                           "folder and generate the same image again: the model is fetched again, no new charge.")
    fast = gltf_fast_path.entry_point(path)
    if fast is not None:
        try:
            return _import(path, name, options, provenance, context, fast)
        except Exception as exc:  # the scene is as it was: the operator decides
            fast_failure = exc
    result = _import(path, name, options, provenance, context, None)
    if fast is not None:
        gltf_fast_path.give_up(fast_failure)
    return result


def _import(path: str, name: str, options: ImportOptions, provenance: dict | None, context,
            fast) -> ImportResult:
    """One attempt: through ``fast`` (the entry point, in a scratch scene), or
    the operator when it is None. Raises :class:`ImportFailed`, the scene as it was."""
    scene = context.scene
    view_layer = context.view_layer
    if context.mode != "OBJECT" and view_layer.objects.active is not None:
        call_operator(bpy.ops.object.mode_set, mode="OBJECT")  # in the context given: no override
    # The model is built and placed in a scratch scene, then linked into the
    # user's scene once: an update of a view layer whose objects changed costs
    # O(objects in it), and the importer (as an operator) updates it several
    # times, so importing straight into a big scene got slower with every
    # model. The user's scene is untouched until the model is placed. The
    # scratch scene's uid also marks where this import's datablocks start.
    work = bpy.data.scenes.new("~tripo3d import")  # "~": after the user's scenes[0]
    work.unit_settings.scale_length = scene.unit_settings.scale_length  # the importer scales by it
    work.render.fps, work.render.fps_base = scene.render.fps, scene.render.fps_base  # and times animations
    work_layer = work.view_layers[0]
    old_active_layer = view_layer.active_layer_collection
    old_selected = list(view_layer.objects.selected)
    old_active = view_layer.objects.active

    def restore_selection() -> None:  # after the operator changed it in the user's scene
        for o in view_layer.objects:
            o.select_set(o in old_selected)
        view_layer.objects.active = old_active

    try:
        parent = scene.collection
        if options.collection:
            parent = bpy.data.collections.get(options.collection)
            if parent is None:
                parent = bpy.data.collections.new(options.collection)
                scene.collection.children.link(parent)
        if _layer_collection_of(view_layer, parent) is None:
            raise ImportFailed(f"The collection {parent.name} is not in the current view layer; pick another.")
        target = bpy.data.collections.new(name)
        # Else the operator, in the user's scene (slower in a big scene).
        home, layer = (work.collection, work_layer) if fast else (scene.collection, view_layer)
        (home if fast else parent).children.link(target)
        layer.active_layer_collection = _layer_collection_of(layer, target)
        try:
            if fast:
                with context.temp_override(scene=work, view_layer=work_layer):
                    result = fast()
            else:
                result = call_operator(bpy.ops.import_scene.gltf, filepath=path)  # no override either
        except RuntimeError as exc:
            if draco_decoder_missing(exc):
                raise ImportFailed(DRACO_MISSING.format(name=name)) from None
            reason = _importer_reason(exc)
            raise ImportFailed(
                f"Blender's glTF importer rejected the model for {name} ({reason}); the scene was not changed."
            ) from None
        if "FINISHED" not in result:
            raise ImportFailed(f"Blender's glTF importer did not finish the model for {name}; the scene was not changed.")
        # Blender 4.2-4.4's glTF importer links every object to the scene's
        # master collection, not the active one (4.5+ uses the active one):
        # move what it made there into ours.
        for o in list(home.objects):
            if o.session_uid > work.session_uid:
                if o.name not in target.all_objects:
                    target.objects.link(o)
                home.objects.unlink(o)
        new_objects = [o for o in target.all_objects]
        if not new_objects:
            raise ImportFailed(f"The model for {name} holds no objects; the scene was not changed.")
        layer.update()
        top = _place(new_objects, target, name, options, context, old_selected, layer)
        if fast:
            parent.children.link(target)
            _copy_excluded(work_layer.layer_collection.children[0], view_layer.layer_collection, target)
        _remove_scenes_made(work.session_uid)
        view_layer.active_layer_collection = old_active_layer
        for key, value in (provenance or {}).items():
            if value is not None:
                top[PROVENANCE_PREFIX + key] = value if isinstance(value, (int, float, str)) else str(value)
        for o in list(view_layer.objects.selected):  # only the selected ones: not a walk over the scene
            o.select_set(False)
        objects = [o for o in target.all_objects]
        for o in objects:
            if o.name in view_layer.objects:  # a multi-scene model's other scenes come excluded
                o.select_set(True)
        view_layer.objects.active = top if top.name in view_layer.objects else None
    except ImportFailed:
        _remove_new(work.session_uid)
        view_layer.active_layer_collection = old_active_layer
        restore_selection()
        raise
    except Exception as exc:  # anything unexpected must still leave the scene as it was
        _remove_new(work.session_uid)
        view_layer.active_layer_collection = old_active_layer
        restore_selection()
        raise ImportFailed(
            f"Importing the model for {name} stopped on an internal error ({type(exc).__name__}); the scene was not "
            "changed and the downloaded model is kept, so Import Again (or the same batch again) imports it "
            "without a new charge.") from exc
    finally:
        # Nothing refers to the scratch scene (its collection is emptied first),
        # so it is freed as is: removing it the usual way looks for users in
        # every datablock of the file, which costs O(file) again.
        for child in list(work.collection.children):
            work.collection.children.unlink(child)
        work.user_clear()
        bpy.data.scenes.remove(work, do_unlink=False)

    if options.mark_asset:
        mark_asset(top)
    if options.frame_view:
        from .viewport import frame_selected

        frame_selected(context)
    return ImportResult(target.name, top.name, [o.name for o in objects])


def mark_asset(obj) -> None:
    """Mark ``obj`` as an asset with a rendered preview (the preview is made by
    Blender's preview job when it has a window; without one the asset has none)."""
    if obj.asset_data is None:
        obj.asset_mark()
    if bpy.app.background:
        return  # no window, no preview job: asking for one ended a 5.2 process without a GPU library
    try:
        obj.asset_generate_preview()
    except (RuntimeError, AttributeError):
        pass


def _boxes_overlap(a: tuple[Vector, Vector], b: tuple[Vector, Vector]) -> bool:
    return all(a[0][i] < b[1][i] and b[0][i] < a[1][i] for i in range(3))


def _free_target(target: Vector, bounds, base: Vector, others, selected) -> Vector:
    """Beside the selection, else ``target``; then step along +X until the
    model's box meets no other object's, so it is never hidden inside one."""
    lo, hi = bounds
    width = hi.x - lo.x
    gap = 0.2 + 0.1 * width
    target = target.copy()
    picked = world_bounds(selected) if selected else None
    if picked is not None:
        s_lo, s_hi = picked
        target.x = s_hi.x + gap + (base.x - lo.x)
        target.y = (s_lo.y + s_hi.y) / 2 + (base.y - (lo.y + hi.y) / 2)  # the height stays: on the ground
    boxes = [b for b in (world_bounds([o]) for o in others) if b is not None]
    for _ in range(64):
        placed = (lo - base + target, hi - base + target)
        blocking = [b for b in boxes if _boxes_overlap(placed, b)]
        if not blocking:
            break
        target.x = max(b[1].x for b in blocking) + gap + (base.x - lo.x)
    return target


def _place(objects, collection, name: str, options: ImportOptions, context, selected=(), view_layer=None):
    """Give the model one top object named after the image, scale it, and put
    its base on the target point (or beside the selection / at a free spot).
    ``view_layer`` holds the model (the scratch scene's); the free spot is
    looked for among the objects of the context's view layer."""
    view_layer = view_layer or context.view_layer
    members = set(objects)
    roots = [o for o in objects if o.parent not in members]
    target = context.scene.cursor.location.copy() if options.at_cursor else Vector((0.0, 0.0, 0.0))
    bounds = world_bounds(objects)

    if options.normalize_size > 0 and bounds is not None:
        size = max(bounds[1] - bounds[0])
        if size > 0:
            factor = options.normalize_size / size
            scale = Matrix.Scale(factor, 4)
            for root in roots:
                root.matrix_world = scale @ root.matrix_world
            view_layer.update()
            bounds = world_bounds(objects)

    if options.rest_on_ground and bounds is not None:
        lo, hi = bounds
        base = Vector(((lo.x + hi.x) / 2, (lo.y + hi.y) / 2, lo.z))
    else:
        base = Vector((0.0, 0.0, 0.0))

    single = roots[0] if len(roots) == 1 else None
    if single is not None and single.type == "MESH" and not single.children and single.data.users == 1:
        # Move the mesh's origin to its base so it can be dropped onto things.
        local_base = single.matrix_world.inverted() @ base
        single.data.transform(Matrix.Translation(-local_base))
        single.matrix_world = single.matrix_world @ Matrix.Translation(local_base)
        top = single
    elif single is not None and single.type == "EMPTY" and not options.rest_on_ground:
        top = single
    else:
        top = bpy.data.objects.new(name, None)
        top.empty_display_type = "PLAIN_AXES"
        collection.objects.link(top)
        top.matrix_world = Matrix.Translation(base)
        view_layer.update()
        for root in roots:
            world = root.matrix_world.copy()
            root.parent = top
            root.matrix_parent_inverse = top.matrix_world.inverted()
            root.matrix_world = world
    view_layer.update()
    if options.placement == "FREE" and bounds is not None:
        layer_objects = context.view_layer.objects
        others = [o for o in layer_objects if o not in members and o.visible_get()]
        target = _free_target(target, bounds, base, others, [o for o in selected if o.name in layer_objects])
    top.matrix_world.translation = top.matrix_world.translation - base + target
    top.name = name  # the image's name, like its collection (Blender adds .001 when taken)
    view_layer.update()
    return top
