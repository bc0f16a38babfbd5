"""A studio hosts the extension on a static web server; Blender installs from it
and upgrades when a newer version is published there.

One Blender (bpy module, online access on) adds the repository served over
loopback, syncs and installs 0.1.0; the test then publishes 0.2.0 with
``build_extension.py --repo-dir`` (same code, bumped manifest version), and the
same Blender syncs again and installs the update.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from scripts.build_extension import build

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [pytest.mark.matrix, pytest.mark.slow]

# Reports after each stage as a JSON line, and waits for a line on stdin
# between installing and upgrading (the test publishes the new version then).
INSTALL_THEN_UPGRADE = r"""
import bpy, json, os, sys
url = sys.argv[-1]
prefs = bpy.context.preferences
prefs.system.use_online_access = True
repo = prefs.extensions.repos.new(name="Studio", module="studio", remote_url=url)
index = list(prefs.extensions.repos).index(repo)
pkg = "bl_ext.studio.tripo3d"

def installed_version():
    path = os.path.join(repo.directory, "tripo3d", "blender_manifest.toml")
    if not os.path.exists(path):
        return None
    import tomllib
    with open(path, "rb") as fh:
        return tomllib.load(fh)["version"]

def report(stage, **extra):
    print("JSON" + json.dumps({"stage": stage, "version": installed_version(),
          "enabled": pkg in prefs.addons, "generate_op": hasattr(bpy.ops.tripo3d, "generate"), **extra}), flush=True)

sync1 = bpy.ops.extensions.repo_sync(repo_directory=repo.directory, repo_index=index)
install = bpy.ops.extensions.package_install(repo_directory=repo.directory, repo_index=index, pkg_id="tripo3d",
                                             enable_on_install=True)
report("installed", sync=sorted(sync1), op=sorted(install))
sys.stdin.readline()   # the newer version is published now
sync2 = bpy.ops.extensions.repo_sync(repo_directory=repo.directory, repo_index=index)
upgrade = bpy.ops.extensions.package_upgrade_all()
report("upgraded", sync=sorted(sync2), op=sorted(upgrade))
"""


@pytest.fixture
def static_server(tmp_path):
    """A plain static web server on 127.0.0.1 for the repository folder."""
    root = tmp_path / "studio-repo"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _next_report(proc) -> dict:
    for line in proc.stdout:
        if line.startswith("JSON"):
            return json.loads(line[4:])
    raise AssertionError("Blender ended without a report:\n" + proc.stderr.read()[-4000:])


def test_install_from_a_hosted_repository_then_upgrade(static_server, tmp_path):
    root, url = static_server
    build(out_dir=str(tmp_path / "dist1"), repo_dir=str(root))
    index = json.loads((root / "index.json").read_text())
    assert [(p["id"], p["version"], p["archive_url"]) for p in index["data"]] == \
        [("tripo3d", "0.1.0", "./tripo3d-0.1.0.zip")]

    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    proc = subprocess.Popen([sys.executable, "-c", INSTALL_THEN_UPGRADE, url + "/index.json"], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = _next_report(proc)
        assert first["op"] == ["FINISHED"] and first["version"] == "0.1.0", first
        assert first["enabled"] and first["generate_op"], first

        build(out_dir=str(tmp_path / "dist2"), version="0.2.0", repo_dir=str(root))
        index = json.loads((root / "index.json").read_text())
        assert [p["version"] for p in index["data"]] == ["0.2.0"]          # one listing per id
        assert (root / "old" / "tripo3d-0.1.0.zip").is_file()              # the old zip is kept for rollback

        proc.stdin.write("go\n")
        proc.stdin.flush()
        second = _next_report(proc)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"[repo] installed {first['version']}, upgraded to {second['version']} from {url}")
    assert second["op"] == ["FINISHED"] and second["version"] == "0.2.0", (second, err[-3000:])
    assert second["enabled"] and second["generate_op"], second
    assert "Traceback" not in err, err[-3000:]
