#!/usr/bin/env bash
# Make the venv of one matrix leg: real Blender <version> as a Python module.
#   scripts/bootstrap_matrix.sh bpy42     -> .venv-bpy42 (bpy 4.2 LTS)
#   scripts/bootstrap_matrix.sh bpy50     -> .venv-bpy50 (bpy 5.0)
# Safe to run again: it reinstalls only when the pin or requirements-matrix.txt
# changed (same stamp idea as scripts/bootstrap.sh). Prints the venv's path.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  bpy42) BPY="bpy==4.2.23" ;;   # the latest 4.2 LTS on PyPI
  bpy50) BPY="bpy==5.0.1" ;;
  *) echo "usage: $0 bpy42|bpy50" >&2; exit 2 ;;
esac
VENV=".venv-$1"

. scripts/python311.sh

stamp="$VENV/.requirements.sha256"
want=$( { echo "$BPY"; cat requirements-matrix.txt; } | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$VENV"; exit 0
fi
echo "Setting up $VENV ($BPY, about 800 MB; first time only)..." >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$BPY" -r requirements-matrix.txt
echo "$want" > "$stamp"
echo "$VENV"
