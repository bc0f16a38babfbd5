"""The game-ready step in real Blender: extra gateway fields from the console, a Tripo-like model
optimised (face budget, texture size, LODs) and exported, then read back by Blender's own importers."""

from __future__ import annotations

import os

import bpy
import pytest
from bhelpers import scene_fingerprint
from helpers import make_image
from mathutils import Matrix, Vector
from test_ui_jobs import addon, ui  # noqa: F401  (fixtures)
from tools.glb_tripo_like import tripo_like_glb, triangle_count as tripo_triangles

from tripo_addon import api
from tripo_addon.blender.exp.export import ExportFailed, export, is_lower_lod
from tripo_addon.blender.exp.optimise import evaluated_triangles, model_images, optimise, triangle_count
from tripo_addon.blender.imp.importer import import_glb
from tripo_addon.core import errors as E
from tripo_addon.core.gameready import GameReadyOptions, export_file_name
from tripo_addon.core.jobs import State
from tripo_addon.core.placement_options import ImportOptions

BUDGET = 5000
LIMIT = 1024
IMPORTERS = {
    "glb": lambda path: bpy.ops.import_scene.gltf(filepath=path),
    "fbx": lambda path: bpy.ops.import_scene.fbx(filepath=path),
    "obj": lambda path: bpy.ops.wm.obj_import(filepath=path),
    "usd": lambda path: bpy.ops.wm.usd_import(filepath=path),
    "stl": lambda path: bpy.ops.wm.stl_import(filepath=path),
}


@pytest.fixture(scope="module")
def tripo_glb(tmp_path_factory):
    """A GLB shaped like Tripo's: 50,000 triangles, three 4096 px textures."""
    path = tmp_path_factory.mktemp("tripo") / "robot.glb"
    path.write_bytes(tripo_like_glb(make_image("PNG", size=(256, 256)), 4096))
    return str(path)


@pytest.fixture
def model(blender, tripo_glb):
    """The Tripo-like model imported as a job imports it: its objects."""
    result = import_glb(tripo_glb, "robot", ImportOptions())
    return [bpy.data.objects[name] for name in result.objects]


def near(count: int, expected: int, tolerance: float = 0.05) -> bool:
    return abs(count - expected) <= expected * tolerance


def reopened(path: str, fmt: str) -> list:
    """The objects Blender's own importer makes of ``path``, in an empty scene."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert IMPORTERS[fmt](path) == {"FINISHED"}
    return list(bpy.context.scene.objects)


def meshes_by_name(objects) -> dict:
    return {o.name: o for o in objects if o.type == "MESH"}


# --- optimise ----------------------------------------------------------------------------------

@pytest.mark.matrix
def test_budget_and_texture_size_keep_uvs_and_materials(model):
    [mesh] = [o for o in model if o.type == "MESH"]
    assert triangle_count([mesh]) == tripo_triangles() == 50000
    material = mesh.material_slots[0].material
    out = optimise(model, GameReadyOptions(faces=BUDGET, texture_size=LIMIT))
    assert out == model
    assert near(triangle_count([mesh]), BUDGET)
    assert not mesh.modifiers  # applied, for the batch
    assert mesh.data.uv_layers.active is not None and mesh.material_slots[0].material == material
    images = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE"]
    assert len(images) == 3
    for image in images:
        assert tuple(image.size) == (LIMIT, LIMIT) and image.packed_file is not None


@pytest.mark.matrix
def test_lods_are_named_for_the_engines_and_follow_the_budgets(blender, tripo_glb):
    result = import_glb(tripo_glb, "robot", ImportOptions(), provenance={"request_id": "req-1"})
    model = [bpy.data.objects[name] for name in result.objects]
    out = optimise(model, GameReadyOptions(faces=BUDGET, lods=3))
    assert [o.name for o in out] == ["robot", "robot_LOD0", "robot_LOD1", "robot_LOD2"]
    group, *lods = out
    assert group.type == "EMPTY" and all(o.parent == group for o in lods)
    assert group["tripo3d_request_id"] == "req-1"  # the job's provenance stays on the model's top
    assert not [k for lod in lods for k in lod.keys() if k.startswith("tripo3d_")]
    assert all(lod.matrix_world == group.matrix_world for lod in lods)  # the levels lie on each other
    for lod, expected in zip(lods, (5000, 2500, 1250), strict=True):
        assert near(triangle_count([lod]), expected), lod.name
        assert lod.data.uv_layers.active is not None and lod.material_slots[0].material is not None
    assert len({lod.data.name for lod in lods}) == 3  # each LOD its own mesh
    assert [m.name for m in bpy.data.meshes] == ["robot_LOD0", "robot_LOD1", "robot_LOD2"]  # no orphan left


@pytest.mark.parametrize("top", ["empty", "none"])
def test_a_model_of_several_meshes_names_each_mesh_per_level(blender, top):
    parts = []
    for name, x in (("Head", 0.0), ("Body", 3.0)):
        bpy.ops.mesh.primitive_uv_sphere_add(location=(x, 0, 0))  # 960 triangles
        bpy.context.active_object.name = name
        parts.append(bpy.context.active_object)
    objects = list(parts)
    if top == "empty":
        holder = bpy.data.objects.new("statue", None)
        bpy.context.collection.objects.link(holder)
        for part in parts:
            part.parent = holder
        objects.insert(0, holder)
    bpy.context.view_layer.update()
    where = {p.name: p.matrix_world.translation.copy() for p in parts}
    out = optimise(objects, GameReadyOptions(lods=2))
    group = out[0]
    assert group.name == ("statue" if top == "empty" else "Head") and group.type == "EMPTY"
    assert sorted(o.name for o in out[1:]) == ["Body_LOD0", "Body_LOD1", "Head_LOD0", "Head_LOD1"]
    bpy.context.view_layer.update()
    for obj in out[1:]:
        assert obj.parent == group
        assert (obj.matrix_world.translation - where[obj.name.split("_")[0]]).length < 1e-5
        assert near(triangle_count([obj]), 960 if obj.name.endswith("0") else 480)


def test_the_panel_keeps_a_decimate_modifier_the_artist_can_tweak(model):
    out = optimise(model, GameReadyOptions(faces=BUDGET, lods=2), keep_modifiers=True)
    _group, lod0, lod1 = out
    assert triangle_count([lod0]) == 50000 and lod0.data == lod1.data  # the full mesh is kept
    assert near(evaluated_triangles(lod0), 5000) and near(evaluated_triangles(lod1), 2500)
    lod0.modifiers["Tripo3D Decimate"].ratio = 0.5
    assert near(evaluated_triangles(lod0), 25000)


def test_a_budget_above_the_model_changes_nothing(model):
    [mesh] = model
    optimise(model, GameReadyOptions(faces=80000))
    assert triangle_count([mesh]) == 50000 and not mesh.modifiers


def test_apply_transforms_bakes_them_into_the_mesh(model):
    [mesh] = model
    mesh.matrix_world = Matrix.Translation((3, -2, 1)) @ Matrix.Rotation(0.7, 4, "Z") @ Matrix.Scale(2.0, 4)
    bpy.context.view_layer.update()
    sample = range(0, len(mesh.data.vertices), 997)
    before = [mesh.matrix_world @ mesh.data.vertices[i].co for i in sample]
    optimise(model, GameReadyOptions(apply_transforms=True))
    bpy.context.view_layer.update()
    assert mesh.matrix_world == Matrix.Identity(4)
    after = [Vector(mesh.data.vertices[i].co) for i in sample]
    assert max((a - b).length for a, b in zip(after, before, strict=True)) < 1e-4  # nothing moved in the world


def test_apply_transforms_of_objects_sharing_a_mesh_gives_each_its_own(blender):
    bpy.ops.mesh.primitive_cube_add(location=(0, 0, 0))
    first = bpy.context.active_object
    second = first.copy()
    bpy.context.collection.objects.link(second)
    second.location = (5, 0, 0)
    optimise([first, second], GameReadyOptions(apply_transforms=True))
    assert first.data != second.data and not [m for m in bpy.data.meshes if m.users == 0]
    assert max(v.co.x for v in first.data.vertices) == pytest.approx(1.0)
    assert min(v.co.x for v in second.data.vertices) == pytest.approx(4.0)


def test_a_batch_after_the_panel_applies_the_kept_modifier_once(model):
    [mesh] = model
    optimise(model, GameReadyOptions(faces=BUDGET), keep_modifiers=True)
    optimise([mesh], GameReadyOptions(faces=BUDGET))
    assert not mesh.modifiers and near(triangle_count([mesh]), BUDGET)


def test_apply_transforms_of_a_mirror_keeps_the_faces_outward(blender):
    bpy.ops.mesh.primitive_uv_sphere_add()
    sphere = bpy.context.active_object
    sphere.scale = (-1.0, 1.0, 1.0)  # the world matrix follows once the view layer updates
    optimise([sphere], GameReadyOptions(apply_transforms=True))
    sphere.data.update()
    assert tuple(sphere.scale) == (1.0, 1.0, 1.0)
    assert all(p.normal.dot(p.center) > 0 for p in sphere.data.polygons)


# --- export, read back by Blender's own importers ----------------------------------------------

@pytest.mark.matrix
@pytest.mark.parametrize("fmt", ["fbx", "obj", "usd", "glb"])
def test_exported_model_opens_again_with_its_lods_uvs_and_textures(model, tmp_path, fmt):
    out = optimise(model, GameReadyOptions(faces=BUDGET, texture_size=LIMIT, lods=3))
    path = str(tmp_path / export_file_name("/in/robot.png", fmt))
    files = export(out, path, fmt)
    assert files[0] == path and all(os.path.isfile(f) for f in files)
    meshes = meshes_by_name(reopened(path, fmt))
    assert sorted(meshes) == ["robot_LOD0", "robot_LOD1", "robot_LOD2"]
    for name, expected in (("robot_LOD0", 5000), ("robot_LOD1", 2500), ("robot_LOD2", 1250)):
        assert near(triangle_count([meshes[name]]), expected), name
        assert len(meshes[name].data.uv_layers) >= 1, name
    images = model_images(meshes.values())
    assert images, "the textures travel with the model"
    for image in images:
        assert 0 < max(image.size) <= LIMIT, image.name


@pytest.mark.parametrize("fmt", ["fbx", "glb", "obj"])
def test_the_panels_kept_modifiers_are_applied_in_the_exported_file(model, tmp_path, fmt):
    out = optimise(model, GameReadyOptions(faces=BUDGET, lods=3), keep_modifiers=True)
    path = str(tmp_path / f"robot.{fmt}")
    export(out, path, fmt)
    meshes = meshes_by_name(reopened(path, fmt))
    assert sorted(meshes) == ["robot_LOD0", "robot_LOD1", "robot_LOD2"]
    for name, expected in (("robot_LOD0", 5000), ("robot_LOD1", 2500), ("robot_LOD2", 1250)):
        assert near(triangle_count([meshes[name]]), expected), name


@pytest.mark.matrix
def test_stl_is_one_solid_at_the_budget(model, tmp_path):
    out = optimise(model, GameReadyOptions(faces=BUDGET, lods=3))
    path = str(tmp_path / "robot.stl")
    assert export(out, path, "stl") == [path]
    [solid] = meshes_by_name(reopened(path, "stl")).values()
    assert near(triangle_count([solid]), BUDGET)


def test_export_leaves_the_selection_and_writes_the_textures_it_lists(model, tmp_path):
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    before = scene_fingerprint()
    files = export(model, str(tmp_path / "robot"), "obj")
    assert scene_fingerprint() == before and cube.select_get()
    names = sorted(os.path.basename(f) for f in files)
    assert names[-2:] == ["robot.mtl", "robot.obj"] or "robot.mtl" in names
    assert len([n for n in names if n.startswith("robot_") and n.endswith((".png", ".jpg"))]) == 3
    assert not [n for n in os.listdir(tmp_path) if n.startswith("Cube")]  # only the model was written
    with open(tmp_path / "robot.obj") as f:
        assert "o Cube" not in f.read()


def test_a_missing_exporter_is_one_sentence(model, tmp_path):
    import addon_utils

    addon_utils.disable("io_scene_fbx")
    try:
        with pytest.raises(ExportFailed) as caught:
            export(model, str(tmp_path / "robot.fbx"), "fbx")
    finally:
        addon_utils.enable("io_scene_fbx", default_set=True)
    assert "no FBX exporter" in caught.value.message and "another export format" in caught.value.message
    assert not (tmp_path / "robot.fbx").exists()


def test_an_export_folder_that_is_a_file_is_one_sentence(model, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    with pytest.raises(ExportFailed, match="Could not make the export folder"):
        export(model, str(blocker / "robot.glb"), "glb")


def test_lower_lods_are_told_apart():
    assert [is_lower_lod(n) for n in ("robot_LOD0", "robot_LOD1", "robot_LOD12.001", "robot", "LOD1")] == [
        False, True, True, False, False]


# --- extra gateway fields from the console ------------------------------------------------------

@pytest.mark.matrix
def test_console_extra_fields_reach_the_gateway_and_name_their_job(ui, image_files):  # noqa: F811
    job = api.generate(image_files["png"], extra={"face_limit": 8000, "pbr": False}, wait=True, timeout=60)
    assert job.state == State.IMPORTED, job.error
    [sent] = ui.jobs()
    assert sent["params"]["face_limit"] == 8000 and sent["params"]["pbr"] is False
    assert sent["params"]["texture"] == "standard"  # the documented fields keep their own options
    again = api.generate(image_files["png"], extra={"face_limit": 8000, "pbr": False}, wait=True, timeout=60)
    assert again.id == job.id and ui.stats()["submits"] == 1  # the same fields: never paid twice
    other = api.generate(image_files["png"], extra={"face_limit": 4000, "pbr": False}, wait=True, timeout=60)
    assert other.id != job.id and ui.stats()["submits"] == 2


def test_console_refuses_a_documented_field_as_extra(ui, image_files):  # noqa: F811
    with pytest.raises(E.BadOption, match="use --texture"):
        api.generate(image_files["png"], extra={"texture": "HD"})
    assert ui.stats()["submit_attempts"] == 0


def test_an_empty_documented_field_is_still_refused_beside_false_extras(ui, image_files):  # noqa: F811
    from tripo_addon.blender.engine.start import start_job

    params = {"texture": "", "texture_alignment": "original_image", "orientation": "default", "pbr": False}
    with pytest.raises(E.BadRequest, match="Other... has no value"):
        start_job(image_files["png"], params, ImportOptions(), origin="script")
    assert ui.stats()["submit_attempts"] == 0
