#!/usr/bin/env bash
# Make .venv with real Blender as a Python module (PyPI bpy) and the dev tools.
# Safe to run again: it reinstalls only when requirements-dev.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    PY=$(command -v "$candidate"); break
  fi
done
if [ -z "$PY" ]; then
  echo "error: Python 3.11 is needed (the PyPI bpy 4.5 module is built for it); install python3.11 and run again." >&2
  exit 2
fi

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
