"""Build dist/tripo3d-<version>.zip with Blender's own extension tool, then validate it.

    python scripts/build_extension.py [--out-dir DIR] [--repo-dir DIR] [--version X.Y.Z] [--blender-ext PATH]

The repository keeps the manifest at its root and the code in tripo_addon/;
an extension zip needs both at its top level, so they are staged first. The
pinned pure-Python wheels of wheels.lock (requests and its dependencies) go
into the staged wheels/ folder and the staged manifest's ``wheels`` list; the
repository's own manifest never lists them and git never holds them.

--repo-dir DIR also puts the zip in DIR and writes DIR/index.json (and
index.html) with Blender's ``server-generate``: DIR can then be served by any
static web server as an extension repository that Blender updates from.
--version builds the same code under another manifest version (for testing
updates). The tool comes from the PyPI bpy module (or --blender-ext).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # an entry point run from a checkout: tools/ sits beside scripts/
from tools.bundled_wheels import WheelError, ensure_wheels, manifest_with_wheels  # noqa: E402


def find_blender_ext() -> str:
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: the bpy module is not installed here; run scripts/test.sh once, or pass --blender-ext")
    hits = glob.glob(os.path.join(spec.submodule_search_locations[0], "*", "scripts", "addons_core", "bl_pkg",
                                  "cli", "blender_ext.py"))
    if not hits:
        sys.exit("error: blender_ext.py was not found in the bpy module")
    return sorted(hits)[-1]


def _stage(stage: str, version: str | None) -> dict:
    """Copy the extension's files into ``stage`` with the wheels; returns the staged manifest."""
    for name in ("LICENSE",):
        if os.path.exists(os.path.join(REPO, name)):
            shutil.copy2(os.path.join(REPO, name), stage)
    shutil.copytree(os.path.join(REPO, "tripo_addon"), stage, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheel_dir = os.path.join(stage, "wheels")
    os.makedirs(wheel_dir)
    names = []
    for path in ensure_wheels():
        shutil.copy2(path, wheel_dir)
        names.append(os.path.basename(path))
    with open(os.path.join(REPO, "blender_manifest.toml"), encoding="utf-8") as fh:
        text = manifest_with_wheels(fh.read(), names)
    if version:
        text, count = re.subn(r'^version\s*=\s*"[^"]*"', f'version = "{version}"', text, count=1, flags=re.MULTILINE)
        if count != 1:
            raise WheelError("the manifest has no version line to replace")
    with open(os.path.join(stage, "blender_manifest.toml"), "w", encoding="utf-8") as fh:
        fh.write(text)
    return tomllib.loads(text)


def build(blender_ext: str | None = None, out_dir: str | None = None, version: str | None = None,
          repo_dir: str | None = None) -> str:
    """Build, validate and return the zip's path; with ``repo_dir`` also publish it there."""
    tool = blender_ext or find_blender_ext()
    out_dir = out_dir or os.path.join(REPO, "dist")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tripo3d-build-") as stage:
        manifest = _stage(stage, version)
        zip_path = os.path.join(out_dir, f"{manifest['id']}-{manifest['version']}.zip")
        subprocess.run([sys.executable, tool, "build", "--source-dir", stage, "--output-filepath", zip_path],
                       check=True)
    subprocess.run([sys.executable, tool, "validate", zip_path], check=True)
    if repo_dir:
        publish(zip_path, repo_dir, tool, manifest["id"])
    return zip_path


def publish(zip_path: str, repo_dir: str, tool: str, ext_id: str) -> str:
    """Put the zip in ``repo_dir`` and regenerate its index.json; returns the index path.

    Older zips of this extension are moved out of the listing into old/ (one
    entry per id keeps the index unambiguous; the old files stay for rollback)."""
    os.makedirs(repo_dir, exist_ok=True)
    target = os.path.join(repo_dir, os.path.basename(zip_path))
    for old in glob.glob(os.path.join(repo_dir, f"{ext_id}-*.zip")):
        if os.path.abspath(old) != os.path.abspath(target):
            os.makedirs(os.path.join(repo_dir, "old"), exist_ok=True)
            os.replace(old, os.path.join(repo_dir, "old", os.path.basename(old)))
    if os.path.abspath(zip_path) != os.path.abspath(target):
        shutil.copy2(zip_path, target)
    subprocess.run([sys.executable, tool, "server-generate", "--repo-dir", repo_dir, "--html"], check=True)
    return os.path.join(repo_dir, "index.json")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blender-ext", help="path to Blender's blender_ext.py")
    ap.add_argument("--out-dir", help="where the zip goes (default dist/)")
    ap.add_argument("--repo-dir", help="also publish the zip there with an index.json for Blender to update from")
    ap.add_argument("--version", help="build under this manifest version instead of the repository's")
    args = ap.parse_args()
    try:
        path = build(args.blender_ext, args.out_dir, args.version, args.repo_dir)
    except subprocess.CalledProcessError as exc:
        print(f"error: the extension tool failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    except WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
