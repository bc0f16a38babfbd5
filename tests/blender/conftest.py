"""Fixtures for tests that run inside real Blender (the PyPI bpy module)."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy", reason="these tests need Blender's bpy module (scripts/test.sh installs it)")


@pytest.fixture
def blender(user_res):
    """An empty scene, online access allowed, a private user folder."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.system.use_online_access = True
    yield bpy
    bpy.context.preferences.system.use_online_access = False
