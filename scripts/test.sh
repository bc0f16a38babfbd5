#!/usr/bin/env bash
# Check the layer contracts (lint-imports with .importlinter, tools/check_cycles.py,
# tools/check_layout.py; a broken one fails the run but the tests still run),
# then run every test, on every Blender of the matrix (matrix.txt, in its order):
#   bpy45    PyPI bpy 4.5 LTS (.venv): the full suite, with the window tests,
#            which run Debian trixie's Blender 4.3 in a chroot (.cache/trixie)
#   bpy52    bpy 5.2 LTS (Python 3.13, in that chroot): the full suite but the
#            window tests
#   bpy42, bpy50 (host venvs), bpy51, bpy53 (Python 3.13, in the chroot): the
#            tests marked `matrix` (end to end, install/enable, reload, import,
#            image formats, update repository)
#   gui-sid  the window tests on Debian sid's Blender 5.x (a chroot in .cache/sid)
# Needs root (debootstrap, chroot, mount namespaces). Everything is installed on
# the first run (venvs, chroots: several GB under .venv*/ and .cache/) and
# rebuilt when a pin changes.
#   scripts/test.sh                 everything
#   scripts/test.sh -m "not gui"    bpy45 without the window tests (other legs as always)
# Extra arguments go to the bpy45 leg's pytest; the other legs run their own
# selection. TRIPO_MATRIX_LEGS picks legs: TRIPO_MATRIX_LEGS="bpy45" the main
# suite only, TRIPO_MATRIX_LEGS="bpy52 bpy53" those two (unset: all).
# Each leg's time, result and test counts are printed, and a summary at the
# end, then whether PyPI has newer bpy releases than the pins (information
# only, tools/matrix_updates.py; TRIPO_CHECK_UPDATES=0 skips it). Each leg's
# output is also kept in .cache/test-logs/LEG.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/matrix.sh

ALL_LEGS=$(matrix_legs | tr '\n' ' ')
LEGS=${TRIPO_MATRIX_LEGS-$ALL_LEGS}
for leg in $LEGS; do
    matrix_line "$leg" >/dev/null || { echo "[test.sh] no leg $leg in matrix.txt (legs: $ALL_LEGS)" >&2; exit 2; }
done

SUMMARY=()
STATUS=0
LOGS=.cache/test-logs
mkdir -p "$LOGS"

counts() {  # counts LOG: "N passed, N failed, N skipped[, N errors]" from pytest's final line
    local last n passed failed skipped errors
    last=$(grep -E '^(=+ )?([0-9]+ [a-z]+|no tests ran).* in [0-9.]+s' "$1" | tail -n1 || true)
    [ -n "$last" ] || { echo "no pytest result line"; return; }
    n() { grep -oE "[0-9]+ $1" <<<"$last" | grep -oE '^[0-9]+' || echo 0; }
    passed=$(n passed); failed=$(n failed); skipped=$(n skipped); errors=$(n 'errors?')
    printf '%s passed, %s failed, %s skipped' "$passed" "$failed" "$skipped"
    [ "$errors" = 0 ] || printf ', %s errors' "$errors"
}

record() {  # record NAME SECONDS RC [COUNTS]
    local line
    line="$(printf '%-46s %5d s  %-18s %s' "$1" "$2" "$([ "$3" = 0 ] && echo passed || echo "FAILED (exit $3)")" "${4:-}")"
    echo "[test.sh] $line"
    SUMMARY+=("$line")
    [ "$3" = 0 ] || STATUS=1
}

run_step() {  # run_step NAME LIMIT_SECONDS COMMAND...: as run_leg, for a step that is not pytest
    local name=$1 limit=$2 start rc=0
    shift 2
    start=$(date +%s)
    echo "[test.sh] $name: $(printf '%q ' "$@")"
    timeout --kill-after=30 "$limit" "$@" || rc=$?
    record "$name" $(( $(date +%s) - start )) "$rc"
}

run_leg() {  # run_leg NAME LOG LIMIT_SECONDS COMMAND...: time it, note the result, go on
    local name=$1 log=$2 limit=$3 start rc
    shift 3
    start=$(date +%s)
    echo "[test.sh] leg $name: $(printf '%q ' "$@")"
    # A hard limit, so a hung Blender can never hold CI for hours.
    set +e
    timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    record "$name" $(( $(date +%s) - start )) "$rc" "($(counts "$log"))"
}

describe() {  # the summary's name of a leg
    local bpy python where tests
    bpy=$(matrix_field "$1" bpy); python=$(matrix_field "$1" python)
    where=$(matrix_field "$1" where); tests=$(matrix_field "$1" tests)
    case "$tests" in
        gui:*) echo "$1 (window tests, Debian ${tests#gui:})" ;;
        *) echo "$1 (bpy $bpy, py $python, $where: $tests)" ;;
    esac
}

# ------------------------------------------------------------------ setup ---
declare -A PYTHON
setup() {
    local leg
    scripts/bootstrap.sh || return    # .venv: ruff, the update check and the window legs' host side
    for leg in $LEGS; do
        case "$(matrix_field "$leg" tests)" in
            gui:*) tools/gui/setup_blender_chroot.sh "" "$(matrix_field "$leg" tests | cut -d: -f2)" || return ;;
            *) PYTHON[$leg]=$(scripts/bootstrap_matrix.sh "$leg") || return ;;
        esac
    done
    .venv/bin/ruff check --quiet tripo_addon scripts tests tools
}
start=$(date +%s)
rc=0
setup || rc=$?
record "setup (venvs, chroots, ruff)" $(( $(date +%s) - start )) "$rc"
[ "$rc" = 0 ] || { echo "[test.sh] setup failed: no leg runs" >&2; exit 1; }

# All three always run, so one run lists every violation (docs/architecture.md).
run_step "layer contracts" 300 bash -c '
    rc=0
    .venv/bin/lint-imports --no-cache --no-logo || rc=1
    .venv/bin/python -m tools.check_cycles || rc=1
    .venv/bin/python -m tools.check_layout || rc=1
    exit $rc'

# ------------------------------------------------------------------- legs ---
PYTEST=(-m pytest -p no:cacheprovider)
for leg in $LEGS; do
    where=$(matrix_field "$leg" where)
    tests=$(matrix_field "$leg" tests)
    case "$tests" in
        full) ARGS=("$@"); limit=3000 ;;
        not-gui) ARGS=(-m "not gui"); limit=2400 ;;
        matrix) ARGS=(-m "matrix and not gui" tests/blender); limit=900 ;;   # where they all live
        gui:*) ARGS=(-m gui tests/gui); limit=1800 ;;
        *) echo "[test.sh] leg $leg: unknown tests '$tests' in matrix.txt" >&2; exit 2 ;;
    esac
    log="$LOGS/$leg.log"
    case "$tests:$where" in
        gui:*)
            suite=${tests#gui:}
            run_leg "$(describe "$leg")" "$log" "$limit" env TRIPO_GUI_SUITE="$suite" \
                TRIPO_GUI_ROOT="$PWD/.cache/$suite" .venv/bin/python "${PYTEST[@]}" "${ARGS[@]}" ;;
        *:host) run_leg "$(describe "$leg")" "$log" "$limit" "${PYTHON[$leg]}" "${PYTEST[@]}" "${ARGS[@]}" ;;
        *:trixie) run_leg "$(describe "$leg")" "$log" "$limit" \
                scripts/run_in_trixie.sh "${PYTHON[$leg]}" "${PYTEST[@]}" "${ARGS[@]}" ;;
        *) echo "[test.sh] leg $leg: unknown place '$where' in matrix.txt" >&2; exit 2 ;;
    esac
done

echo "[test.sh] summary:"
printf '[test.sh]   %s\n' "${SUMMARY[@]}"
if [ "${TRIPO_CHECK_UPDATES:-1}" != 0 ]; then
    timeout 120 .venv/bin/python -m tools.matrix_updates 2>&1 | sed 's/^/[test.sh] updates: /' || true
fi
exit "$STATUS"
