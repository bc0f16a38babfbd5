"""Plain helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import io

from tripo_addon.core.net.gateway import RetryPolicy

SIM_KEY = "sim-key-0123456789"


def fast_retry(attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.02, max_delay=0.1, max_retry_after=0.2, submit_attempts=4)


def make_image(fmt: str = "PNG", size=(96, 64), color=(200, 80, 40)) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", size, (30, 60, 90))
    draw = ImageDraw.Draw(im)
    draw.ellipse((size[0] // 5, size[1] // 5, size[0] * 4 // 5, size[1] * 4 // 5), fill=color)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


READ_BACK = r"""
import bpy, json, os, sys
out = {}
for path in sys.argv[1:]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".fbx":
        bpy.ops.import_scene.fbx(filepath=path)
    elif ext in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif ext == ".obj":
        bpy.ops.wm.obj_import(filepath=path)
    elif ext in (".usd", ".usdc", ".usda", ".usdz"):
        bpy.ops.wm.usd_import(filepath=path)
    elif ext == ".stl":
        bpy.ops.wm.stl_import(filepath=path)
    meshes = {}
    for obj in bpy.data.objects:
        if obj.type == "MESH":
            meshes[obj.name] = {"triangles": sum(len(p.vertices) - 2 for p in obj.data.polygons),
                                "uvs": len(obj.data.uv_layers)}
    images = [list(im.size) for im in bpy.data.images if im.type == "IMAGE"]
    out[path] = {"meshes": meshes, "images": images}
print("JSON" + json.dumps(out))
"""


def read_back(paths, timeout: float = 600) -> dict:
    """Exported files opened again by Blender's own importers, in a fresh process: for each,
    its meshes (triangles, UV layers) and the pixel sizes of its images."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", READ_BACK, *map(str, paths)], capture_output=True, text=True,
                          timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[0][4:])
