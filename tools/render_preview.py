"""Render the models in a .blend to a PNG (used by the demo).

    python -m tools.render_preview SCENE.blend OUT.png

Adds a camera, a sun, a soft sky and a ground plane around whatever meshes
the file holds, and renders with Cycles on the CPU.
"""

from __future__ import annotations

import math
import sys

import bpy
from mathutils import Vector


def _node_input(owner, node_type: str, socket: str, value) -> None:
    """Blender 5 gives new worlds and materials node trees, which Cycles
    renders instead of their plain colour: set the colour there too."""
    tree = getattr(owner, "node_tree", None)
    for node in (tree.nodes if tree is not None else ()):
        if node.type == node_type and socket in node.inputs:
            node.inputs[socket].default_value = value


def main(blend: str, out: str) -> int:
    bpy.ops.wm.open_mainfile(filepath=blend)
    scene = bpy.context.scene
    meshes = [o for o in scene.objects if o.type == "MESH"]
    if not meshes:
        print("error: the file holds no meshes to render", file=sys.stderr)
        return 1
    pts = [o.matrix_world @ Vector(c) for o in meshes for c in o.bound_box]
    lo = Vector([min(p[i] for p in pts) for i in range(3)])
    hi = Vector([max(p[i] for p in pts) for i in range(3)])
    center, size = (lo + hi) / 2, max(hi - lo)

    bpy.ops.mesh.primitive_plane_add(size=size * 8, location=(center.x, center.y, lo.z))
    ground = bpy.context.active_object
    mat = bpy.data.materials.new("Ground")
    mat.diffuse_color = (0.8, 0.8, 0.82, 1)
    _node_input(mat, "BSDF_PRINCIPLED", "Base Color", (0.8, 0.8, 0.82, 1))
    ground.data.materials.append(mat)

    cam_data = bpy.data.cameras.new("Camera")
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    distance = size * 2.6
    # glTF's front (+Z) is Blender's -Y after import: look from the front, a little above.
    cam.location = center + Vector((distance * 0.35, -distance, distance * 0.45))
    direction = center - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam

    sun_data = bpy.data.lights.new("Sun", "SUN")
    sun_data.energy = 3.0
    sun = bpy.data.objects.new("Sun", sun_data)
    sun.rotation_euler = (math.radians(50), math.radians(10), math.radians(30))
    scene.collection.objects.link(sun)
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.color = (0.55, 0.6, 0.7)
    _node_input(world, "BACKGROUND", "Color", (0.55, 0.6, 0.7, 1))

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 24
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 800, 600
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = out
    bpy.ops.render.render(write_still=True)
    print(f"Rendered {out}")
    return 0


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    sys.exit(main(*args))
