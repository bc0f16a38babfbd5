"""The core package must never pull in Blender's ``bpy``."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

from tripo_addon import core

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHECK = r"""
import importlib, json, pkgutil, sys
import tripo_addon.core as core
names = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "tripo_addon.core."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "bpy": sorted(m for m in sys.modules if m == "bpy" or m.startswith("bpy."))}))
"""


def test_core_modules_listed():
    found = {m.name.removeprefix("tripo_addon.core.") for m in pkgutil.walk_packages(core.__path__, "tripo_addon.core.")}
    expected = {"errors", "net.urls", "glb", "images", "net.gateway", "jobs", "journal.store", "engine.runner",
                "engine.planning", "engine.worker", "storage.delivery"}
    assert expected <= found, f"missing core modules: {expected - found}"


def test_importing_every_core_module_leaves_bpy_out():
    import json

    env = dict(os.environ)
    env["PYTHONPATH"] = REPO
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["modules"]) >= 30
    assert result["bpy"] == [], f"bpy was imported by: {result['modules']}"


def test_no_bpy_import_in_core_tests():
    here = os.path.dirname(os.path.abspath(__file__))
    for name in os.listdir(here):
        if name.endswith(".py") and name != os.path.basename(__file__):
            with open(os.path.join(here, name), encoding="utf-8") as f:
                text = f.read()
            assert "import bpy" not in text and "from bpy" not in text, name
