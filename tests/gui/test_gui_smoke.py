"""Smoke test of the GUI harness: a real Blender 4.3 window under Xvfb.

Builds (once) the trixie chroot with tools/gui/setup_blender_chroot.sh and
runs tests/gui/smoke_gui.py in it with tools/gui/run_blender_gui.sh, twice:
as `apt install blender` leaves Debian (no python3-requests, so the real
extension zip's wheels must provide it), and with python3-requests installed.
Needs root (debootstrap, chroot, mount namespaces); the first run downloads
~1.8 GB, later runs reuse <repo>/.cache/trixie.

Environment:
  TRIPO_GUI_SUITE  the Debian suite whose Blender runs (default trixie; sid has 5.x)
  TRIPO_GUI_ROOT   use another chroot directory (default <repo>/.cache/SUITE)
  TRIPO_GUI_SKIP=1 skip these tests
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile

import pytest

from tools.gui import gui_host as gh

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUI_SCRIPTS = os.path.join(REPO, "tools", "gui")
RUN = os.path.join(GUI_SCRIPTS, "run_blender_gui.sh")
SMOKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smoke_gui.py")
ROOT = gh.ROOT   # TRIPO_GUI_ROOT, else <repo>/.cache/<TRIPO_GUI_SUITE, default trixie>

EXT_ID = "gui_smoke_ext"


pytestmark = gh.gui_test_marks(pytest)


@pytest.fixture(scope="session")
def gui_chroot():
    """Build (or reuse) the chroot, as Debian's `apt install blender` leaves it
    (no python3-requests); returns its path."""
    t0 = time.monotonic()
    info = gh.ensure_chroot(ROOT)
    print(f"\n[gui] chroot ready in {time.monotonic() - t0:.1f} s: {info['setup_log'][-600:]}")
    return ROOT


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory):
    """The real extension zip, with its wheels."""
    return gh.build_zip(str(tmp_path_factory.mktemp("addon_dist")))


def _build_test_extension(directory) -> str:
    """A minimal Blender 4.2+ extension zip (manifest at the zip root)."""
    manifest = "\n".join([
        'schema_version = "1.0.0"',
        f'id = "{EXT_ID}"',
        'version = "0.0.1"',
        'name = "GUI Smoke Extension"',
        'tagline = "Tiny extension for the GUI harness smoke test"',
        'maintainer = "Tripo3D dev <dev@tripo3d-blender.invalid>"',
        'type = "add-on"',
        'blender_version_min = "4.2.0"',
        'license = ["SPDX:GPL-3.0-or-later"]',
        "",
    ])
    init = "REGISTERED = False\n\ndef register():\n    global REGISTERED\n    REGISTERED = True\n\ndef unregister():\n    global REGISTERED\n    REGISTERED = False\n"
    path = os.path.join(str(directory), f"{EXT_ID}-0.0.1.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("blender_manifest.toml", manifest)
        zf.writestr("__init__.py", init)
    return path


def _distinct_colours(path: str) -> int:
    from PIL import Image

    with Image.open(path) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20


def _no_chroot_mounts(root: str) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [line for line in fh if (f" {root}/") in line or (f" {root} ") in line]


def _run_smoke(cmd) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=420)
    print(f"\n[gui] run_blender_gui.sh smoke: {time.monotonic() - t0:.1f} s (rc {proc.returncode})")
    return proc


# Debian's Blender as installed (no python3-requests: the zip's wheels must do),
# then once more with python3-requests installed (no clash with the wheels).
@pytest.mark.parametrize("system_requests", [False, True], ids=["as_installed", "with_python3_requests"])
def test_gui_smoke(gui_chroot, addon_zip, tmp_path, system_requests):
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    zip_path = _build_test_extension(ext_dir)
    out = tmp_path / "results"

    cmd = ["bash", RUN, "--root", gui_chroot, "--timeout", "300",
           "--results", str(out), "--bind", str(ext_dir), "--bind", os.path.dirname(addon_zip),
           SMOKE, "--", "--out", str(out),
           "--extension", zip_path, "--extension-id", EXT_ID, "--addon-zip", addon_zip]
    if system_requests:
        with gh.system_requests(gui_chroot) as seconds:
            print(f"\n[gui] python3-requests added to the chroot in {seconds} s")
            proc = _run_smoke(cmd)
    else:
        proc = _run_smoke(cmd)
    log = f"STDOUT:\n{proc.stdout[-6000:]}\nSTDERR:\n{proc.stderr[-6000:]}"

    result_file = out / "smoke_result.json"
    assert result_file.is_file(), f"no result file; rc {proc.returncode}\n{log}"
    data = json.loads(result_file.read_text())
    assert data["ok"], (f"smoke failed in {data.get('failed_step')}: {data.get('error')}\n"
                        f"{data.get('traceback')}\n{log}")
    assert proc.returncode == 0, log
    assert not _no_chroot_mounts(gui_chroot), "mounts left behind"

    res = data["result"]
    steps = ", ".join(f"{s['step']} {s['seconds']:.2f}s" for s in data["steps"])
    print(f"[gui] steps: {steps}")
    print(f"[gui] probe: {res['probe']}")
    print(f"[gui] first step {res['first_step_after_load_s']} s after the script loaded")

    # Real GUI Blender, timers firing.
    assert res["blender_version"].startswith(gh.chroot_blender_version())   # the chroot's Debian blender
    assert res["background"] is False
    assert res["timer_ticks"] >= 5
    # Sidebar on our own tab.
    assert res["sidebar_tab_after"] == "GUI Smoke"
    assert res["sidebar_tab_set"] is True
    # The probe measured something sensible.
    assert res["probe"]["ticks"] >= 20
    assert 0.0 < res["probe"]["max_gap"] < 1.0
    # Computed coordinates are exact: events arrive where we aimed.
    assert len(res["pointer_checks"]) == 3
    for check in res["pointer_checks"]:
        assert check["event_xy"] == check["back"]
        assert check["area"] == "IMAGE_EDITOR"
    click = res["click"]
    assert [click["event"]["mouse_x"], click["event"]["mouse_y"]] == click["expected_window_xy"]
    assert res["key_toggle_sidebar"] is True
    assert res["view3d_sidebar_tab"] == "View"
    # The extension installed and its register() ran.
    ext = res["extension"]
    assert ext["operator_return"] == ["FINISHED"]
    assert f"bl_ext.user_default.{EXT_ID}" in ext["enabled_extensions"]
    assert ext["registered_flag"] is True
    assert ext["user_extensions_dir"].startswith("/tmp/tripo-gui.")   # fresh per run
    # The real zip enables, and the requests it gets talks HTTP.
    addon = res["addon"]
    print(f"[gui] tripo3d zip: enabled {addon['enabled']} in {addon['seconds']} s; system python3-requests "
          f"{addon['system_requests']}; requests {addon['requests_version']} from {addon['modules']['requests']}")
    assert addon["operator_return"] == ["FINISHED"] and addon["enabled"] and addon["generate_op"], addon
    assert addon["system_requests"] is system_requests, addon
    assert all(addon["modules"].values()), addon
    assert addon["http"] == {"status": 200, "json": {"word": "Grüße"}}, addon
    if not system_requests:   # nothing else could have provided it: the wheels did
        assert all(p.startswith(addon["wheels_dir"] + "/") for p in addon["modules"].values()), addon

    # Screenshots exist and are real pictures, not blank/black frames.
    shots = res["screenshots"]
    assert [os.path.basename(s) for s in shots] == [
        "01_image_editor.png", "02_after_click.png", "03_final.png"]
    for shot in shots:
        assert os.path.isfile(shot), shot
        colours = _distinct_colours(shot)
        assert colours > 100, f"{shot} has only {colours} colours"
