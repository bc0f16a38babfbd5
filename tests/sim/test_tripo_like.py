"""The simulator's Tripo-like model (SimConfig(model_style="tripo")): a GLB
shaped like real Tripo3D v2.5 output, checked by parsing it, by Khronos'
glTF-Validator and by Blender's own glTF importer.

The real Tripo files these figures come from are never read here
(tools/compare_tripo_like.py compares against them by hand)."""
from __future__ import annotations

import array
import base64
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw

from tools.gateway_sim import SUBMIT_PATH, GatewaySimulator, SimConfig
from tools.glb_tripo_like import cache_info, tripo_like_glb

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"

KEY = "sim-key"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Same pinned validator and install place as tests/sim/test_gateway_sim.py.
GLTF_VALIDATOR_VERSION = "2.0.0-dev.3.10"
NODE_PREFIX = REPO / ".cache" / "node"
VALIDATOR_DIR = NODE_PREFIX / "node_modules" / "gltf-validator"


def picture(size=(300, 400), color=(200, 60, 40)) -> bytes:
    im = Image.new("RGB", size, (30, 60, 90))
    d = ImageDraw.Draw(im)
    d.ellipse((size[0] // 6, size[1] // 6, size[0] * 5 // 6, size[1] * 5 // 6), fill=color)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def run_job(sim: GatewaySimulator, image: bytes) -> bytes:
    """Submit, poll and download one job over HTTP, as a client would."""
    uri = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    h = {"Ocp-Apim-Subscription-Key": KEY}
    r = requests.post(sim.url + SUBMIT_PATH, json={"image_url": uri}, headers=h, timeout=10)
    assert r.status_code == 202, r.text
    end = time.time() + 60
    while True:
        st = requests.get(r.json()["polling_url"], headers=h, timeout=10).json()
        if st["status"] == "COMPLETED":
            break
        assert st["status"] in ("QUEUED", "PROCESSING") and time.time() < end, st
        time.sleep(0.05)
    got = requests.get(st["output"]["media_url"][0], timeout=60)
    assert got.status_code == 200 and got.headers["Content-Type"] == "model/gltf-binary"
    return got.content


def parse(glb: bytes):
    magic, version, length = struct.unpack_from("<4sII", glb, 0)
    assert (magic, version, length) == (b"glTF", 2, len(glb))
    jlen, jtype = struct.unpack_from("<I4s", glb, 12)
    assert jtype == b"JSON"
    gltf = json.loads(glb[20:20 + jlen])
    blen, btype = struct.unpack_from("<I4s", glb, 20 + jlen)
    assert btype == b"BIN\x00"
    return gltf, glb[28 + jlen:28 + jlen + blen]


def read_accessor(gltf, binc, index, code):
    acc = gltf["accessors"][index]
    bv = gltf["bufferViews"][acc["bufferView"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3}[acc["type"]]
    start = bv.get("byteOffset", 0) + acc.get("byteOffset", 0)
    out = array.array(code)
    out.frombytes(binc[start:start + acc["count"] * width * 4])
    return out


@pytest.fixture(scope="module")
def sim():
    with GatewaySimulator(SimConfig(api_key=KEY, queue_seconds=0.05, processing_seconds=0.1,
                                    model_style="tripo")) as s:
        yield s


@pytest.fixture(scope="module")
def tripo_glb(sim, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tripo") / "tripo_like.glb"
    path.write_bytes(run_job(sim, picture()))
    return path


def test_structure_matches_tripo_output(tripo_glb):
    gltf, binc = parse(tripo_glb.read_bytes())
    assert "extensionsUsed" not in gltf and "extensionsRequired" not in gltf
    assert gltf["scenes"][gltf["scene"]]["nodes"] == [0]
    (node,) = gltf["nodes"]
    assert re.fullmatch(f"tripo_node_{UUID}", node["name"])
    assert not {"translation", "rotation", "scale", "matrix", "children"} & set(node)
    (mesh,) = gltf["meshes"]
    (prim,) = mesh["primitives"]
    assert prim.get("mode", 4) == 4 and "extensions" not in prim
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0"}
    acc = gltf["accessors"]
    for name, typ in (("POSITION", "VEC3"), ("NORMAL", "VEC3"), ("TEXCOORD_0", "VEC2")):
        a = acc[prim["attributes"][name]]
        assert (a["componentType"], a["type"], a.get("normalized", False)) == (5126, typ, False)
    idx = acc[prim["indices"]]
    assert idx["componentType"] == 5125 and idx["type"] == "SCALAR"
    assert 45_000 <= idx["count"] // 3 <= 55_000 and idx["count"] % 3 == 0
    assert not any("extensions" in bv for bv in gltf["bufferViews"])
    assert len(gltf["buffers"]) == 1 and "uri" not in gltf["buffers"][0]


def test_one_pbr_material_with_three_4096_jpeg_textures(tripo_glb):
    gltf, binc = parse(tripo_glb.read_bytes())
    (mat,) = gltf["materials"]
    assert re.fullmatch(f"tripo_material_{UUID}", mat["name"])
    pbr = mat["pbrMetallicRoughness"]
    slots = {"Color": pbr["baseColorTexture"]["index"], "ORM": pbr["metallicRoughnessTexture"]["index"],
             "NormalGL": mat["normalTexture"]["index"]}
    assert len(set(slots.values())) == 3 and len(gltf["images"]) == 3
    means = {}
    for prefix, tex in slots.items():
        image = gltf["images"][gltf["textures"][tex]["source"]]
        assert re.fullmatch(f"{prefix}_{UUID}", image["name"]) and image["mimeType"] == "image/jpeg"
        bv = gltf["bufferViews"][image["bufferView"]]
        data = binc[bv.get("byteOffset", 0):bv.get("byteOffset", 0) + bv["byteLength"]]
        im = Image.open(io.BytesIO(data))
        assert (im.format, im.size, im.mode) == ("JPEG", (4096, 4096), "RGB")
        means[prefix] = [sum(i * n for i, n in enumerate(im.reduce(64).getchannel(c).histogram())) / 4096
                         for c in range(3)]
    # ORM: no occlusion (red full); a normal map is mostly "straight out": blue high, red/green mid.
    assert means["ORM"][0] > 250
    r, g, b = means["NormalGL"]
    assert abs(r - 128) < 12 and abs(g - 128) < 12 and b > 240


def test_y_up_centred_095_with_outward_unit_normals(tripo_glb):
    gltf, binc = parse(tripo_glb.read_bytes())
    prim = gltf["meshes"][0]["primitives"][0]
    pos = read_accessor(gltf, binc, prim["attributes"]["POSITION"], "f")
    nrm = read_accessor(gltf, binc, prim["attributes"]["NORMAL"], "f")
    idx = read_accessor(gltf, binc, prim["indices"], "I")
    lo = [min(pos[k::3]) for k in range(3)]
    hi = [max(pos[k::3]) for k in range(3)]
    acc = gltf["accessors"][prim["attributes"]["POSITION"]]
    assert acc["min"] == pytest.approx(lo) and acc["max"] == pytest.approx(hi)
    size = [hi[k] - lo[k] for k in range(3)]
    assert max(size) == pytest.approx(0.95, abs=0.01) and size.index(max(size)) == 1  # tallest along +Y
    for k in range(3):
        assert abs(lo[k] + hi[k]) / 2 < 0.01      # box centred on the origin, not grounded
    # A flat base at the bottom (-Y), as Tripo's models stand.
    assert sum(1 for y in pos[1::3] if y - lo[1] < 1e-4) > 100
    # Unit normals; a positive signed volume means triangles wind outward (CCW seen from outside).
    assert all(abs(nrm[i] ** 2 + nrm[i + 1] ** 2 + nrm[i + 2] ** 2 - 1) < 1e-3 for i in range(0, len(nrm), 3))
    vol = 0.0
    for t in range(0, len(idx), 3):
        a, b, c = (idx[t + m] * 3 for m in range(3))
        vol += (pos[a] * (pos[b + 1] * pos[c + 2] - pos[b + 2] * pos[c + 1])
                - pos[a + 1] * (pos[b] * pos[c + 2] - pos[b + 2] * pos[c])
                + pos[a + 2] * (pos[b] * pos[c + 1] - pos[b + 1] * pos[c])) / 6
    assert 0.05 < vol < 0.95 * 0.95 * 0.95


def test_switch_is_per_job_and_default_stays_relief(sim, tripo_glb):
    sim.configure(model_style="relief")
    try:
        gltf, _ = parse(run_job(sim, picture(color=(20, 200, 20))))
        assert gltf["nodes"][0]["name"] == "ImageRelief"
    finally:
        sim.configure(model_style="tripo")
    assert SimConfig().model_style == "relief"
    with pytest.raises(ValueError, match="model_style"):
        sim.configure(model_style="draco")
    styles = {j["model_style"] for j in sim.jobs()}
    assert styles == {"tripo", "relief"}


def test_built_once_per_picture_and_fast_enough():
    image = picture(color=(10, 10, 230))
    t0 = time.perf_counter()
    first = tripo_like_glb(image)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = tripo_like_glb(image)
    cached = time.perf_counter() - t0
    assert again is first and cached < 0.01
    assert built < 15, f"building took {built:.1f} s"
    assert cache_info()["entries"] >= 1
    other = tripo_like_glb(picture(color=(240, 240, 20)))
    assert other != first and parse(other)[0]["nodes"][0]["name"] != parse(first)[0]["nodes"][0]["name"]


def test_khronos_validator_finds_only_what_real_tripo_files_have(tripo_glb):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: it is required to run Khronos' glTF-Validator")
    if not (VALIDATOR_DIR / "package.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: it is required to install gltf-validator")
        proc = subprocess.run([npm, "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund",
                               "--loglevel=error", f"gltf-validator@{GLTF_VALIDATOR_VERSION}"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    env = {k: v for k, v in os.environ.items() if k != "GLTF_VALIDATOR_DIR"}
    proc = subprocess.run([node, str(TOOLS / "validate_gltf.mjs"), str(tripo_glb), "--full"],
                          capture_output=True, text=True, timeout=180, env=env)
    report = json.loads(proc.stdout)
    assert report["numErrors"] == 0, report["messages"]
    # Real Tripo files carry exactly this one warning: a normal map without TANGENT.
    warnings = {m["code"] for m in report["messages"] if m["severity"] == 1}
    assert warnings <= {"MESH_PRIMITIVE_GENERATED_TANGENT_SPACE"}, report["messages"]
    images = [r["image"] for r in report["info"]["resources"] if "image" in r]
    assert [(i["width"], i["height"], i["format"]) for i in images] == [(4096, 4096, "rgb")] * 3


BLENDER_IMPORT = r"""
import json, sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
assert bpy.ops.import_scene.gltf(filepath=sys.argv[1]) == {"FINISHED"}
objs = [o for o in bpy.data.objects]
out = {"objects": [(o.name, o.type) for o in objs]}
o = objs[0]
out["polys"] = len(o.data.polygons)
out["dimensions"] = list(o.dimensions)
out["location"] = list(o.location)
corners = [o.matrix_world @ __import__("mathutils").Vector(c) for c in o.bound_box]
out["centre"] = [sum(c[k] for c in corners) / 8 for k in range(3)]
mat = o.active_material
nodes = mat.node_tree.nodes
out["images"] = sorted((i.size[0], i.size[1]) for i in bpy.data.images)
bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
out["linked"] = sorted(s.name for s in bsdf.inputs if s.is_linked)
out["normal_map"] = any(n.type == "NORMAL_MAP" for n in nodes)
print("JSON" + json.dumps(out))
"""


def test_blender_imports_it(tripo_glb, tmp_path):
    import importlib.util

    if importlib.util.find_spec("bpy") is None:  # found without importing it into this process
        pytest.skip("needs Blender's bpy module (scripts/test.sh installs it)")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", BLENDER_IMPORT, str(tripo_glb)], capture_output=True,
                          text=True, timeout=300, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert proc.returncode == 0 and lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = json.loads(lines[0][4:])
    assert [t for _, t in out["objects"]] == ["MESH"]
    assert re.fullmatch(f"tripo_node_{UUID}", out["objects"][0][0])
    assert out["polys"] == 50_000
    # glTF +Y up becomes Blender's +Z up: 0.95 m tall, centred on the origin.
    assert out["dimensions"][2] == pytest.approx(0.95, abs=0.01)
    assert max(out["dimensions"][:2]) < 0.95
    assert out["location"] == [0, 0, 0]
    assert all(abs(c) < 0.01 for c in out["centre"])
    assert out["images"] == [[4096, 4096]] * 3
    assert {"Base Color", "Metallic", "Roughness", "Normal"} <= set(out["linked"])
    assert out["normal_map"]
