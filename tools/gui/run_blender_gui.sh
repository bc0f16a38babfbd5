#!/usr/bin/env bash
# Run a Python script inside a real, windowed Blender 4.3 (Debian trixie chroot
# built by tools/gui/setup_blender_chroot.sh) under Xvfb.
#
# Usage:
#   tools/gui/run_blender_gui.sh [OPTIONS] [--] SCRIPT.py [--] [SCRIPT_ARGS...]
#
# SCRIPT_ARGS reach the script after Blender's own "--" (sys.argv); read them
# with blender_gui_lib.script_args().
#
# Options:
#   --root ROOT         chroot (default <repo>/.cache/trixie)
#   --results DIR       create DIR on the host, make it visible at the same path
#                       in the chroot and export TRIPO_GUI_RESULTS=DIR
#   --bind DIR          make another host DIR visible at the same path
#                       (read-write bind mount; repeatable)
#   --env NAME          pass host env var NAME through as well (repeatable)
#   --timeout SECONDS   hard limit for the Blender run (default 600, or
#                       $TRIPO_GUI_TIMEOUT)
#   --blender-arg ARG   extra argument for blender before --python (repeatable),
#                       e.g. --blender-arg --online-mode
#   --screen WxHxD      Xvfb screen (default 1600x900x24)
#
# TRIPO_GUI_KEEP_TMP=1 keeps the per-run temp dir (Blender user dir, quit.blend)
# under ROOT/tmp for debugging.
#
# The repo is bind-mounted read-write at its own absolute path, so every path
# under it is identical inside and outside. The script's own directory is bound
# too if it is outside the repo. Inside the chroot this runs
#   xvfb-run -a -s '-screen 0 WxHxD' blender --factory-startup \
#       -noaudio --python-exit-code 1 [ARGS] --python SCRIPT.py -- SCRIPT_ARGS
# in a clean environment: PATH, LANG, TERM, PYTHONUNBUFFERED, HOME, TMPDIR and
# BLENDER_USER_RESOURCES (all three under one fresh temp dir per run, deleted
# afterwards), TRIPO_GUI_REPO (the repo path), TRIPO_GUI_RESULTS (--results),
# and every host variable named PIXAZO_*, TRIPO_* and --env NAME.
#
# All mounts are made in a private mount namespace (unshare -m) and undone by
# an EXIT trap: they are never visible on the host, and vanish with the last
# process of the run even if this script is SIGKILLed (Blender then still
# ends by --timeout). Concurrent runs on one chroot are fine (Xvfb picks a
# free display; mount point directories are only removed by the last run).
# Exit status: Blender's (= the script's; an uncaught error while the script
# loads gives 1), 124 on timeout, 130 on Ctrl-C/SIGTERM, 2 on usage errors,
# 3 if the chroot is missing.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
ORIG_ARGS=("$@")

log() { printf '[run_blender_gui] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }

ROOT="$REPO/.cache/trixie"
RESULTS=""
BINDS=()
PASS_ENV=()
TIMEOUT="${TRIPO_GUI_TIMEOUT:-600}"
BLENDER_ARGS=()
SCREEN="1600x900x24"

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --results) RESULTS="$2"; shift 2 ;;
        --bind) BINDS+=("$2"); shift 2 ;;
        --env) PASS_ENV+=("$2"); shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --blender-arg) BLENDER_ARGS+=("$2"); shift 2 ;;
        --screen) SCREEN="$2"; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) log "unknown option $1"; usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
SCRIPT="$1"; shift
# Accept both "SCRIPT.py ARGS" and "SCRIPT.py -- ARGS".
[ "${1:-}" = "--" ] && shift
SCRIPT_ARGS=("$@")

if [ "$(id -u)" != 0 ]; then log "must run as root (chroot, mount)"; exit 2; fi
ROOT="$(realpath -m "$ROOT")"
if [ ! -x "$ROOT/usr/bin/blender" ] || [ ! -x "$ROOT/usr/bin/xvfb-run" ]; then
    log "no blender/xvfb-run in $ROOT; run tools/gui/setup_blender_chroot.sh first"
    exit 3
fi
[ -f "$SCRIPT" ] || { log "no such script: $SCRIPT"; exit 2; }
SCRIPT="$(realpath "$SCRIPT")"
case "$TIMEOUT" in ''|*[!0-9.]*) log "bad --timeout $TIMEOUT"; exit 2 ;; esac

# Re-exec in a private mount namespace. `exec` keeps the pid, so signals sent
# to this script still reach it.
if [ -z "${_TRIPO_RUN_IN_NS:-}" ]; then
    export _TRIPO_RUN_IN_NS=1
    exec unshare --mount --propagation private "$0" "${ORIG_ARGS[@]}"
fi
unset _TRIPO_RUN_IN_NS

T_START="$(now)"

# ---------------------------------------------------------------- mounts ---
MOUNTED=()      # mount points we made, in order (we unmount only these)
CREATED=()      # directories we created in the chroot for mount points
RUN_TMP=""      # per-run temp dir (host path, inside ROOT/tmp)
LOCKED=0        # 1 while we hold the shared run lock (fd 9)

under() {  # under PATH DIR: is PATH equal to or below DIR?
    case "$1/" in "$2"/*) return 0 ;; esac
    return 1
}

make_mountpoint() {  # make_mountpoint DST: mkdir -p, remembering the top dir we created
    local dst="$1" top="" p="$1"
    while [ ! -e "$p" ]; do top="$p"; p="$(dirname "$p")"; done
    mkdir -p "$dst"
    [ -n "$top" ] && CREATED+=("$top|$dst")
    return 0
}

bind() {  # bind SRC DST [recursive]
    local src="$1" dst="$2" how="--bind"
    [ "${3:-}" = recursive ] && how="--rbind"
    make_mountpoint "$dst"
    mount "$how" "$src" "$dst"
    MOUNTED+=("$dst")
}

cleanup() {
    local i entry top leaf
    for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do
        umount -R "${MOUNTED[$i]}" 2>/dev/null || umount -R -l "${MOUNTED[$i]}" 2>/dev/null \
            || log "WARNING: could not unmount ${MOUNTED[$i]}"
    done
    MOUNTED=()
    # Remove the (now empty) mount point directories we created, leaf first,
    # but only if no other run uses this chroot: removing a directory that is
    # a mount point in another run's namespace would silently detach that
    # run's mount. (Shared lock while running; exclusive = we are alone.)
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
    if [ -n "${TRIPO_GUI_KEEP_TMP:-}" ] && [ -n "$RUN_TMP" ]; then
        log "kept $RUN_TMP (TRIPO_GUI_KEEP_TMP)"
    elif [ -n "$RUN_TMP" ] && [ -d "$RUN_TMP" ]; then
        # Only if nothing is mounted below it any more.
        grep -q " $RUN_TMP/" /proc/self/mountinfo || rm -rf --one-file-system "$RUN_TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Every run holds a shared lock on the chroot for its whole life (inherited by
# Blender, so even an orphaned Blender keeps it).
if exec 9>>"$ROOT/.tripo-gui-run.lock" && flock -s -w 60 9; then LOCKED=1; fi

bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev" recursive      # with /dev/shm (multiprocessing) and /dev/pts
bind /sys "$ROOT/sys"
bind "$REPO" "$ROOT$REPO"

covered() {  # is PATH already visible inside the chroot at the same path?
    local p="$1" m
    under "$p" "$REPO" && return 0
    for m in "${MOUNTED[@]}"; do
        under "$ROOT$p" "$m" && return 0
    done
    return 1
}

if [ -n "$RESULTS" ]; then
    mkdir -p "$RESULTS"
    RESULTS="$(realpath "$RESULTS")"
    covered "$RESULTS" || bind "$RESULTS" "$ROOT$RESULTS"
fi
for b in "${BINDS[@]+"${BINDS[@]}"}"; do
    [ -d "$b" ] || { log "--bind: not a directory: $b"; exit 2; }
    b="$(realpath "$b")"
    covered "$b" || bind "$b" "$ROOT$b"
done
covered "$SCRIPT" || bind "$(dirname "$SCRIPT")" "$ROOT$(dirname "$SCRIPT")"

# ------------------------------------------------------------ environment ---
mkdir -p "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"
RUN_TMP="$(mktemp -d "$ROOT/tmp/tripo-gui.XXXXXXXX")"
IN_TMP="${RUN_TMP#"$ROOT"}"
mkdir -p "$RUN_TMP/home" "$RUN_TMP/blender" "$RUN_TMP/tmp"

ENV_ARGS=(
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    LANG=C.UTF-8
    TERM="${TERM:-dumb}"
    HOME="$IN_TMP/home"
    TMPDIR="$IN_TMP/tmp"
    BLENDER_USER_RESOURCES="$IN_TMP/blender"
    PYTHONUNBUFFERED=1
    TRIPO_GUI_REPO="$REPO"
)
[ -n "$RESULTS" ] && ENV_ARGS+=(TRIPO_GUI_RESULTS="$RESULTS")
while IFS= read -r name; do
    case "$name" in
        TRIPO_GUI_REPO|TRIPO_GUI_RESULTS) ;;   # set above
        *) ENV_ARGS+=("$name=${!name}") ;;
    esac
done < <(compgen -e | grep -E '^(PIXAZO_|TRIPO_)' || true)
for name in "${PASS_ENV[@]+"${PASS_ENV[@]}"}"; do
    [ -n "${!name+x}" ] && ENV_ARGS+=("$name=${!name}")
done

log "root $ROOT; mounts: ${MOUNTED[*]#"$ROOT"}; user resources $IN_TMP/blender"

# -------------------------------------------------------------------- run ---
CHILD=""
INTERRUPTED=""
on_signal() {
    INTERRUPTED=130
    log "signal received: stopping Blender"
    [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null || true
}
trap on_signal INT TERM HUP
# timeout(1) puts itself in a new process group and, on expiry or on a TERM we
# forward, signals the whole group (xvfb-run, Xvfb, blender).
timeout --kill-after=15 "$TIMEOUT" \
    chroot "$ROOT" env -i "${ENV_ARGS[@]}" \
    xvfb-run -a -s "-screen 0 $SCREEN" \
    blender --factory-startup -noaudio --python-exit-code 1 \
        "${BLENDER_ARGS[@]+"${BLENDER_ARGS[@]}"}" \
        --python "$SCRIPT" -- "${SCRIPT_ARGS[@]+"${SCRIPT_ARGS[@]}"}" &
CHILD=$!
trap on_signal INT TERM HUP

rc=0
while :; do
    rc=0
    wait "$CHILD" || rc=$?
    kill -0 "$CHILD" 2>/dev/null || break     # wait was interrupted by a signal
done
trap - INT TERM HUP

[ "$rc" = 124 ] && log "TIMEOUT after ${TIMEOUT}s"
log "blender exited with $rc after $(elapsed "$T_START") s"
if [ -n "$INTERRUPTED" ]; then exit "$INTERRUPTED"; fi
exit "$rc"
