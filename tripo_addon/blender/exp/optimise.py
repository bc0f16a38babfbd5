"""Making one imported model game-ready in Blender: a triangle budget, smaller textures, LODs and
applied transforms (what :class:`~...core.gameready.GameReadyOptions` asks for).

    optimise(objects, options, *, keep_modifiers=False) -> list[bpy.types.Object]

``objects`` are the model's objects (a job's collection: its top object and the
meshes under it); the returned list is the model's objects afterwards (with
LODs, an empty named after the model holding ``NAME_LOD0``..``NAME_LOD(K-1)``),
top first. Main thread only.

- Triangles: a Decimate modifier (Collapse, triangulating) at the ratio that
  takes the model's triangles to the budget. Applied through the data API
  (the evaluated mesh becomes the object's mesh: no operator, no context), or,
  with ``keep_modifiers``, left on the object for the artist to tweak.
- Textures: every image the model's materials use that is larger than the
  limit on its longer edge is scaled down (aspect kept) and packed again, so
  it travels with the model.
- LODs: LOD i is a copy of the model's meshes reduced (from LOD0) to
  ``budgets[i]`` triangles, a sibling of LOD0 under the model's empty (Unity's
  convention; docs/pipelines.md says what engines make of it).
"""

from __future__ import annotations

import bpy
from mathutils import Matrix

from ...core import errors as E
from ...core.gameready import GameReadyOptions, lod_name

#: The name of the Decimate modifier this module adds (found again on a second run).
DECIMATE_NAME = "Tripo3D Decimate"


def optimise(objects, options: GameReadyOptions, *, keep_modifiers: bool = False) -> list:
    """Apply ``options`` to the model made of ``objects``; returns its objects afterwards, top first."""
    objects = _ordered(objects)
    if options.apply_transforms:
        apply_transforms(objects)
    meshes = [o for o in objects if o.type == "MESH"]
    if options.texture_size:
        downscale_textures(meshes, options.texture_size)
    if not meshes or not (options.faces or options.lods > 1):
        return objects
    total = triangle_count(meshes)
    budgets = options.budgets(total)
    if options.lods > 1:
        return make_lods(objects, meshes, budgets, total, keep_modifiers=keep_modifiers)
    for obj in meshes:
        decimate(obj, budgets[0] / total if total else 1.0, keep_modifier=keep_modifiers)
    return objects


def _ordered(objects) -> list:
    """Parents before their children, the model's top first (stable otherwise)."""
    objects = list(dict.fromkeys(objects))
    members = set(objects)

    def depth(obj) -> int:
        d = 0
        while obj.parent is not None and obj.parent in members:
            obj, d = obj.parent, d + 1
        return d

    return sorted(objects, key=depth)


def _triangles(mesh) -> int:
    # A face of n corners is n - 2 triangles: no walk over the faces needed.
    return len(mesh.loops) - 2 * len(mesh.polygons)


def triangle_count(meshes) -> int:
    """The triangles the meshes of ``meshes`` draw (their own data, before modifiers)."""
    return sum(_triangles(obj.data) for obj in meshes)


def evaluated_triangles(obj) -> int:
    """The triangles ``obj`` draws with its modifiers (what an exporter writes)."""
    depsgraph = _depsgraph_of(obj)
    mesh = obj.evaluated_get(depsgraph).to_mesh()
    try:
        return _triangles(mesh)
    finally:
        obj.evaluated_get(depsgraph).to_mesh_clear()


# -- transforms ---------------------------------------------------------------------------------

def apply_transforms(objects) -> None:
    """Bake each object's world transform into its mesh; every object then sits at the origin,
    unrotated, at scale 1 (parents kept)."""
    objects = _ordered(objects)
    if objects:
        _view_layer_of(objects[0]).update()  # world matrices as the latest changes make them
    worlds = {obj: obj.matrix_world.copy() for obj in objects}
    for obj in objects:
        if obj.type == "MESH" and obj.data.users > 1:
            _replace_mesh(obj, obj.data.copy())  # each its own, before any is baked
    for obj in objects:
        if obj.type != "MESH":
            continue
        world = worlds[obj]
        obj.data.transform(world, shape_keys=True)
        if world.determinant() < 0:
            obj.data.flip_normals()  # a mirror turned the faces inside out
        obj.data.update()
    members = set(objects)
    for obj in objects:
        obj.matrix_parent_inverse = Matrix.Identity(4)
        if obj.parent is None or obj.parent in members:
            obj.matrix_basis = Matrix.Identity(4)
        else:
            obj.matrix_world = Matrix.Identity(4)


# -- textures -----------------------------------------------------------------------------------

def model_images(meshes) -> list:
    """The images the materials of ``meshes`` use (image nodes, inside node groups too)."""
    found: dict = {}
    seen_trees = set()

    def walk(tree) -> None:
        if tree is None or tree in seen_trees:
            return
        seen_trees.add(tree)
        for node in tree.nodes:
            if node.type == "TEX_IMAGE" and node.image is not None:
                found[node.image] = None
            elif node.type == "GROUP":
                walk(node.node_tree)

    for obj in meshes:
        for slot in obj.material_slots:
            if slot.material is not None and slot.material.use_nodes:
                walk(slot.material.node_tree)
    return list(found)


def downscale_textures(meshes, limit: int) -> list:
    """Scale every image of the model larger than ``limit`` px on its longer edge down to it
    (aspect kept) and pack it, so the smaller picture travels with the model. Returns those scaled."""
    scaled = []
    for image in model_images(meshes):
        width, height = image.size[:]
        longest = max(width, height)
        if longest <= limit:
            continue
        image.scale(max(1, round(width * limit / longest)), max(1, round(height * limit / longest)))
        image.pack()  # the scaled pixels, not the original file, go with the model
        scaled.append(image)
    return scaled


# -- decimation ---------------------------------------------------------------------------------

def _view_layer_of(obj):
    layers = [bpy.context.view_layer] if getattr(bpy.context, "view_layer", None) is not None else []
    layers += [layer for scene in bpy.data.scenes for layer in scene.view_layers]
    for layer in layers:
        if layer.objects.get(obj.name) == obj:
            return layer
    raise E.OptimiseFailed(f"The object {obj.name} is in no scene's view layer, so its mesh cannot be "
                           "reduced; link it to a scene (or include its collection) and try again.")


def _depsgraph_of(obj):
    layer = _view_layer_of(obj)
    layer.update()
    return layer.depsgraph


def _decimate_modifier(obj, ratio: float):
    mod = obj.modifiers.get(DECIMATE_NAME)
    if mod is None or mod.type != "DECIMATE":
        mod = obj.modifiers.new(DECIMATE_NAME, "DECIMATE")
    mod.decimate_type = "COLLAPSE"
    mod.use_collapse_triangulate = True  # engines take triangles; the budget counts them
    mod.ratio = max(0.0, min(1.0, ratio))
    return mod


def decimated_mesh(obj, ratio: float):
    """A new mesh: ``obj``'s own mesh collapsed to ``ratio`` of its triangles (UVs, materials
    and attributes kept); ``obj`` is left as it was."""
    others = [(m, m.show_viewport) for m in obj.modifiers if m.name != DECIMATE_NAME]
    kept = obj.modifiers.get(DECIMATE_NAME)
    kept_state = (kept.decimate_type, kept.ratio, kept.use_collapse_triangulate) if kept else None
    for mod, _shown in others:
        mod.show_viewport = False  # only the decimation is applied, not the artist's stack
    mod = _decimate_modifier(obj, ratio)
    try:
        depsgraph = _depsgraph_of(obj)
        mesh = bpy.data.meshes.new_from_object(obj.evaluated_get(depsgraph), preserve_all_data_layers=True,
                                               depsgraph=depsgraph)
    finally:
        if kept_state is None:
            obj.modifiers.remove(mod)
        else:
            mod.decimate_type, mod.ratio, mod.use_collapse_triangulate = kept_state
        for other, shown in others:
            other.show_viewport = shown
    return mesh


def decimate(obj, ratio: float, *, keep_modifier: bool = False) -> None:
    """Reduce ``obj`` to ``ratio`` of its triangles: its mesh replaced, or a Decimate modifier kept."""
    if ratio >= 1.0 and obj.modifiers.get(DECIMATE_NAME) is None:
        return  # within the budget already
    if keep_modifier:
        _decimate_modifier(obj, ratio)
        return
    if ratio < 1.0:
        _replace_mesh(obj, decimated_mesh(obj, ratio))
    kept = obj.modifiers.get(DECIMATE_NAME)
    if kept is not None:
        obj.modifiers.remove(kept)  # applied now: it must not reduce the mesh a second time


def _replace_mesh(obj, mesh) -> None:
    old = obj.data
    name = old.name
    obj.data = mesh
    if old.users == 0:
        bpy.data.meshes.remove(old)
        mesh.name = name  # the mesh keeps its name once the old one is gone


# -- LODs ---------------------------------------------------------------------------------------

def _group_of(objects):
    """The empty that holds the model's LODs: its top empty, or a new one in the top object's
    place, named after it and given its custom properties (the job's provenance)."""
    members = set(objects)
    roots = [o for o in objects if o.parent not in members]
    if len(roots) == 1 and roots[0].type == "EMPTY":
        return roots[0]
    top = roots[0]
    base = top.name
    top_world = top.matrix_world.copy()
    # Frees the model's name for its group; a mesh is named again as its LOD0 afterwards.
    top.name = lod_name(base, 0) if top.type == "MESH" else f"{base}_part"
    group = bpy.data.objects.new(base, None)
    group.empty_display_type = "PLAIN_AXES"
    for collection in top.users_collection:
        collection.objects.link(group)
    group.parent = top.parent
    group.matrix_parent_inverse = top.matrix_parent_inverse.copy()
    group.matrix_basis = top.matrix_basis.copy()
    for key in list(top.keys()):
        group[key] = top[key]
        del top[key]
    for root in roots:
        world = root.matrix_world.copy()
        root.parent = group
        root.matrix_parent_inverse = Matrix.Identity(4)
        root.matrix_basis = top_world.inverted() @ world  # where it was in the world
    return group


def make_lods(objects, meshes, budgets: list[int], total: int, *, keep_modifiers: bool = False) -> list:
    """LOD0..LOD(K-1) of the model: its meshes at ``budgets[0]``, copies at the other budgets,
    named ``NAME_LOD<i>`` (one mesh) or ``MESH_LOD<i>`` (several), beside each other.

    Applied, each level is reduced from LOD0 (a tenth of the work of starting from the full
    mesh again); kept as modifiers, each copy shares the full mesh and has its own ratio."""
    members = set(objects)
    roots = [o for o in objects if o.parent not in members]
    base = roots[0].name
    names = {obj: base if len(meshes) == 1 else obj.name for obj in meshes}
    group = _group_of(objects)
    full = {obj: triangle_count([obj]) for obj in meshes}
    made = []
    for obj in meshes:
        copies = []
        for index in range(1, len(budgets)):
            copy = obj.copy()  # shares the mesh until it gets its own
            for key in [k for k in copy.keys() if k.startswith("tripo3d_")]:
                del copy[key]
            for collection in obj.users_collection:
                collection.objects.link(copy)
            copy.name = lod_name(names[obj], index)
            copies.append(copy)
        full_mesh = obj.data
        decimate(obj, budgets[0] / total if total else 1.0, keep_modifier=keep_modifiers)
        obj.name = lod_name(names[obj], 0)
        if obj.data.users == 1:  # USD names its meshes after their data
            obj.data.name = obj.name
        lod0 = triangle_count([obj])
        for index, copy in enumerate(copies, start=1):
            if keep_modifiers:
                _decimate_modifier(copy, budgets[index] / total if total else 1.0)
                continue
            mod = copy.modifiers.get(DECIMATE_NAME)
            if mod is not None:
                copy.modifiers.remove(mod)
            # The same share of the model as the budget asks, taken from LOD0's triangles.
            ratio = budgets[index] / total * full[obj] / lod0 if total and lod0 else 1.0
            mesh = decimated_mesh(obj, ratio) if ratio < 1.0 else obj.data.copy()
            mesh.name = copy.name
            copy.data = mesh
        if full_mesh.users == 0:  # every level has its own mesh now
            bpy.data.meshes.remove(full_mesh)
        made += copies
    lod_zero = [o for o in objects if o is not group]
    return [group, *lod_zero, *sorted(made, key=lambda o: o.name)]
