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


# The PyPI bpy module does not always end cleanly once the results are in: on
# 4.2 its C++ static destructors free Python classes after Python has shut down
# (SIGSEGV after an add-on registered panels), and on 4.5 and later the
# destructor of its global state can wait forever on a condition variable that
# its own audio device's delayed-close thread (started by ``import bpy``, in
# BKE_sound_init_once) still waits on. So the session ends the process itself
# with pytest's exit status, after Python's own exit handlers ran.
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _EXIT_STATUS:
        import atexit
        import os
        import sys

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
