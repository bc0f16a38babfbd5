#!/usr/bin/env bash
# Run a command inside the Debian trixie chroot (.cache/trixie, built by
# tools/gui/setup_blender_chroot.sh) with the repository visible at its own
# absolute path: how the Python 3.13 legs of scripts/test.sh run pytest.
#
# Usage:
#   scripts/run_in_trixie.sh [OPTIONS] [--] COMMAND [ARGS...]
#     e.g. scripts/run_in_trixie.sh /opt/bpy52/bin/python -m pytest tests/core
#
# Options:
#   --root ROOT   chroot (default <repo>/.cache/trixie)
#   --env NAME    pass host variable NAME through as well (repeatable)
#   --cwd DIR     working directory inside (default: the current one if it is
#                 in the repository, else the repository)
#
# The command runs as root with a clean environment: PATH, LANG, TERM,
# PYTHONUNBUFFERED, HOME and TMPDIR (both under one fresh per-run directory in
# ROOT/tmp, deleted afterwards), CI and every host variable named PIXAZO_* or
# TRIPO_*, and --env NAME. /proc, /dev (with /dev/shm) and /sys are bound in;
# the network is the host's (a server on 127.0.0.1 outside is reachable).
#
# All mounts are made in a private mount namespace (unshare -m): they are never
# visible on the host and vanish with the run even if this script is killed.
# It holds the same shared lock on the chroot as tools/gui/run_blender_gui.sh,
# so concurrent runs never remove each other's mount points.
# Exit status: the command's; 130 on a signal, 2 on usage errors, 3 if the
# chroot is missing.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
ORIG_ARGS=("$@")

log() { printf '[run_in_trixie] %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

ROOT="$REPO/.cache/trixie"
PASS_ENV=()
CWD=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --env) PASS_ENV+=("$2"); shift 2 ;;
        --cwd) CWD="$2"; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) log "unknown option $1"; usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage

if [ "$(id -u)" != 0 ]; then log "must run as root (chroot, mount)"; exit 2; fi
ROOT="$(realpath -m "$ROOT")"
if [ ! -x "$ROOT/usr/bin/python3" ]; then
    log "no chroot at $ROOT; run tools/gui/setup_blender_chroot.sh first"
    exit 3
fi
if [ -z "$CWD" ]; then
    case "$PWD/" in "$REPO"/*) CWD="$PWD" ;; *) CWD="$REPO" ;; esac
fi

# Re-exec in a private mount namespace; `exec` keeps the pid for signals.
if [ -z "${_TRIPO_TRIXIE_IN_NS:-}" ]; then
    export _TRIPO_TRIXIE_IN_NS=1
    exec unshare --mount --propagation private "$0" "${ORIG_ARGS[@]}"
fi
unset _TRIPO_TRIXIE_IN_NS

MOUNTED=()      # mount points we made, in order (we unmount only these)
CREATED=()      # "top|leaf" of mount point directories we created
RUN_TMP=""
LOCKED=0

make_mountpoint() {
    local dst="$1" top="" p="$1"
    while [ ! -e "$p" ]; do top="$p"; p="$(dirname "$p")"; done
    mkdir -p "$dst"
    [ -n "$top" ] && CREATED+=("$top|$dst")
    return 0
}

bind() {  # bind SRC DST [recursive]
    local how="--bind"
    [ "${3:-}" = recursive ] && how="--rbind"
    make_mountpoint "$2"
    mount "$how" "$1" "$2"
    MOUNTED+=("$2")
}

cleanup() {
    local i entry top leaf
    for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do
        umount -R "${MOUNTED[$i]}" 2>/dev/null || umount -R -l "${MOUNTED[$i]}" 2>/dev/null \
            || log "WARNING: could not unmount ${MOUNTED[$i]}"
    done
    MOUNTED=()
    # Mount point directories go only if no other run uses the chroot (see
    # run_blender_gui.sh: removing one would detach that run's mount).
    [ "$LOCKED" = 1 ] && flock -x -n 9 || CREATED=()
    for ((i=${#CREATED[@]}-1; i>=0; i--)); do
        entry="${CREATED[$i]}"; top="${entry%%|*}"; leaf="${entry#*|}"
        while :; do
            rmdir "$leaf" 2>/dev/null || break
            [ "$leaf" = "$top" ] && break
            leaf="$(dirname "$leaf")"
        done
    done
    CREATED=()
    if [ -n "$RUN_TMP" ] && [ -d "$RUN_TMP" ] && ! grep -q " $RUN_TMP/" /proc/self/mountinfo; then
        rm -rf --one-file-system "$RUN_TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if exec 9>>"$ROOT/.tripo-gui-run.lock" && flock -s -w 60 9; then LOCKED=1; fi

bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev" recursive
bind /sys "$ROOT/sys"
bind "$REPO" "$ROOT$REPO"

mkdir -p "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"
RUN_TMP="$(mktemp -d "$ROOT/tmp/tripo-run.XXXXXXXX")"
IN_TMP="${RUN_TMP#"$ROOT"}"
mkdir -p "$RUN_TMP/home" "$RUN_TMP/tmp"

ENV_ARGS=(
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    LANG=C.UTF-8
    TERM="${TERM:-dumb}"
    HOME="$IN_TMP/home"
    TMPDIR="$IN_TMP/tmp"
    PYTHONUNBUFFERED=1
)
while IFS= read -r name; do
    ENV_ARGS+=("$name=${!name}")
done < <(compgen -e | grep -E '^(CI|PIXAZO_.*|TRIPO_.*)$' || true)
for name in "${PASS_ENV[@]+"${PASS_ENV[@]}"}"; do
    [ -n "${!name+x}" ] && ENV_ARGS+=("$name=${!name}")
done

CHILD=""
INTERRUPTED=""
on_signal() {
    INTERRUPTED=130
    [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null || true
}
trap on_signal INT TERM HUP
# shellcheck disable=SC2016
chroot "$ROOT" /usr/bin/env -i "${ENV_ARGS[@]}" /bin/sh -c 'cd "$0" && exec "$@"' "$CWD" "$@" &
CHILD=$!
rc=0
while :; do
    rc=0
    wait "$CHILD" || rc=$?
    kill -0 "$CHILD" 2>/dev/null || break     # wait was interrupted by a signal
done
trap - INT TERM HUP
if [ -n "$INTERRUPTED" ]; then exit "$INTERRUPTED"; fi
exit "$rc"
