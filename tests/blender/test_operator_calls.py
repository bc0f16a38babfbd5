"""Operators called from the job timer (blender/windows.py) inside real Blender:
one that needs a window waits while a thread of the add-on runs Python and runs,
once, in a window when none does; one that needs none runs at once without an
override. The bpy module has one window (a second is the window test's:
tests/gui/test_gui_session.py)."""

from __future__ import annotations

import threading

import bpy
import pytest
from test_ui_jobs import addon  # noqa: F401  (fixture)

from tripo_addon.blender import windows


class TRIPO3D_TEST_OT_window_probe(bpy.types.Operator):
    """Notes the window it runs in and whether a context override was in place."""

    bl_idname = "tripo3d_test.window_probe"
    bl_label = "Window probe"
    bl_options = {"INTERNAL"}
    calls: list = []

    def execute(self, context):
        self.calls.append(context.window.as_pointer() if context.window else None)
        return {"FINISHED"}


@pytest.fixture
def probe(addon):  # noqa: F811
    bpy.utils.register_class(TRIPO3D_TEST_OT_window_probe)
    TRIPO3D_TEST_OT_window_probe.calls.clear()
    windows._waiting.clear()
    windows._artist_window[0] = 0
    yield TRIPO3D_TEST_OT_window_probe.calls
    windows._waiting.clear()
    bpy.utils.unregister_class(TRIPO3D_TEST_OT_window_probe)


def _busy_add_on_thread():
    """A thread named like the add-on's, running Python until told to stop."""
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1  # pure Python: it wants the GIL all the time

    thread = threading.Thread(target=spin, name="tripo3d-test-busy", daemon=True)
    thread.start()
    return stop, thread


def test_a_window_operator_waits_while_an_add_on_thread_runs_then_runs_once(probe):
    stop, thread = _busy_add_on_thread()
    try:
        assert windows.add_on_threads_alive()
        # The job timer's path (its context has no window; the bpy module's has one).
        windows.call_in_a_window(bpy.ops.tripo3d_test.window_probe, "EXEC_DEFAULT")
        assert probe == []  # not called beside a thread that runs Python
        assert windows.call_waiting() == 0 and probe == []
    finally:
        stop.set()
        thread.join(5)
    assert not windows.add_on_threads_alive()
    assert windows.call_waiting() == 1
    assert probe == [bpy.context.window_manager.windows[0].as_pointer()]  # in a window, once
    assert windows.call_waiting() == 0 and len(probe) == 1


def test_in_the_contexts_own_window_an_operator_runs_at_once(probe):
    """The artist's window is the context's (one window, or the job started there): no override is made."""
    assert bpy.context.window is not None
    stop, thread = _busy_add_on_thread()
    try:
        got = windows.call_operator(bpy.ops.tripo3d_test.window_probe, "EXEC_DEFAULT", needs_window=True)
    finally:
        stop.set()
        thread.join(5)
    assert got == {"FINISHED"} and probe == [bpy.context.window.as_pointer()]
    assert windows._waiting == []


def test_the_window_is_the_one_a_job_was_started_from_while_it_is_open(probe):
    first = bpy.context.window_manager.windows[0]
    windows.remember_window(first)
    assert windows.operator_window().as_pointer() == first.as_pointer()
    windows._artist_window[0] = 1  # a window since closed
    assert windows.operator_window().as_pointer() == first.as_pointer()  # then the first


def test_no_operator_call_is_left_outside_the_helper():
    """The engine and the import (what the job timer runs) call operators only through
    blender/windows.py's call_operator; nothing there makes a window override of its own."""
    import os
    import re

    root = os.path.dirname(windows.__file__)
    direct = re.compile(r"bpy\.ops\.\w+\.\w+\(")
    found = []
    for sub in ("engine", "imp", "ui"):
        for name in sorted(os.listdir(os.path.join(root, sub))):
            if not name.endswith(".py"):
                continue
            text = open(os.path.join(root, sub, name), encoding="utf-8").read()
            if "window_context" in text or "temp_override(window" in text:
                found.append(f"{sub}/{name}: a window override")
            if sub != "ui" and direct.search(text):
                found.append(f"{sub}/{name}: {direct.search(text).group(0)}")
    assert found == []
