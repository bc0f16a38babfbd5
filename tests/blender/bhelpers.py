"""Helpers for tests inside real Blender."""

from __future__ import annotations

import os
import sys

import bpy


def scene_fingerprint() -> dict:
    """Everything an import could add, to prove a failed one changed nothing."""
    kinds = ("objects", "meshes", "materials", "images", "textures", "collections", "node_groups", "actions")
    return {
        "data": {k: sorted(i.name for i in getattr(bpy.data, k)) for k in kinds},
        "selected": sorted(o.name for o in bpy.context.view_layer.objects if o.select_get()),
        "active": getattr(bpy.context.view_layer.objects.active, "name", None),
        "active_collection": bpy.context.view_layer.active_layer_collection.name,
    }


def run_python(code: str, env: dict | None = None, timeout: float = 300):
    """Run ``code`` in a fresh Python with bpy (a separate Blender)."""
    import subprocess

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
