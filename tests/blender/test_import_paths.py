"""The two ways into Blender's glTF importer, on every Blender of the matrix:
the public operator (the contract) and the importer's own entry point (a
fast path chosen by feature detection). Whatever breaks the fast path, the
operator imports the model before a job can fail."""

from __future__ import annotations

import os

import bpy
import pytest
from tools.glb_from_image import glb_from_image
from tools.glb_tripo_like import tripo_like_glb

from bhelpers import scene_fingerprint
from helpers import SIM_KEY, fast_retry, make_image
from tripo_addon.blender.imp import gltf_fast_path
from tripo_addon.core.placement_options import ImportOptions
from tripo_addon.blender.imp.importer import import_glb
from tripo_addon.core.errors import ImportFailed

pytestmark = pytest.mark.matrix

OPERATOR_ONLY = bpy.app.version < (4, 4, 0)  # 4.2's importer always selects through an operator


@pytest.fixture(autouse=True)
def _fresh_fast_path():
    gltf_fast_path.reset()
    yield
    gltf_fast_path.reset()


@pytest.fixture
def glb(tmp_path):
    path = tmp_path / "model.glb"
    path.write_bytes(tripo_like_glb(make_image("PNG", size=(96, 96)), texture_size=256))
    return str(path)


def _bug_entries(user_res) -> list[str]:
    log = user_res / "extensions" / ".user" / "user_default" / "tripo3d" / "logs" / "bugs.log"
    found = [p for p in user_res.rglob("bugs.log")]
    text = "".join(p.read_text() for p in found) if found else (log.read_text() if log.exists() else "")
    return [e for e in text.split("--- ") if e.strip()]


def _model(result) -> dict:
    """What an import made, in terms that do not depend on the path taken."""
    objects = [bpy.data.objects[n] for n in result.objects]
    meshes = [o.data for o in objects if o.type == "MESH"]
    images = sorted(tuple(i.size) for m in meshes for slot in m.materials if slot
                    for n in slot.node_tree.nodes if n.type == "TEX_IMAGE" and n.image for i in [n.image])
    coll = bpy.data.collections[result.collection]
    return {
        "collections under it": sorted(c.name for c in coll.children),
        "types": sorted(o.type for o in objects),
        "vertices": sum(len(m.vertices) for m in meshes),
        "polygons": sum(len(m.polygons) for m in meshes),
        "uv layers": sorted(len(m.uv_layers) for m in meshes),
        "materials": sum(len(m.materials) for m in meshes),
        "images": images,
        "top at": tuple(round(v, 5) for v in bpy.data.objects[result.top].matrix_world.translation),
    }


def test_the_fast_path_is_chosen_where_it_works_and_lands_what_the_operator_lands(blender, glb, monkeypatch):
    used = []
    real = gltf_fast_path.entry_point

    def spy(path):
        call = real(path)
        used.append(call is not None)
        return call

    monkeypatch.setattr(gltf_fast_path, "entry_point", spy)
    fast = import_glb(glb, "fast")
    assert used == [not OPERATOR_ONLY]
    monkeypatch.setattr(gltf_fast_path, "entry_point", lambda _path: None)
    operator = import_glb(glb, "operator")
    assert _model(fast) == _model(operator)
    assert _model(fast)["vertices"] > 20000 and _model(fast)["images"] == [(256, 256)] * 3
    # The model lands once, in its own collection named after the image, whatever
    # import_scene_as_collection defaults to on this Blender.
    for result, name in ((fast, "fast"), (operator, "operator")):
        assert result.collection == name and _model(result)["collections under it"] == []
        assert {c.name for o in result.objects for c in bpy.data.objects[o].users_collection} == {name}
    assert [s.name for s in bpy.data.scenes] == ["Scene"]  # no scratch scene left behind
    assert gltf_fast_path.broken_reason() == ""


def test_a_fast_path_that_breaks_falls_back_to_the_operator_and_is_logged_once(blender, glb, user_res, monkeypatch):
    calls = []

    def broken_entry(_operator, _path, _settings):
        calls.append(1)
        bpy.data.meshes.new("half made")  # a partial import, as a moved internal would leave
        bpy.context.scene.collection.objects.link(bpy.data.objects.new("half made", None))
        raise AttributeError("'NoneType' object has no attribute 'collection'")

    monkeypatch.setattr(gltf_fast_path, "_find_entry", lambda: broken_entry)
    before = {k: len(getattr(bpy.data, k)) for k in ("objects", "meshes", "collections", "scenes")}
    first = import_glb(glb, "chair")
    if OPERATOR_ONLY:  # this importer always selects through an operator: the entry point is never tried
        assert calls == [] and first.objects and _bug_entries(user_res) == []
        assert gltf_fast_path.broken_reason() == ""
        return
    assert calls == [1] and first.collection == "chair" and first.objects
    assert "half made" not in bpy.data.objects and "half made" not in bpy.data.meshes
    assert "AttributeError" in gltf_fast_path.broken_reason()
    second = import_glb(glb, "chair")  # the rest of the session uses the operator straight away
    assert calls == [1] and second.objects
    assert len(_bug_entries(user_res)) == 1 and "fast path" in _bug_entries(user_res)[0]
    assert len(bpy.data.scenes) == before["scenes"]
    assert len(bpy.data.collections) == before["collections"] + 2


def test_a_model_the_importer_refuses_fails_in_the_operators_words_and_keeps_the_fast_path(blender, glb, tmp_path):
    import struct

    import_glb(glb, "existing")
    before = scene_fingerprint()
    doc = b'{"asset": {"version": "2.0"}, "scenes": [{"nodes": [7]}], "nodes": []}  '
    body = struct.pack("<II", len(doc), 0x4E4F534A) + doc
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body)
    with pytest.raises(ImportFailed) as info:
        import_glb(str(broken), "broken")
    assert "glTF importer rejected the model for broken" in info.value.message
    assert scene_fingerprint() == before
    assert gltf_fast_path.broken_reason() == ""  # the model was at fault, not the path


def test_the_simulators_model_imports_through_both_paths(blender, tmp_path, monkeypatch):
    path = tmp_path / "relief.glb"
    path.write_bytes(glb_from_image(make_image("PNG", size=(64, 48))))
    fast = import_glb(str(path), "relief", ImportOptions())
    monkeypatch.setattr(gltf_fast_path, "entry_point", lambda _path: None)
    operator = import_glb(str(path), "relief_op", ImportOptions())
    assert _model(fast)["vertices"] == _model(operator)["vertices"] > 0


# --- a failed import is never a lost payment ----------------------------------------------


@pytest.fixture
def paid(blender, sim, monkeypatch):
    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    return sim


def _settings():
    from tripo_addon.blender import settings as settings_mod

    s = settings_mod.current()
    s.poll_interval = 0.05
    return s


def _break_placement(monkeypatch):
    from tripo_addon.blender.imp import importer

    def broken(*_args, **_kwargs):
        raise AttributeError("'NoneType' object has no attribute 'collection'")

    monkeypatch.setattr(importer, "_place", broken)


def test_an_import_the_addon_broke_imports_again_and_on_a_rerun_without_a_new_charge(paid, image_files, user_res,
                                                                                      monkeypatch):
    from tripo_addon.blender.engine.batch import generate_blocking
    from tripo_addon.blender.user_data import journal
    from tripo_addon.core.jobs import State

    with monkeypatch.context() as m:
        _break_placement(m)
        before = scene_fingerprint()
        failed = generate_blocking(image_files["png"], settings=_settings(), retry=fast_retry())
        assert not failed.ok and failed.job.state == State.IMPORT_FAILED
        assert scene_fingerprint() == before
    message = failed.job.error
    assert "internal error (AttributeError)" in message and "without a new charge" in message
    assert "Traceback" not in message and "bugs.log" in message
    assert any("AttributeError" in e for e in _bug_entries(user_res))
    assert os.path.isfile(failed.job.glb_path) and journal().load(failed.job.id).state == State.IMPORT_FAILED
    # The same batch again: the kept model is imported, nothing is submitted.
    again = generate_blocking(image_files["png"], settings=_settings(), retry=fast_retry())
    assert again.ok and again.job.id == failed.job.id
    assert any("generated before" in n for n in again.notes)
    assert paid.stats()["submits"] == 1


def test_import_again_imports_a_job_the_addon_failed_to_import(paid, image_files, monkeypatch):
    import tripo_addon
    from tripo_addon import api
    from tripo_addon.blender.engine.manager import manager
    from tripo_addon.core.jobs import State

    tripo_addon.register()
    try:
        with monkeypatch.context() as m:
            _break_placement(m)
            job = api.generate(image_files["jpg"], wait=True, timeout=60)
        assert job.state == State.IMPORT_FAILED
        assert bpy.ops.tripo3d.import_job(job_id=job.id) == {"FINISHED"}
        job = manager.jobs[job.id]
        assert job.state == State.IMPORTED and job.objects and all(n in bpy.data.objects for n in job.objects)
        assert paid.stats()["submits"] == 1
    finally:
        manager.shutdown(timeout=2)
        tripo_addon.unregister()


# --- models the importer treats differently on some Blenders ---------------------------------


def _two_scene_glb(tmp_path) -> str:
    """A Tripo-like model with a second glTF scene holding its own node."""
    import json
    import struct

    data = tripo_like_glb(make_image("PNG", size=(64, 64)), texture_size=128)
    length = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20:20 + length])
    rest = data[20 + length:]
    doc["nodes"].append({"name": "second_scene_node", "mesh": 0, "translation": [2, 0, 0]})
    doc["scenes"] = [{"name": "Main", "nodes": [0]}, {"name": "Other", "nodes": [len(doc["nodes"]) - 1]}]
    doc["scene"] = 0
    chunk = json.dumps(doc).encode()
    chunk += b" " * (-len(chunk) % 4)
    body = struct.pack("<II", len(chunk), 0x4E4F534A) + chunk + rest
    path = tmp_path / "two_scenes.glb"
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    return str(path)


@pytest.mark.parametrize("path_taken", ["fast", "operator"])
def test_a_model_with_two_gltf_scenes_lands_once_and_leaves_no_scene_behind(blender, tmp_path, monkeypatch,
                                                                           path_taken):
    if path_taken == "operator":
        monkeypatch.setattr(gltf_fast_path, "entry_point", lambda _path: None)
    result = import_glb(_two_scene_glb(tmp_path), "two_scenes", provenance={"request_id": "r1"})
    assert [s.name for s in bpy.data.scenes] == ["Scene"]  # the importer's extra scene is gone
    coll = bpy.data.collections[result.collection]
    assert coll.name in bpy.context.scene.collection.children
    layer_objects = bpy.context.view_layer.objects
    selected = {o.name for o in bpy.context.selected_objects}
    assert selected and selected <= {n for n in result.objects if n in layer_objects}
    assert bpy.data.objects[result.top]["tripo3d_request_id"] == "r1"
    assert gltf_fast_path.broken_reason() == ""


def test_the_importers_own_words_replace_its_location_line():
    from tripo_addon.blender.imp.importer import _importer_reason

    text = ("Error: Python: Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n"
            "IndexError: list index out of range\nLocation: /opt/blender/scripts/modules/bpy/ops.py:109\n")
    assert _importer_reason(RuntimeError(text)) == "IndexError: list index out of range"
