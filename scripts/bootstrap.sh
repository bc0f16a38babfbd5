#!/usr/bin/env bash
# Make .venv with real Blender as a Python module (PyPI bpy) and the dev tools.
# Safe to run again: it reinstalls only when requirements-dev.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/python311.sh

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "Setting up .venv (real Blender as a Python module, about 800 MB; first time only)..." >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
echo "$want" > "$stamp"
