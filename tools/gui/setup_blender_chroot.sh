#!/usr/bin/env bash
# Build (once) a Debian chroot that holds a real Blender plus Xvfb, for the GUI
# test harness (see tools/gui/run_blender_gui.sh): trixie's Blender 4.3 by
# default, or another suite's (sid has Blender 5.x).
#
# Usage: tools/gui/setup_blender_chroot.sh [ROOT [SUITE]]
#   ROOT defaults to <repo>/.cache/SUITE, SUITE to trixie (or $TRIPO_GUI_SUITE)
#
# Idempotent: if ROOT/usr/bin/blender runs and every package below (plus the
# extra ones) is installed, nothing is done; missing packages are added to an
# existing chroot. A chroot of another suite than SUITE is refused.
# Needs root. Downloads ~1.8 GB from the Debian mirror apt on this host already
# uses (read from /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list).
#
# Mounts: proc/dev/sys are bind-mounted into ROOT only while packages are
# installed, inside a private mount namespace (unshare -m), and unmounted by an
# EXIT trap. Even if this script is killed, the mounts die with the namespace
# and are never visible on the host.
#
# Environment:
#   TRIPO_GUI_DEBIAN_MIRROR  override the mirror URL
#   TRIPO_GUI_EXTRA_PACKAGES extra packages to install in the chroot
#                            (e.g. python3-venv nodejs for the bpy legs, see
#                            scripts/bootstrap_matrix.sh)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
SUITE="${2:-${TRIPO_GUI_SUITE:-trixie}}"
ROOT="${1:-$REPO/.cache/$SUITE}"
case "$SUITE" in ''|*[!a-z0-9-]*) echo "[setup_blender_chroot] bad suite: $SUITE" >&2; exit 2 ;; esac
# xvfb/xauth: X server for the GUI; libgl1-mesa-dri: software OpenGL (llvmpipe);
# imagemagick: `import -window root` screenshots; xdotool: synthetic clicks/keys;
# fonts-dejavu-core: a fallback font for ImageMagick/X (Blender ships its own);
# ca-certificates: lets the add-on talk HTTPS if a test ever needs it;
# python3-numpy: Blender's own glTF importer needs it (Debian's blender uses the
# system Python and only recommends it).
# No python3-requests, as with `apt install blender`: the extension zip brings
# its own (wheels). tools/gui/gui_host.py ensure_chroot() installs numpy into
# older chroots and removes requests from them; system_requests() adds it back
# for the one test that runs with it.
PACKAGES="blender xvfb xauth libgl1-mesa-dri imagemagick xdotool fonts-dejavu-core ca-certificates"
PACKAGES="$PACKAGES python3-numpy"
PACKAGES="$PACKAGES ${TRIPO_GUI_EXTRA_PACKAGES:-}"

log() { printf '[setup_blender_chroot] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

T_START="$(now)"

if [ "$(id -u)" != 0 ]; then
    log "must run as root (debootstrap, chroot, mount)"
    exit 2
fi

# ---------------------------------------------------------------- mounts ---
# Runs in a private mount namespace (re-exec below). We still track and undo
# every mount we make, and never touch a mount we did not make.
MOUNTED=()

mount_bind() {  # mount_bind SRC DST
    local src="$1" dst="$2"
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
    MOUNTED+=("$dst")
}

unmount_all() {
    local i
    for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do
        umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" 2>/dev/null \
            || log "WARNING: could not unmount ${MOUNTED[$i]}"
    done
    MOUNTED=()
}

blender_works() {  # exit 0 if ROOT has a running blender
    [ -x "$ROOT/usr/bin/blender" ] || return 1
    # Run in a throwaway mount namespace so nothing can leak.
    unshare --mount --propagation private bash -c '
        set -e
        R="$1"
        for d in proc dev sys; do mount --bind "/$d" "$R/$d"; done
        trap "for d in sys dev proc; do umount \"$R/\$d\" 2>/dev/null || true; done" EXIT
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LANG=C.UTF-8 \
            timeout 120 chroot "$R" blender --version
    ' _ "$ROOT" 2>/dev/null | grep -q '^Blender [0-9]'
}

missing_packages() {  # print the wanted packages not installed in ROOT (read from the host)
    local p status
    for p in $PACKAGES; do
        status="$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        [ "$status" = installed ] || printf '%s ' "$p"
    done
}

root_suite() {  # the suite ROOT was made from (chroots made before this was noted: trixie)
    local s=""
    [ -f "$ROOT/.tripo-debootstrap-done" ] && s="$(head -n1 "$ROOT/.tripo-debootstrap-done")"
    echo "${s:-trixie}"
}

fix_chroot() {
    # Blender's file browser reads /etc/mtab, which minbase does not create.
    [ -e "$ROOT/etc/mtab" ] || [ -L "$ROOT/etc/mtab" ] || ln -s ../proc/self/mounts "$ROOT/etc/mtab"
}

# Re-exec inside a private mount namespace (after the cheap "already done" check).
if [ -z "${_TRIPO_SETUP_IN_NS:-}" ]; then
    if [ -f "$ROOT/.tripo-debootstrap-done" ] && [ "$(root_suite)" != "$SUITE" ]; then
        log "$ROOT is a $(root_suite) chroot, not $SUITE; use another ROOT"
        exit 2
    fi
    if [ -z "$(missing_packages)" ] && blender_works; then
        fix_chroot
        log "blender already works in $ROOT: nothing to do ($(elapsed "$T_START") s)"
        exit 0
    fi
    export _TRIPO_SETUP_IN_NS=1 _TRIPO_SETUP_T_START="$T_START"
    exec unshare --mount --propagation private "$0" "$@"
fi
T_START="${_TRIPO_SETUP_T_START:-$T_START}"
trap 'unmount_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ----------------------------------------------------------- host tools ---
find_mirror() {
    if [ -n "${TRIPO_GUI_DEBIAN_MIRROR:-}" ]; then
        echo "$TRIPO_GUI_DEBIAN_MIRROR"; return
    fi
    local m=""
    # deb822 files: first URIs: line that is not the security archive.
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        m="$(awk '/^[[:space:]]*URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' \
              /etc/apt/sources.list.d/*.sources | head -n1)"
    fi
    # one-line format.
    if [ -z "$m" ]; then
        m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^(https?|ftp):/) { if ($i !~ /security/) {print $i; exit} break }}' \
              | head -n1)"
    fi
    [ -n "$m" ] || { log "could not find a Debian mirror in apt sources"; exit 3; }
    echo "$m"
}

if ! command -v debootstrap >/dev/null; then
    t="$(now)"
    log "installing debootstrap on the host"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    log "debootstrap installed ($(elapsed "$t") s)"
fi

MIRROR="$(find_mirror)"
log "mirror: $MIRROR  root: $ROOT"

# ------------------------------------------------------------ debootstrap ---
if [ ! -x "$ROOT/usr/bin/apt-get" ] || [ ! -f "$ROOT/.tripo-debootstrap-done" ]; then
    if [ -e "$ROOT" ] && [ -n "$(ls -A "$ROOT" 2>/dev/null)" ]; then
        # Refuse to wipe anything that has a live mount under it.
        if grep -q " $ROOT/" /proc/self/mountinfo; then
            log "$ROOT has mounts under it; refusing to remove it"; exit 4
        fi
        log "removing incomplete chroot $ROOT"
        rm -rf --one-file-system "$ROOT"
    fi
    mkdir -p "$ROOT"
    t="$(now)"
    log "debootstrap --variant=minbase $SUITE"
    debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 || {
        log "debootstrap failed; last lines of $ROOT.debootstrap.log:"; tail -n 20 "$ROOT.debootstrap.log" >&2; exit 5; }
    rm -f "$ROOT.debootstrap.log"
    echo "$SUITE" >"$ROOT/.tripo-debootstrap-done"
    log "debootstrap done ($(elapsed "$t") s)"
fi

# Name resolution and apt quirks of this host (e.g. snapshot mirrors whose
# Release files are "expired") apply to the chroot as well.
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
for f in /etc/apt/apt.conf.d/99*; do
    [ -f "$f" ] && grep -q 'Acquire::Check-' "$f" && cp "$f" "$ROOT/etc/apt/apt.conf.d/" || true
done
# No daemons may start inside the chroot during package installation.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

# --------------------------------------------------------------- packages ---
for d in proc dev sys; do mount_bind "/$d" "$ROOT/$d"; done

t="$(now)"
log "apt-get install in chroot: $PACKAGES"
# shellcheck disable=SC2086
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    chroot "$ROOT" bash -c "set -e; dpkg --configure -a >/dev/null 2>&1 || true; apt-get update -qq; \
        apt-get install -y -qq --no-install-recommends $PACKAGES >/var/log/tripo-apt-install.log 2>&1 \
        || { tail -n 30 /var/log/tripo-apt-install.log; exit 1; }; apt-get clean"
log "packages installed ($(elapsed "$t") s)"

unmount_all
fix_chroot

if ! blender_works; then
    log "blender does not run in $ROOT after installation"
    exit 6
fi
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$ROOT" sh -c 'blender --version 2>/dev/null | head -n1' >&2 || true
log "done: total $(elapsed "$T_START") s; size $(du -sh --one-file-system "$ROOT" | cut -f1)"
