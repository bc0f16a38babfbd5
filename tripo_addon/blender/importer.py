"""Import a downloaded GLB with Blender's own glTF importer.

The model lands in a new collection named after the image, its top object
named after the image too, resting on the ground at the 3D cursor (or, with
``placement="FREE"``, beside the selection or at the first free spot, never
inside another object), selected and active, framed in the 3D Viewports when
asked, with provenance on its top object. If the importer fails, every datablock it made is removed again, so
the scene is as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from mathutils import Matrix, Vector

from ..core.errors import ImportFailed
from ..core.glb import check_glb_file, external_references
from .compat import draco_decoder_missing

# Datablock kinds the glTF importer may create.
_DATA_KINDS = (
    "objects", "meshes", "materials", "images", "textures", "node_groups", "actions", "cameras",
    "lights", "armatures", "curves", "collections", "shape_keys",
)

PROVENANCE_PREFIX = "tripo3d_"


@dataclass
class ImportOptions:
    """Where and how a model lands in the scene."""

    at_cursor: bool = True
    rest_on_ground: bool = True  # origin at the base, base on the ground
    normalize_size: float = 0.0  # largest dimension in metres; 0 keeps the size
    collection: str = ""  # parent collection for the new one; "" = the scene's
    #: "CURSOR": exactly at the target point; "FREE": beside the selection, else
    #: at the first spot near the target where no other object is (never hidden inside one).
    placement: str = "CURSOR"
    frame_view: bool = False  # zoom the 3D Viewports onto the model (the panel turns it on)
    mark_asset: bool = False  # mark the top object as an asset, so it shows in the Asset Browser

    @classmethod
    def from_dict(cls, data: dict | None) -> "ImportOptions":
        data = data or {}
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class ImportResult:
    """What an import made."""

    collection: str
    top: str
    objects: list


def _snapshot() -> dict:
    return {kind: {id_.as_pointer() for id_ in getattr(bpy.data, kind)} for kind in _DATA_KINDS}


def _remove_new(before: dict) -> None:
    """Delete every datablock created since ``before``: objects first, then their data."""
    for kind in _DATA_KINDS:
        coll = getattr(bpy.data, kind)
        for id_ in [i for i in coll if i.as_pointer() not in before[kind]]:
            try:
                coll.remove(id_)
            except (ReferenceError, RuntimeError, TypeError):
                pass


def _find_layer_collection(layer_coll, collection):
    if layer_coll.collection == collection:
        return layer_coll
    for child in layer_coll.children:
        found = _find_layer_collection(child, collection)
        if found is not None:
            return found
    return None


def _importer_reason(exc: Exception) -> str:
    """The importer's own words, without the traceback it sometimes carries."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if any("Traceback" in ln for ln in lines):
        lines = lines[-1:]  # e.g. "KeyError: 7": the file's structure is broken
    text = " ".join(" ".join(lines).replace("Error:", "").split())
    return (text[:160] + "...") if len(text) > 160 else (text or "unknown error")


DRACO_MISSING = ("Could not import the model for {name}: this Blender build cannot decode Draco-compressed models "
                 "(its Draco library does not load), so use a Blender from blender.org; the scene was not changed.")


def _world_bounds(objects) -> tuple[Vector, Vector] | None:
    lo = Vector((float("inf"),) * 3)
    hi = Vector((float("-inf"),) * 3)
    found = False
    for obj in objects:
        if obj.type != "MESH":
            continue
        for corner in obj.bound_box:
            p = obj.matrix_world @ Vector(corner)
            lo = Vector(map(min, lo, p))
            hi = Vector(map(max, hi, p))
            found = True
    return (lo, hi) if found else None


def import_glb(path: str, name: str, options: ImportOptions | None = None, provenance: dict | None = None,
               context=None) -> ImportResult:
    """Import ``path`` as ``name``. Raises :class:`ImportFailed`, leaving the scene unchanged."""
    options = options or ImportOptions()
    context = context or bpy.context
    problem = check_glb_file(path) or external_references(path)
    if problem:
        raise ImportFailed(f"Could not import the model for {name}: {problem}.")

    scene = context.scene
    view_layer = context.view_layer
    if context.mode != "OBJECT" and view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode="OBJECT")
    before = _snapshot()
    old_active_layer = view_layer.active_layer_collection
    old_selected = [o for o in view_layer.objects if o.select_get()]
    old_active = view_layer.objects.active

    def restore_selection() -> None:
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
        target = bpy.data.collections.new(name)
        parent.children.link(target)
        layer = _find_layer_collection(view_layer.layer_collection, target)
        if layer is None:  # the parent collection is excluded from this view layer
            raise ImportFailed(f"The collection {parent.name} is not in the current view layer; pick another.")
        view_layer.active_layer_collection = layer
        for o in view_layer.objects:
            o.select_set(False)
        try:
            result = bpy.ops.import_scene.gltf(filepath=path)
        except RuntimeError as exc:
            if draco_decoder_missing(exc):
                raise ImportFailed(DRACO_MISSING.format(name=name)) from None
            reason = _importer_reason(exc)
            raise ImportFailed(
                f"Blender's glTF importer rejected the model for {name} ({reason}); the scene was not changed."
            ) from None
        if "FINISHED" not in result:
            raise ImportFailed(f"Blender's glTF importer did not finish the model for {name}; the scene was not changed.")
        # Blender 4.2-4.3's glTF importer links every object to the scene's
        # master collection, not the active one (4.4+ uses the active one):
        # move what it made there into ours.
        for o in bpy.data.objects:
            if o.as_pointer() not in before["objects"] and o.name in scene.collection.objects:
                if o.name not in target.all_objects:
                    target.objects.link(o)
                scene.collection.objects.unlink(o)
        new_objects = [o for o in target.all_objects]
        if not new_objects:
            raise ImportFailed(f"The model for {name} holds no objects; the scene was not changed.")
        view_layer.update()
        top = _place(new_objects, target, name, options, context, old_selected)
    except ImportFailed:
        _remove_new(before)
        view_layer.active_layer_collection = old_active_layer
        restore_selection()
        raise
    except Exception as exc:  # anything unexpected must still leave the scene as it was
        _remove_new(before)
        view_layer.active_layer_collection = old_active_layer
        restore_selection()
        raise ImportFailed(f"Importing the model for {name} failed ({type(exc).__name__}: {exc}); the scene was not changed.") from None

    view_layer.active_layer_collection = old_active_layer
    for key, value in (provenance or {}).items():
        if value is not None:
            top[PROVENANCE_PREFIX + key] = value if isinstance(value, (int, float, str)) else str(value)
    for o in view_layer.objects:
        o.select_set(False)
    objects = [o for o in target.all_objects]
    for o in objects:
        o.select_set(True)
    view_layer.objects.active = top
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
    picked = _world_bounds(selected) if selected else None
    if picked is not None:
        s_lo, s_hi = picked
        target.x = s_hi.x + gap + (base.x - lo.x)
        target.y = (s_lo.y + s_hi.y) / 2 + (base.y - (lo.y + hi.y) / 2)  # the height stays: on the ground
    boxes = [b for b in (_world_bounds([o]) for o in others) if b is not None]
    for _ in range(64):
        placed = (lo - base + target, hi - base + target)
        blocking = [b for b in boxes if _boxes_overlap(placed, b)]
        if not blocking:
            break
        target.x = max(b[1].x for b in blocking) + gap + (base.x - lo.x)
    return target


def _place(objects, collection, name: str, options: ImportOptions, context, selected=()):
    """Give the model one top object named after the image, scale it, and put
    its base on the target point (or beside the selection / at a free spot)."""
    view_layer = context.view_layer
    members = set(objects)
    roots = [o for o in objects if o.parent not in members]
    target = context.scene.cursor.location.copy() if options.at_cursor else Vector((0.0, 0.0, 0.0))
    bounds = _world_bounds(objects)

    if options.normalize_size > 0 and bounds is not None:
        size = max(bounds[1] - bounds[0])
        if size > 0:
            factor = options.normalize_size / size
            scale = Matrix.Scale(factor, 4)
            for root in roots:
                root.matrix_world = scale @ root.matrix_world
            view_layer.update()
            bounds = _world_bounds(objects)

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
        others = [o for o in view_layer.objects if o not in members and o.visible_get()]
        target = _free_target(target, bounds, base, others, [o for o in selected if o.name in view_layer.objects])
    top.matrix_world.translation = top.matrix_world.translation - base + target
    top.name = name  # the image's name, like its collection (Blender adds .001 when taken)
    view_layer.update()
    return top
