#!/usr/bin/env bash
# Run every test: first the layer contracts (lint-imports with .importlinter,
# tools/check_cycles.py, tools/check_layout.py; a broken one fails the run but
# the tests still run), then the pure core, the gateway simulator, the add-on
# inside real Blender (PyPI bpy 4.5), and the sidebar in a real Blender 4.3 window under Xvfb
# (that one needs root: it builds a Debian chroot in .cache/ on first run);
# then the matrix legs: the tests marked `matrix` (end-to-end, install/enable,
# import, update repository) on bpy 4.2 LTS and bpy 5.0, each in its own venv
# (scripts/bootstrap_matrix.sh).
#   scripts/test.sh                 everything
#   scripts/test.sh -m "not gui"    all but the windowed Blender test
# Extra arguments go to the main suite's pytest; the legs always run their own
# selection. TRIPO_MATRIX_LEGS="bpy42" runs one leg, TRIPO_MATRIX_LEGS="" none.
# Each leg's time is printed, and a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
LEGS=${TRIPO_MATRIX_LEGS-bpy42 bpy50}
for leg in $LEGS; do scripts/bootstrap_matrix.sh "$leg" >/dev/null; done
.venv/bin/ruff check --quiet tripo_addon scripts tools tests

SUMMARY=()
STATUS=0
run_leg() {  # run_leg NAME LIMIT_SECONDS COMMAND...: time it, note the result, go on
    local name=$1 limit=$2 start rc=0
    shift 2
    start=$(date +%s)
    echo "[test.sh] leg $name: $*"
    # A hard limit, so a hung Blender can never hold CI for hours.
    timeout --kill-after=30 "$limit" "$@" || rc=$?
    local line
    line="$(printf '%-28s %5d s  %s' "$name" $(( $(date +%s) - start )) \
            "$([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)")")"
    echo "[test.sh] $line"
    SUMMARY+=("$line")
    [ "$rc" = 0 ] || STATUS=1
}

# All three always run, so one run lists every violation (docs/architecture.md).
run_leg "layer contracts" 300 bash -c '
    rc=0
    .venv/bin/lint-imports --no-cache --no-logo || rc=1
    .venv/bin/python -m tools.check_cycles || rc=1
    .venv/bin/python -m tools.check_layout || rc=1
    exit $rc'
run_leg "bpy 4.5 (full suite)" 3000 .venv/bin/python -m pytest -p no:cacheprovider "$@"
for leg in $LEGS; do
    run_leg "$leg (matrix)" 900 ".venv-$leg/bin/python" -m pytest -p no:cacheprovider -m "matrix and not gui" tests/blender
done

echo "[test.sh] summary:"
printf '[test.sh]   %s\n' "${SUMMARY[@]}"
exit "$STATUS"
