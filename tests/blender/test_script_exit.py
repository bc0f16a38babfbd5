"""A script in a plain Python with the ``bpy`` module (PyPI bpy) that enables
the add-on, generates a model and simply ends must exit with its own code:
that Blender never disables add-ons at Python's exit, and without the add-on
doing it the exit crashed (SIGSEGV, code 139: a command-line command freed
after Python, and on bpy 4.2 any registered PropertyGroup with a method) or
hung (a Blender worker left waiting)."""

from __future__ import annotations

import os

import pytest
from bhelpers import run_python
from helpers import SIM_KEY

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = f"""
import sys
import bpy
bpy.context.preferences.system.use_online_access = True  # as a user allows it in Preferences
sys.path.insert(0, {REPO!r})
import tripo_addon
from tripo_addon import api
tripo_addon.register()
job = api.generate(%r, wait=True, timeout=60)
print("STATE", job.state, sorted(o.name for o in bpy.data.objects))
"""


@pytest.mark.matrix
def test_a_script_that_generates_and_ends_exits_cleanly(sim, user_res, image_files):
    proc = run_python(SCRIPT % image_files["png"], timeout=240,
                      env={"PIXAZO_API_KEY": SIM_KEY, "PIXAZO_BASE_URL": sim.url,
                           "BLENDER_USER_RESOURCES": str(user_res)})
    assert "STATE imported" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.matrix
def test_a_script_that_only_registers_exits_cleanly(user_res):
    proc = run_python(f"import sys, bpy\nsys.path.insert(0, {REPO!r})\nimport tripo_addon\n"
                      "tripo_addon.register()\nprint('REGISTERED')\n", timeout=120,
                      env={"BLENDER_USER_RESOURCES": str(user_res)})
    assert "REGISTERED" in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stderr[-3000:]}"


def test_registering_loads_neither_the_importer_nor_generate(user_res):
    """Blender registers the add-on at every start: the importer, Generate and
    image preparation load at their first use (scripts/bench.py P6 times it)."""
    proc = run_python(f"import sys, bpy\nsys.path.insert(0, {REPO!r})\nimport tripo_addon\ntripo_addon.register()\n"
                      "print('LOADED', sorted(m for m in sys.modules if m.startswith('tripo_addon')))\n"
                      "from tripo_addon.blender.engine import start\n"
                      "print('AFTER', 'tripo_addon.blender.engine.start' in sys.modules)\n", timeout=120,
                      env={"BLENDER_USER_RESOURCES": str(user_res)})
    loaded = next((ln for ln in proc.stdout.splitlines() if ln.startswith("LOADED")), "")
    assert "tripo_addon.blender.ui.registration" in loaded, proc.stderr[-3000:]
    for lazy in ("imp.importer", "engine.start", "exp.image_source", "imp.prerequisites"):
        assert f"tripo_addon.blender.{lazy}'" not in loaded, loaded
    for lazy in ("storage.delivery", "engine.runner", "images", "storage.config", "net.gateway"):  # the first job's
        assert f"tripo_addon.core.{lazy}'" not in loaded, loaded
    assert "AFTER True" in proc.stdout  # the public name still works, loading it then
