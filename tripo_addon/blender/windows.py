"""The add-on's windows: which sidebars to redraw, and a window for operators
called from timers."""

from __future__ import annotations

import bpy

#: The sidebar tab of the add-on's panels (the panels' bl_category).
CATEGORY = "Tripo3D"


def redraw() -> None:
    """Redraw the sidebars that show the job list (only them: tagging the whole
    area would redraw every 3D Viewport's scene at each progress step), and
    only those open on the add-on's tab: a sidebar showing another tab has
    nothing of ours to update, and each redraw costs the whole window a
    refresh."""
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR"):
                for region in area.regions:
                    if region.type == "UI" and region.width > 1 and getattr(
                            region, "active_panel_category", CATEGORY) in (CATEGORY, "UNSUPPORTED"):
                        region.tag_redraw()


class window_context:
    """Give operators a window when called from a timer (none in background mode)."""

    def __enter__(self):
        wm = getattr(bpy.context, "window_manager", None)
        window = bpy.context.window or (wm.windows[0] if wm and wm.windows else None)
        self._override = bpy.context.temp_override(window=window) if window and not bpy.context.window else None
        if self._override:
            self._override.__enter__()
        return self

    def __exit__(self, *exc):
        if self._override:
            return self._override.__exit__(*exc)
        return False
