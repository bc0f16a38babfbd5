"""The built zip passes Blender's validator, carries its pinned wheels, installs
and enables in real Blender, and its requests works whether Blender ships one
(blender.org builds) or not (distro builds)."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
import zipfile

import pytest
from bhelpers import run_python
from tools.blender_tracebacks import tracebacks
from helpers import SIM_KEY

from scripts.build_extension import build
from tools.bundled_wheels import WheelError, ensure_wheels, read_lock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.matrix

PKG = "bl_ext.user_default.tripo3d"
WHEEL_MODULES = ("requests", "urllib3", "idna", "certifi", "charset_normalizer")

INSTALL_AND_PROBE = r"""
import bpy, json, os, sys
zip_path = sys.argv[-1]
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
import addon_utils
pkg = "bl_ext.user_default.tripo3d"
enabled = pkg in bpy.context.preferences.addons
mod = sys.modules.get(pkg)
from importlib import import_module
paths = import_module(pkg + ".blender.user_data")
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

# Hides requests and its dependencies in Python's own site-packages, as a
# distro Blender whose system Python has no python3-requests. Must run before
# anything imports them.
HIDE_SYSTEM_REQUESTS = r"""
import importlib.machinery, site, sys
_SYSTEM = set(site.getsitepackages())
class _NoSystemRequests:
    def find_spec(self, name, path=None, target=None):
        if path is not None or name not in %r:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [p for p in sys.path if p not in _SYSTEM])
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec
sys.meta_path.insert(0, _NoSystemRequests())
try:
    import requests
    print("HIDE-FAILED", requests.__file__)
except ImportError:
    pass
""" % (WHEEL_MODULES,)

# Installs the zip (or, with install=False, only enables what an earlier run
# installed, as after restarting Blender) and generates one model through the
# installed add-on against the gateway simulator.
GENERATE_WITH_INSTALLED = r"""
import bpy, json, sys
from importlib import import_module
zip_path, image, install = %r, %r, %r
pkg = "bl_ext.user_default.tripo3d"
if install:
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
else:
    bpy.ops.preferences.addon_enable(module=pkg)
bpy.context.preferences.system.use_online_access = True
job = import_module(pkg + ".api").generate(image, wait=True, timeout=60)
mods = {m: getattr(sys.modules.get(m), "__file__", None) for m in %r}
import requests
print("JSON" + json.dumps({"enabled": pkg in bpy.context.preferences.addons, "state": str(job.state),
      "error": str(job.error or ""), "objects": list(job.objects or []), "modules": mods,
      "requests_version": requests.__version__}))
"""


# Enables, disables and enables the installed extension, then reloads it the
# two ways a session can (Blender's own: re-enabling after its __init__.py
# changed on disk reloads the package; a developer's: its modules dropped from
# sys.modules and imported afresh), and after each step notes what is
# registered; then a job runs to the end. (F3 > Reload Scripts,
# bpy.ops.script.reload(), is left out: after it the bpy module's Python
# process hangs at exit, with or without any add-on; checked on 4.5.3.)
REREGISTER_AND_RELOAD = r"""
import bpy, json, os, sys
from importlib import import_module
zip_path, image = %r, %r
pkg = "bl_ext.user_default.tripo3d"
steps = []
def note(step):
    handlers = [h for h in bpy.app.handlers.load_post if getattr(h, "__module__", "").startswith(pkg)]
    steps.append({"step": step, "enabled": pkg in bpy.context.preferences.addons,
                  "operator": hasattr(bpy.types, "TRIPO3D_OT_generate"),
                  "panel": hasattr(bpy.types, "TRIPO3D_PT_generate_view3d"),
                  "prefs": hasattr(getattr(bpy.context.preferences.addons.get(pkg), "preferences", None), "api_key"),
                  "load_post": len(handlers), "module": id(sys.modules.get(pkg))})
bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
note("installed")
bpy.ops.preferences.addon_disable(module=pkg)
note("disabled")
bpy.ops.preferences.addon_enable(module=pkg)
note("enabled again")
bpy.ops.preferences.addon_disable(module=pkg)
init = sys.modules[pkg].__file__
os.utime(init, (os.path.getmtime(init) + 2,) * 2)
bpy.ops.preferences.addon_enable(module=pkg)
note("reloaded by Blender")
bpy.ops.preferences.addon_disable(module=pkg)
for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
    del sys.modules[name]
bpy.ops.preferences.addon_enable(module=pkg)
note("imported afresh")
bpy.context.preferences.system.use_online_access = True
job = import_module(pkg + ".api").generate(image, wait=True, timeout=60)
steps.append({"step": "job", "state": str(job.state), "error": str(job.error or ""),
              "objects": list(job.objects or [])})
bpy.ops.preferences.addon_disable(module=pkg)
note("disabled at the end")
print("JSON" + json.dumps(steps))
"""


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    return build(out_dir=str(tmp_path_factory.mktemp("dist")))  # Blender's build and validate; raises on failure


def probe(proc) -> dict:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not tracebacks(proc.stderr), proc.stderr[-3000:]
    return json.loads(lines[0][4:])


def test_zip_builds_validates_installs_and_enables(built_zip, tmp_path):
    assert os.path.basename(built_zip) == "tripo3d-0.1.0.zip"
    with zipfile.ZipFile(built_zip) as z:
        names = z.namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "core/net/gateway.py" in names
    assert not any(n.startswith(("tests/", "scripts/", ".git")) or "__pycache__" in n for n in names)

    user_res = tmp_path / "user"
    code = INSTALL_AND_PROBE.replace("sys.argv[-1]", repr(built_zip))
    got = probe(run_python(code, env={"BLENDER_USER_RESOURCES": str(user_res)}))
    assert got["enabled"] and got["package"] == PKG
    assert got["user_dir"].startswith(str(user_res))
    assert len(got["ops"]) == 8 and len(got["panels"]) == 3 and got["has_key_prop"]
    assert got["after_disable"] is False


def test_zip_carries_the_pinned_wheels_and_stays_platform_independent(built_zip):
    locked = read_lock()
    with zipfile.ZipFile(built_zip) as z:
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
        wheels = {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n.startswith("wheels/")}
    assert sorted(manifest["wheels"]) == sorted("./" + n for n in wheels)
    assert sorted(wheels.values()) == sorted(w.sha256 for w in locked)
    assert {n.split("/")[1].split("-")[0] for n in wheels} == set(WHEEL_MODULES)
    assert all(n.endswith("-py3-none-any.whl") for n in wheels)
    assert "platforms" not in manifest          # one zip for every OS
    with open(os.path.join(REPO, "blender_manifest.toml"), "rb") as fh:
        assert "wheels" not in tomllib.load(fh)  # the repository's manifest never lists them


def test_a_tampered_wheel_in_the_cache_is_never_shipped(tmp_path, monkeypatch):
    from tools import bundled_wheels

    cache = tmp_path / "cache"
    cache.mkdir()
    for path in ensure_wheels():
        (cache / os.path.basename(path)).write_bytes(open(path, "rb").read())
    assert len(ensure_wheels(cache_dir=str(cache))) == len(read_lock())   # all good, no download
    victim = cache / read_lock()[0].file_pattern()
    victim.write_bytes(victim.read_bytes() + b"tampered")
    monkeypatch.setattr(bundled_wheels, "_pip_download", lambda wheels, cache_dir: None)   # the download "fails"
    with pytest.raises(WheelError, match=read_lock()[0].sha256):
        ensure_wheels(cache_dir=str(cache))
    assert not victim.exists()


def _generate_run(zip_path, image, sim, user_res, *, install=True, hide_system=False):
    code = GENERATE_WITH_INSTALLED % (zip_path, image, install, WHEEL_MODULES)
    if hide_system:
        code = HIDE_SYSTEM_REQUESTS + code
    proc = run_python(code, env={"BLENDER_USER_RESOURCES": str(user_res), "PIXAZO_API_KEY": SIM_KEY,
                                 "PIXAZO_BASE_URL": sim.url})
    assert "HIDE-FAILED" not in proc.stdout
    got = probe(proc)
    print(f"[zip] requests {got['requests_version']} from {got['modules']['requests']}")
    assert got["enabled"] and got["state"].lower().endswith("imported"), got
    assert got["objects"], got
    return got


def _dirs(got) -> set[str]:
    """The site-packages folders the add-on's HTTP modules were loaded from."""
    return {path.split(os.sep + name)[0] for name, path in got["modules"].items() if path}


def test_with_blenders_own_requests_both_copies_work_without_a_clash(built_zip, sim, tmp_path, image_files):
    user_res = tmp_path / "user"
    wheels_dir = str(user_res / "extensions" / ".local")
    # First install: Blender appends the wheels' folder after its own
    # site-packages, so the requests Blender ships is used...
    first = _generate_run(built_zip, image_files["png"], sim, user_res)
    assert len(_dirs(first)) == 1 and not any(d.startswith(wheels_dir) for d in _dirs(first)), first
    # ...and from the next start on, the wheels' folder comes first: ours.
    again = _generate_run(built_zip, image_files["jpg"], sim, user_res, install=False)
    assert len(_dirs(again)) == 1 and all(d.startswith(wheels_dir) for d in _dirs(again)), again
    assert sim.stats()["submits"] == 2


def test_without_a_system_requests_the_bundled_wheels_do_the_work(built_zip, sim, tmp_path, image_files):
    user_res = tmp_path / "user"
    got = _generate_run(built_zip, image_files["png"], sim, user_res, hide_system=True)
    wheels_dir = str(user_res / "extensions" / ".local")
    assert all(d.startswith(wheels_dir) for d in _dirs(got)) and set(got["modules"]) == set(WHEEL_MODULES), got
    assert all(got["modules"].values()), got
    assert sim.stats()["submits"] == 1


def test_enable_disable_enable_and_reload_in_one_process_then_a_job_runs(built_zip, sim, tmp_path, image_files):
    proc = run_python(REREGISTER_AND_RELOAD % (built_zip, image_files["png"]),
                      env={"BLENDER_USER_RESOURCES": str(tmp_path / "user"), "PIXAZO_API_KEY": SIM_KEY,
                           "PIXAZO_BASE_URL": sim.url})
    *steps, end = probe(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = steps.pop()
    on = {"enabled": True, "operator": True, "panel": True, "prefs": True, "load_post": 1}
    off = {"enabled": False, "operator": False, "panel": False, "prefs": False, "load_post": 0}
    seen = {s.pop("step"): s for s in steps}
    modules = {step: seen[step].pop("module") for step in seen}
    assert seen == {"installed": on, "disabled": off, "enabled again": on, "reloaded by Blender": on,
                    "imported afresh": on}, seen
    assert "module changed on disk" in proc.stdout, proc.stdout[-2000:]   # Blender did reload it
    assert modules["imported afresh"] != modules["installed"]
    assert job["state"].lower().endswith("imported") and job["objects"], job
    assert {k: end[k] for k in off} == off, end
    assert sim.stats()["submits"] == 1
