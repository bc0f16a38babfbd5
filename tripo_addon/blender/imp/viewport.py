"""Show the artist what was made: select objects and frame them in every
3D Viewport of every window."""

from __future__ import annotations

import math

import bpy
from mathutils import Vector


def select_only(objects, context=None) -> list:
    """Select ``objects`` (names or objects) in the view layer; returns those found."""
    context = context or bpy.context
    view_layer = context.view_layer
    found = [o if not isinstance(o, str) else bpy.data.objects.get(o) for o in objects]
    found = [o for o in found if o is not None and o.name in view_layer.objects]
    if not found:
        return []
    for o in view_layer.objects:
        o.select_set(False)
    for o in found:
        o.select_set(True)
    view_layer.objects.active = found[0]
    return found


def frame_selected(context=None) -> int:
    """Frame the selection in each 3D Viewport; returns how many were framed.

    Set through the view's own properties, not ``view3d.view_selected``: that
    operator needs a context override, and an operator call under an override
    while the add-on's worker threads run Python crashed Blender (the bpy
    module has a window and a 3D Viewport even in background mode). Views
    through a camera, or locked to an object or the 3D cursor, are left as
    they are."""
    context = context or bpy.context
    view_layer = getattr(context, "view_layer", None)
    bounds = world_bounds(o for o in (view_layer.objects if view_layer else []) if o.select_get())
    if bounds is None:
        return 0
    low, high = bounds
    center = (low + high) / 2
    radius = max((high - low).length / 2, 0.001)
    wm = getattr(context, "window_manager", None)
    framed = 0
    for window in (wm.windows if wm else []):
        for area in window.screen.areas:
            if area.type != "VIEW_3D":
                continue
            space = area.spaces.active
            r3d = getattr(space, "region_3d", None)
            if r3d is None or r3d.view_perspective == "CAMERA" or space.lock_object or space.lock_cursor:
                continue
            r3d.view_location = center
            r3d.view_distance = fit_distance(radius, space.lens)
            area.tag_redraw()
            framed += 1
    return framed


def fit_distance(radius: float, lens: float) -> float:
    """How far from its centre a sphere of ``radius`` fills a view with this
    focal length (Blender's viewport sensor is 36 mm wide), with a margin."""
    half_angle = math.atan(18.0 / max(lens, 1.0))
    return radius / math.sin(half_angle) * 1.1


def world_bounds(objects) -> tuple[Vector, Vector] | None:
    """World-space (min, max) corners of the meshes among ``objects``, or None."""
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
