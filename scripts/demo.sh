#!/usr/bin/env bash
# Demo: turn a sample image into a 3D model, save it in a .blend and render it.
# Without PIXAZO_API_KEY it runs offline against the local gateway simulator;
# with it, against the real Pixazo gateway (a paid job).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
