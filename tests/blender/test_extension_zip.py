"""The built zip passes Blender's validator, installs and enables in real Blender."""

from __future__ import annotations

import json
import os
import sys
import zipfile

from bhelpers import run_python

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from build_extension import build  # noqa: E402

INSTALL_AND_PROBE = r"""
import bpy, json, os, sys
zip_path = sys.argv[-1]
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
import addon_utils
pkg = "bl_ext.user_default.tripo3d"
enabled = pkg in bpy.context.preferences.addons
mod = sys.modules.get(pkg)
from importlib import import_module
paths = import_module(pkg + ".blender.paths")
user_dir = paths.user_dir()
ops = [name for name in ("generate", "stop_job", "import_job", "resume_job", "remove_job", "copy_request_id",
                         "open_folder", "test_connection") if hasattr(bpy.ops.tripo3d, name)]
panels = [c for c in ("TRIPO3D_PT_generate_view3d", "TRIPO3D_PT_generate_image", "TRIPO3D_PT_jobs_view3d")
          if hasattr(bpy.types, c)]
prefs = bpy.context.preferences.addons[pkg].preferences
has_key_prop = hasattr(prefs, "api_key")
bpy.ops.preferences.addon_disable(module=pkg)
after_disable = hasattr(bpy.types, "TRIPO3D_PT_generate_view3d")
print("JSON" + json.dumps({"enabled": enabled, "package": mod.__name__ if mod else None, "user_dir": user_dir,
      "ops": ops, "panels": panels, "has_key_prop": has_key_prop, "after_disable": after_disable}))
"""


def test_zip_builds_validates_installs_and_enables(tmp_path):
    zip_path = build(out_dir=str(tmp_path / "dist"))  # runs Blender's build and validate; raises on failure
    assert os.path.basename(zip_path) == "tripo3d-0.1.0.zip"
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "core/gateway.py" in names
    assert not any(n.startswith(("tests/", "scripts/", ".git")) or "__pycache__" in n for n in names)

    user_res = tmp_path / "user"
    code = INSTALL_AND_PROBE.replace("sys.argv[-1]", repr(zip_path))
    proc = run_python(code, env={"BLENDER_USER_RESOURCES": str(user_res)})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert lines, proc.stdout + proc.stderr
    got = json.loads(lines[0][4:])
    assert got["enabled"] and got["package"] == "bl_ext.user_default.tripo3d"
    assert got["user_dir"].startswith(str(user_res))
    assert len(got["ops"]) == 8 and len(got["panels"]) == 3 and got["has_key_prop"]
    assert got["after_disable"] is False
    assert "Traceback" not in proc.stderr, proc.stderr
