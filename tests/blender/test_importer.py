"""Import placement, provenance and failure handling with Blender's real glTF importer."""

from __future__ import annotations

import struct

import bpy
import pytest
from tools.glb_from_image import glb_from_image
from mathutils import Vector

from bhelpers import scene_fingerprint
from helpers import make_image
from tripo_addon.blender.imp.importer import PROVENANCE_PREFIX, import_glb
from tripo_addon.core.placement_options import ImportOptions
from tripo_addon.core.errors import ImportFailed


pytestmark = pytest.mark.matrix  # Blender's glTF importer differs between versions: run on every leg


@pytest.fixture
def glb(tmp_path):
    path = tmp_path / "model.glb"
    path.write_bytes(glb_from_image(make_image("PNG", size=(120, 80))))
    return str(path)


def world_bounds(objects):
    pts = [o.matrix_world @ Vector(c) for o in objects if o.type == "MESH" for c in o.bound_box]
    lo = Vector([min(p[i] for p in pts) for i in range(3)])
    hi = Vector([max(p[i] for p in pts) for i in range(3)])
    return lo, hi


def test_import_lands_in_named_collection_on_ground_at_cursor(blender, glb):
    bpy.context.scene.cursor.location = (2.0, -1.0, 0.5)
    result = import_glb(glb, "sunflower", ImportOptions(), {"request_id": "tripo3d-v2-5-413_abc", "source": "/x/sunflower.png"})
    coll = bpy.data.collections[result.collection]
    assert coll.name == "sunflower"
    assert coll.name in bpy.context.scene.collection.children
    objects = [bpy.data.objects[n] for n in result.objects]
    assert objects and all(coll in o.users_collection for o in objects)
    lo, hi = world_bounds(objects)
    assert lo.z == pytest.approx(0.5, abs=1e-4)  # resting on the cursor's height
    assert (lo.x + hi.x) / 2 == pytest.approx(2.0, abs=1e-4)
    assert (lo.y + hi.y) / 2 == pytest.approx(-1.0, abs=1e-4)
    top = bpy.data.objects[result.top]
    assert bpy.context.view_layer.objects.active == top
    assert sorted(o.name for o in bpy.context.selected_objects) == sorted(result.objects)
    # The origin sits at the base, so the object's location is the cursor.
    assert (top.matrix_world.translation - Vector((2.0, -1.0, 0.5))).length < 1e-4
    assert top[PROVENANCE_PREFIX + "request_id"] == "tripo3d-v2-5-413_abc"
    assert top[PROVENANCE_PREFIX + "source"] == "/x/sunflower.png"
    # The user's active collection is left as it was.
    assert bpy.context.view_layer.active_layer_collection.collection == bpy.context.scene.collection


def test_normalize_size_and_target_collection(blender, glb):
    result = import_glb(glb, "card", ImportOptions(normalize_size=2.5, collection="Generated"))
    objects = [bpy.data.objects[n] for n in result.objects]
    lo, hi = world_bounds(objects)
    assert max(hi - lo) == pytest.approx(2.5, rel=1e-4)
    assert bpy.data.collections[result.collection].name in bpy.data.collections["Generated"].children


def test_without_ground_or_cursor_keeps_model_coordinates(blender, glb):
    bpy.context.scene.cursor.location = (5, 5, 5)
    result = import_glb(glb, "raw", ImportOptions(at_cursor=False, rest_on_ground=False))
    lo, hi = world_bounds([bpy.data.objects[n] for n in result.objects])
    # Not moved to the cursor: the model stays around the world origin.
    assert (lo + hi).length / 2 < 1.0


def test_two_imports_get_two_collections(blender, glb):
    a = import_glb(glb, "same")
    b = import_glb(glb, "same")
    assert a.collection != b.collection
    assert set(a.objects).isdisjoint(b.objects)


def _bad_glbs(tmp_path, good: bytes) -> dict:
    bad = {}
    bad["truncated"] = good[: len(good) // 2]
    bad["not_glb"] = b"<html>not a model</html>" * 4
    json_bytes = b'{"asset": {"version": "2.0"}, "scenes": [{"nodes": [7]}], "nodes": []}  '
    body = struct.pack("<II", len(json_bytes), 0x4E4F534A) + json_bytes
    bad["broken_json"] = b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body
    garbage = b"{ this is not json }"
    garbage += b" " * (-len(garbage) % 4)
    body = struct.pack("<II", len(garbage), 0x4E4F534A) + garbage
    bad["garbage_json"] = b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body
    paths = {}
    for name, data in bad.items():
        p = tmp_path / f"{name}.glb"
        p.write_bytes(data)
        paths[name] = str(p)
    return paths


@pytest.mark.parametrize("kind", ["truncated", "not_glb", "broken_json", "garbage_json"])
def test_rejected_glb_leaves_scene_unchanged(blender, glb, tmp_path, kind):
    # A scene with something in it, a selection and an active object.
    ok = import_glb(glb, "existing")
    before = scene_fingerprint()
    path = _bad_glbs(tmp_path, open(glb, "rb").read())[kind]
    with pytest.raises(ImportFailed) as info:
        import_glb(path, "broken")
    message = info.value.message
    assert "broken" in message and "Traceback" not in message
    assert len(message.splitlines()) == 1
    assert scene_fingerprint() == before
    assert ok.collection in bpy.data.collections


def _glb_with(doc: dict) -> bytes:
    import json
    import struct

    body = json.dumps(doc).encode()
    body += b" " * (-len(body) % 4)
    chunk = struct.pack("<II", len(body), 0x4E4F534A) + body
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunk)) + chunk


def test_skinned_or_unreadable_models_take_the_operator_path(tmp_path):
    """Bones need Edit mode, an operator: such models (and files whose
    description cannot be read) are imported by the operator, not the entry point."""
    from tripo_addon.blender.imp.gltf_fast_path import has_skins as _has_skins

    cases = {"plain": ({"asset": {"version": "2.0"}}, False),
             "skinned": ({"asset": {"version": "2.0"}, "skins": [{"joints": [0]}]}, True)}
    for name, (doc, skinned) in cases.items():
        path = tmp_path / f"{name}.glb"
        path.write_bytes(_glb_with(doc))
        assert _has_skins(str(path)) is skinned, name
    broken = tmp_path / "broken.glb"
    broken.write_bytes(_glb_with({"asset": {}})[:-3] + b"{{{")
    short = tmp_path / "short.glb"
    short.write_bytes(b"glTF")
    assert _has_skins(str(broken)) and _has_skins(str(short))


def _view3d_spaces():
    return [a.spaces.active for w in bpy.context.window_manager.windows for a in w.screen.areas
            if a.type == "VIEW_3D"]


def test_frame_view_centres_each_3d_viewport_on_the_model_without_an_operator(blender, glb, monkeypatch):
    from tripo_addon.blender.imp import viewport

    spaces = _view3d_spaces()
    assert spaces, "the bpy module's startup file has a 3D Viewport"
    for space in spaces:
        space.region_3d.view_perspective = "PERSP"
        space.region_3d.view_location = (50.0, 50.0, 50.0)
        space.region_3d.view_distance = 300.0
    calls = []
    monkeypatch.setattr(bpy.ops.view3d, "view_selected", lambda *a, **k: calls.append(a) or {"FINISHED"},
                        raising=False)
    bpy.context.scene.cursor.location = (3.0, 1.0, 0.0)
    result = import_glb(glb, "framed", ImportOptions(frame_view=True))
    lo, hi = world_bounds([bpy.data.objects[n] for n in result.objects])
    for space in spaces:
        r3d = space.region_3d
        assert (r3d.view_location - (lo + hi) / 2).length < 1e-4
        expected = viewport.fit_distance((hi - lo).length / 2, space.lens)
        assert abs(r3d.view_distance - expected) < 1e-3 and r3d.view_distance < 300.0
    assert calls == []  # no operator call: it would need a context override


def test_frame_view_leaves_a_camera_view_alone(blender, glb):
    spaces = _view3d_spaces()
    for space in spaces:
        space.region_3d.view_perspective = "CAMERA"
        space.region_3d.view_location = (50.0, 50.0, 50.0)
    import_glb(glb, "shot", ImportOptions(frame_view=True))
    for space in spaces:
        assert tuple(space.region_3d.view_location) == pytest.approx((50.0, 50.0, 50.0))
        space.region_3d.view_perspective = "PERSP"
