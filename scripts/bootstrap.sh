#!/usr/bin/env bash
# Make .venv with real Blender as a Python module (PyPI bpy, the bpy45 pin in
# matrix.txt) and the dev tools (requirements-dev.txt).
# Safe to run again: it reinstalls only when that pin or requirements-dev.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/python311.sh
. scripts/matrix.sh

BPY="bpy==$(matrix_field bpy45 bpy)"
stamp=.venv/.requirements.sha256
want=$( { matrix_line bpy45; cat requirements-dev.txt; } | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "Setting up .venv ($BPY: real Blender as a Python module, about 800 MB; first time only)..." >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check "$BPY" -r requirements-dev.txt
echo "$want" > "$stamp"
