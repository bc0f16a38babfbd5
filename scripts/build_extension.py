"""Build dist/tripo3d-<version>.zip with Blender's own extension tool, then validate it.

    python scripts/build_extension.py [--blender-ext PATH]

The repository keeps the manifest at its root and the code in tripo_addon/;
an extension zip needs both at its top level, so they are staged first.
The tool comes from the PyPI bpy module (or --blender-ext).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def build(blender_ext: str | None = None, out_dir: str | None = None) -> str:
    tool = blender_ext or find_blender_ext()
    out_dir = out_dir or os.path.join(REPO, "dist")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tripo3d-build-") as stage:
        shutil.copy2(os.path.join(REPO, "blender_manifest.toml"), stage)
        for name in ("LICENSE",):
            if os.path.exists(os.path.join(REPO, name)):
                shutil.copy2(os.path.join(REPO, name), stage)
        shutil.copytree(os.path.join(REPO, "tripo_addon"), stage, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, tool, "build", "--source-dir", stage, "--output-dir", out_dir],
                       check=True)
    zips = sorted(glob.glob(os.path.join(out_dir, "tripo3d-*.zip")), key=os.path.getmtime)
    zip_path = zips[-1]
    subprocess.run([sys.executable, tool, "validate", zip_path], check=True)
    return zip_path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blender-ext", help="path to Blender's blender_ext.py")
    ap.add_argument("--out-dir", help="where the zip goes (default dist/)")
    args = ap.parse_args()
    try:
        path = build(args.blender_ext, args.out_dir)
    except subprocess.CalledProcessError as exc:
        print(f"error: the extension tool failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
