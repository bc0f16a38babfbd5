"""Write a small Draco-compressed GLB with Blender's own glTF exporter.

    .venv/bin/python -m tools.draco_sphere OUT.glb

Exits 1 when this Blender wrote no Draco (the PyPI bpy 4.2, 5.2 and 5.3 wheels
lack a loadable Draco library: their exporter writes a plain GLB). The Draco
test (tests/blender/test_prerequisites.py) makes its model with this; the
bootstrap of the chroot legs, where no such Blender runs, makes one beforehand.
"""

from __future__ import annotations

import json
import sys


def is_draco(path: str) -> bool:
    with open(path, "rb") as fh:
        data = fh.read()
    length = int.from_bytes(data[12:16], "little")
    return "KHR_draco_mesh_compression" in json.loads(data[20:20 + length]).get("extensionsUsed", [])


def main(out: str) -> int:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_uv_sphere_add(segments=16, ring_count=8)
    bpy.ops.export_scene.gltf(filepath=out, export_format="GLB", export_draco_mesh_compression_enable=True)
    return 0 if is_draco(out) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[-1]))
