"""Show the artist what was made: select objects and frame them in every
3D Viewport of every window (none in background Blender: nothing happens)."""

from __future__ import annotations

import bpy


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
    """Frame the selection in each 3D Viewport; returns how many were framed."""
    context = context or bpy.context
    wm = getattr(context, "window_manager", None)
    framed = 0
    for window in (wm.windows if wm else []):
        for area in window.screen.areas:
            if area.type != "VIEW_3D":
                continue
            region = next((r for r in area.regions if r.type == "WINDOW"), None)
            if region is None:
                continue
            try:
                with context.temp_override(window=window, area=area, region=region):
                    bpy.ops.view3d.view_selected(use_all_regions=False)
                framed += 1
            except RuntimeError:
                pass  # a viewport that cannot frame (e.g. locked to an object) is left as it is
    return framed
