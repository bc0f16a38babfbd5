"""The panel's game-ready side in real Blender, used as an artist would (bpy.ops.tripo3d...):
the Optimise subpanel's choice applied on import as a Decimate modifier, and Export on a finished job."""

from __future__ import annotations

import bpy
import pytest
from helpers import read_back
from test_ui_jobs import addon, ui  # noqa: F401  (fixtures)

from tripo_addon import api
from tripo_addon.blender.engine.manager import manager
from tripo_addon.core.jobs import State


def triangles(obj, evaluated: bool) -> int:
    if evaluated:
        obj = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = obj.to_mesh() if evaluated else obj.data
    try:
        return sum(len(p.vertices) - 2 for p in mesh.polygons)
    finally:
        if evaluated:
            obj.to_mesh_clear()


def optimised_import(ui, image, **choice):  # noqa: F811
    ui.configure(model_style="tripo")
    s = bpy.context.scene.tripo3d
    s.optimise = True
    for name, value in choice.items():
        setattr(s, name, value)
    try:
        assert bpy.ops.tripo3d.generate(source=image) == {"FINISHED"}
        (job,) = manager.jobs.values()
        job = api.wait(job.id, timeout=120)
    finally:
        s.optimise = False
    assert job.state == State.IMPORTED, job.error
    return job


def test_optimise_on_import_keeps_a_decimate_modifier_to_tweak_and_export_applies_it(ui, image_files,  # noqa: F811
                                                                                      tmp_path):
    job = optimised_import(ui, image_files["png"], faces=5000, texture_size="1024", lods=1)
    meshes = [bpy.data.objects[n] for n in job.objects if bpy.data.objects[n].type == "MESH"]
    assert meshes
    for obj in meshes:
        assert [m.type for m in obj.modifiers] == ["DECIMATE"]
    assert sum(triangles(o, evaluated=False) for o in meshes) == 50_000      # the mesh itself is untouched
    assert abs(sum(triangles(o, evaluated=True) for o in meshes) - 5000) <= 250
    sizes = [tuple(im.size) for im in bpy.data.images if im.type == "IMAGE"]
    assert sizes and max(max(s) for s in sizes) <= 1024

    # The artist tweaks the modifier; Export writes what they see.
    for obj in meshes:
        obj.modifiers[0].ratio *= 0.5
    target = tmp_path / "exports" / "prop.fbx"
    assert bpy.ops.tripo3d.export_job(job_id=job.id, filepath=str(target), export_format="fbx") == {"FINISHED"}
    [model] = read_back([target]).values()
    written = sum(m["triangles"] for m in model["meshes"].values())
    assert abs(written - 2500) <= 200, written
    assert all(m["uvs"] for m in model["meshes"].values())
    assert model["images"] and max(max(s) for s in model["images"]) <= 1024


def test_optimise_with_lods_names_them_for_the_engines(ui, image_files, tmp_path):  # noqa: F811
    job = optimised_import(ui, image_files["jpg"], faces=4000, texture_size="0", lods=3)
    names = sorted(n for n in job.objects if bpy.data.objects[n].type == "MESH")
    assert [n.rsplit("_", 1)[1] for n in names] == ["LOD0", "LOD1", "LOD2"], job.objects
    counts = [triangles(bpy.data.objects[n], evaluated=True) for n in names]
    assert abs(counts[0] - 4000) <= 200 and counts[0] > counts[1] > counts[2]
    # A folder as the file: the model is named after its image there.
    assert bpy.ops.tripo3d.export_job(job_id=job.id, filepath=str(tmp_path) + "/", export_format="glb") == \
        {"FINISHED"}
    [model] = read_back([tmp_path / "picture_jpg.glb"]).values()
    assert sorted(n.rsplit("_", 1)[1] for n in model["meshes"]) == ["LOD0", "LOD1", "LOD2"]


def test_export_of_a_model_no_longer_in_the_file_says_so(ui, image_files, tmp_path):  # noqa: F811
    job = api.generate(image_files["webp"], wait=True, timeout=60)
    assert job.state == State.IMPORTED and not any(o.modifiers for o in bpy.data.objects)  # Optimise is off
    for name in job.objects:
        bpy.data.objects.remove(bpy.data.objects[name])
    with pytest.raises(RuntimeError, match="not in this file; import it again"):
        bpy.ops.tripo3d.export_job(job_id=job.id, filepath=str(tmp_path / "gone.fbx"), export_format="fbx")
    assert not (tmp_path / "gone.fbx").exists()


class _Layout:
    """Stands in for a UILayout: records what draw() shows, and checks each property and
    operator it names really exists (a misspelt name would only show as a red box in a window)."""

    use_property_split = use_property_decorate = enabled = False

    def __init__(self, seen: list):
        self.seen = seen

    def prop(self, data, name, **_kw):
        assert name in data.bl_rna.properties, name
        self.seen.append(("prop", name))
        return self

    def operator(self, idname, **_kw):
        module, name = idname.split(".")
        getattr(getattr(bpy.ops, module), name).get_rna_type()  # KeyError if no such operator
        self.seen.append(("operator", idname))
        return type("Props", (), {})()

    def __getattr__(self, _name):
        return lambda *a, **kw: self


def test_the_subpanel_and_the_export_button_draw_real_properties_and_operators(ui, image_files):  # noqa: F811
    from tripo_addon.blender.ui.job_list import job_row_status
    from tripo_addon.blender.ui.optimise_panel import TRIPO3D_PT_optimise_base
    from tripo_addon.blender.ui.panels import TRIPO3D_PT_jobs_base

    seen: list = []
    panel = type("Panel", (), {"layout": _Layout(seen)})()
    TRIPO3D_PT_optimise_base.draw_header(panel, bpy.context)
    TRIPO3D_PT_optimise_base.draw(panel, bpy.context)
    assert [n for kind, n in seen if kind == "prop"] == ["optimise", "faces", "texture_size", "lods",
                                                          "export_format", "export_dir"]
    job = api.generate(image_files["png"], wait=True, timeout=60)
    assert job.state == State.IMPORTED
    seen.clear()
    TRIPO3D_PT_jobs_base.draw_actions(_Layout(seen), job, job_row_status(job))
    assert ("operator", "tripo3d.export_job") in seen
