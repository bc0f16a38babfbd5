#!/usr/bin/env bash
# Make the venv of one leg of matrix.txt: real Blender <version> as a Python
# module (PyPI bpy) plus what the leg's tests need. Prints the venv's python.
#   scripts/bootstrap_matrix.sh bpy45   -> .venv/bin/python (scripts/bootstrap.sh)
#   scripts/bootstrap_matrix.sh bpy42   -> .venv-bpy42/bin/python       (where: host)
#   scripts/bootstrap_matrix.sh bpy53   -> /opt/bpy53/bin/python inside .cache/trixie
#                                          (where: trixie; run it with scripts/run_in_trixie.sh)
# Safe to run again: a venv is rebuilt only when its line in matrix.txt or its
# requirements file (requirements-dev.txt for the full suite, else
# requirements-matrix.txt) changed; the stamp is a sha256 of both.
#
# Trixie legs (PyPI bpy 5.1+ is built for Python 3.13 only, Debian trixie's
# python3 is 3.13): the chroot is built or completed first
# (tools/gui/setup_blender_chroot.sh), adding python3-venv, EGL (bpy renders
# previews offscreen through it; without it the process aborts) and nodejs (for
# the tests that run Khronos' glTF-Validator and the Flamenco job script).
# pip inside the chroot cannot verify the registry's TLS chain, so every wheel
# is downloaded here on the host into ROOT/var/cache/tripo-wheels and installed
# inside with --no-index. What the tests would otherwise fetch or make from
# inside is made here as well.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

. scripts/matrix.sh
LEG="${1:-}"
if [ -z "$LEG" ] || ! matrix_line "$LEG" >/dev/null; then
  echo "usage: $0 LEG   (LEG: $(matrix_legs | tr '\n' ' '))" >&2; exit 2
fi
VERSION=$(matrix_field "$LEG" bpy)
WHERE=$(matrix_field "$LEG" where)
TESTS=$(matrix_field "$LEG" tests)
case "$TESTS" in gui:*)
  echo "$0: leg $LEG runs the window tests with .venv on a Debian chroot's own Blender: no venv of its own" >&2
  exit 2 ;;
esac
case "$TESTS" in full|not-gui) REQ=requirements-dev.txt ;; *) REQ=requirements-matrix.txt ;; esac

if [ "$LEG" = bpy45 ]; then           # the main venv
  scripts/bootstrap.sh
  echo "$REPO/.venv/bin/python"; exit 0
fi

want=$( { matrix_line "$LEG"; cat "$REQ"; } | sha256sum | cut -d' ' -f1)

case "$WHERE" in
host)
  . scripts/python311.sh
  VENV=".venv-$LEG"
  stamp="$VENV/.requirements.sha256"
  if ! { [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
    echo "Setting up $VENV (bpy==$VERSION, about 800 MB; first time only)..." >&2
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "bpy==$VERSION" -r "$REQ"
    echo "$want" > "$stamp"
  fi
  echo "$REPO/$VENV/bin/python"
  ;;

trixie)
  ROOT="$REPO/.cache/trixie"
  # The chroot of the window tests, plus what these legs need in it.
  TRIPO_GUI_EXTRA_PACKAGES="python3-venv nodejs libegl1 libegl-mesa0" tools/gui/setup_blender_chroot.sh "$ROOT" trixie
  # What the tests would otherwise fetch or make from inside the chroot, made
  # here (cached under .cache/): the extension's bundled wheels, a Draco GLB
  # (not every Blender in the chroot writes Draco; the main venv's does), and
  # gltf-validator.
  . scripts/python311.sh
  "$PY" -m tools.bundled_wheels >/dev/null
  if [ ! -f .cache/draco/sphere_draco.glb ]; then
    scripts/bootstrap.sh
    mkdir -p .cache/draco
    .venv/bin/python -m tools.draco_sphere .cache/draco/sphere_draco.glb >/dev/null 2>&1 \
      || { echo "$0: the main venv's Blender could not write a Draco GLB" >&2; exit 1; }
  fi
  if [ "$TESTS" = not-gui ] && [ ! -f .cache/node/node_modules/gltf-validator/package.json ]; then
    validator=$(sed -n 's/^GLTF_VALIDATOR_VERSION = "\([^"]*\)".*/\1/p' tests/sim/test_gateway_sim.py)
    echo "Installing gltf-validator@$validator into .cache/node (for the tests in the chroot)..." >&2
    mkdir -p .cache/node
    npm install --prefix .cache/node --no-audit --no-fund --loglevel=error "gltf-validator@$validator" >&2
  fi

  VENV="/opt/$LEG"
  stamp="$ROOT$VENV/.requirements.sha256"
  if ! { [ -x "$ROOT$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
    echo "Setting up $VENV in $ROOT (bpy==$VERSION, about 800 MB; first time only)..." >&2
    python_version=$(matrix_field "$LEG" python)
    wheels=/var/cache/tripo-wheels
    mkdir -p "$ROOT$wheels"
    # Any manylinux tag trixie's glibc (2.41) can run.
    platforms=()
    for minor in $(seq 41 -1 17); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
    platforms+=(--platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64
                --platform linux_x86_64)
    "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
      --python-version "$python_version" "${platforms[@]}" -d "$ROOT$wheels" "bpy==$VERSION" -r "$REQ"
    rm -f "$stamp"
    scripts/run_in_trixie.sh --root "$ROOT" sh -c "set -e; rm -rf '$VENV'; python3 -m venv '$VENV'; \
      '$VENV/bin/python' -m pip install --quiet --disable-pip-version-check --no-index \
        --find-links '$wheels' 'bpy==$VERSION' -r '$REPO/$REQ'"
    echo "$want" > "$stamp"
  fi
  echo "$VENV/bin/python"
  ;;

*) echo "$0: leg $LEG: unknown place '$WHERE' in matrix.txt" >&2; exit 2 ;;
esac
