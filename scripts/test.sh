#!/usr/bin/env bash
# Run every test: the pure core, the gateway simulator, the add-on inside real
# Blender (PyPI bpy), and the sidebar in a real Blender 4.3 window under Xvfb
# (that one needs root: it builds a Debian chroot in .cache/ on first run).
#   scripts/test.sh                 everything
#   scripts/test.sh -m "not gui"    all but the windowed Blender test
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check --quiet tripo_addon scripts tests
# A hard limit, so a hung Blender can never hold CI for hours.
exec timeout --kill-after=30 3000 .venv/bin/python -m pytest -p no:cacheprovider "$@"
