"""Host-side helpers for the window tests and tools/bench_ui.py.

Everything here runs on the HOST (not inside Blender): building the chroot
and the extension zip, making test images, running a script in the windowed
Blender (tools/gui/run_blender_gui.sh), and checking what a run left behind.
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import sys
import time

from tools.blender_tracebacks import tracebacks  # noqa: F401  (the window tests' check)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUI_SCRIPTS = os.path.dirname(os.path.abspath(__file__))
SETUP = os.path.join(GUI_SCRIPTS, "setup_blender_chroot.sh")
RUN = os.path.join(GUI_SCRIPTS, "run_blender_gui.sh")
#: The Debian suite whose Blender the window tests run (trixie: 4.3; sid has
#: 5.x), and its chroot. scripts/test.sh sets both for its window-test legs.
SUITE = os.environ.get("TRIPO_GUI_SUITE") or "trixie"
ROOT = os.environ.get("TRIPO_GUI_ROOT") or os.path.join(REPO, ".cache", SUITE)
GENERATE_GUI = os.path.join(REPO, "tests", "gui", "generate_gui.py")

#: Python modules Debian's blender package does not pull in (blender.org builds
#: bundle them; Debian's uses the system Python and only recommends them) that
#: the chroot must have: numpy, for Blender's own glTF importer.
CHROOT_PYTHON_PACKAGES = {"numpy": "python3-numpy"}
#: ...and the one it must NOT have, as after `apt install blender`: the
#: extension zip carries requests as wheels. system_requests() adds it for the
#: test that runs with it.
SYSTEM_REQUESTS = ("requests", "python3-requests")
#: Inside the chroot: the .deb files of python3-requests and its dependencies,
#: kept after the first download so adding them again costs no network.
REQUESTS_DEBS = "/var/cache/tripo-requests-debs"


def why_not_runnable() -> str | None:
    if os.environ.get("TRIPO_GUI_SKIP"):
        return "TRIPO_GUI_SKIP is set"
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mount namespace)"
    for tool in ("unshare", "chroot", "mount", "timeout"):
        if shutil.which(tool) is None:
            return f"needs {tool} on the host"
    return None


def gui_test_marks(pytest) -> list:
    """The marks of every window test module: gui and slow, skipped only off CI
    (say, a developer without root); CI must run them, and fails if it cannot."""
    reason = why_not_runnable()
    return [pytest.mark.gui, pytest.mark.slow,
            pytest.mark.skipif(reason is not None and not os.environ.get("CI"), reason=str(reason))]


def log(*parts) -> None:
    print("[gui-host]", *parts, flush=True)


# ----------------------------------------------------------------- chroot ---

def chroot_python_dirs(root: str) -> list[str]:
    return [os.path.join(root, "usr", "lib", "python3", "dist-packages")]


def _has_module(root: str, module: str) -> bool:
    return any(os.path.isdir(os.path.join(d, module)) for d in chroot_python_dirs(root))


def missing_chroot_packages(root: str) -> list[str]:
    """Debian packages to install so Blender's importer works in the chroot."""
    return [package for module, package in CHROOT_PYTHON_PACKAGES.items() if not _has_module(root, module)]


def chroot_blender_version(root: str = ROOT) -> str:
    """The upstream version of the chroot's Debian blender package ("4.3.2",
    "5.2.2"), read from its dpkg database: what bpy.app.version_string starts with."""
    proc = subprocess.run(["dpkg-query", f"--admindir={os.path.join(root, 'var', 'lib', 'dpkg')}", "-W",
                           "-f=${Version}", "blender"], check=True, capture_output=True, text=True)
    return re.sub(r"^\d+:", "", proc.stdout.strip()).split("+")[0].split("-")[0]


def undo_log_args(log_file: str, root: str = ROOT) -> list[str]:
    """Blender's arguments to write its undo log to ``log_file``: Blender 5
    renamed the category (ed.undo -> undo) and logs only warnings unless told."""
    if int(chroot_blender_version(root).split(".")[0]) >= 5:
        return ["--log", "undo", "--log-level", "info", "--log-file", log_file]
    return ["--log", "ed.undo", "--log-file", log_file]


def has_system_requests(root: str = ROOT) -> bool:
    return _has_module(root, SYSTEM_REQUESTS[0])


def _apt_in_chroot(root: str, shell: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``shell`` as root in the chroot with proc/dev/sys bound, as
    setup_blender_chroot.sh does: in a private mount namespace, unmounted by the trap."""
    script = r'''set -e
R="$1"; shift
for d in proc dev sys; do mount --bind "/$d" "$R/$d"; done
trap 'for d in sys dev proc; do umount "$R/$d" 2>/dev/null || umount -l "$R/$d" 2>/dev/null || true; done' EXIT
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    chroot "$R" sh -c "$1"
'''
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script,
                           "_", root, shell], check=False, capture_output=True, text=True, timeout=timeout)


def _apt_or_raise(root: str, shell: str, what: str) -> None:
    res = _apt_in_chroot(root, shell)
    if res.returncode != 0:
        raise RuntimeError(f"could not {what} in the chroot:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")


def set_system_requests(present: bool, root: str = ROOT) -> float:
    """Install or remove the chroot's python3-requests (with the dependencies
    it pulls in); returns the seconds it took. The .deb files are kept in the
    chroot, so only the first install downloads anything."""
    t0 = time.monotonic()
    if present and not has_system_requests(root):
        log(f"adding python3-requests to {root}")
        _apt_or_raise(root, (
            f"mkdir -p {REQUESTS_DEBS}/partial; opts='-o Dir::Cache::archives={REQUESTS_DEBS}'; "
            f"ls {REQUESTS_DEBS}/python3-requests_*.deb >/dev/null 2>&1 || apt-get update -qq; "
            f"apt-get install -y -qq --no-install-recommends $opts {SYSTEM_REQUESTS[1]} >/dev/null"),
            "install python3-requests")
    elif not present and has_system_requests(root):
        log(f"removing python3-requests from {root}")
        _apt_or_raise(root, f"apt-get purge -y -qq --autoremove {SYSTEM_REQUESTS[1]} >/dev/null",
                      "remove python3-requests")
    if has_system_requests(root) != present:
        raise RuntimeError(f"python3-requests is still {'missing from' if present else 'in'} {root}")
    return round(time.monotonic() - t0, 1)


@contextlib.contextmanager
def system_requests(root: str = ROOT):
    """The chroot with python3-requests installed, removed again afterwards
    (ensure_chroot() also removes it, should a run die in between)."""
    seconds = set_system_requests(True, root)
    try:
        yield seconds
    finally:
        set_system_requests(False, root)


def ensure_chroot(root: str = ROOT, timeout: float = 3600) -> dict:
    """Build (or reuse) the chroot as a Debian user has it after `apt install
    blender python3-numpy`: numpy there, requests not. Returns timings."""
    t0 = time.monotonic()
    proc = subprocess.run(["bash", SETUP, root, SUITE], check=False, capture_output=True, text=True,
                          timeout=timeout)
    setup_s = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"setup_blender_chroot.sh failed (rc {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    packages = missing_chroot_packages(root)
    t1 = time.monotonic()
    if packages:
        log(f"installing {' '.join(packages)} in {root}")
        _apt_or_raise(root, "apt-get update -qq && apt-get install -y -qq --no-install-recommends "
                      f"{' '.join(packages)} >/dev/null && apt-get clean", f"install {packages}")
        if missing_chroot_packages(root):
            raise RuntimeError(f"{packages} still missing in the chroot after installing them")
    set_system_requests(False, root)
    return {"setup_s": round(setup_s, 1), "extra_packages": packages,
            "extra_packages_s": round(time.monotonic() - t1, 1), "setup_log": proc.stderr[-2000:]}


# -------------------------------------------------------------- extension ---

def build_zip(out_dir: str, python: str | None = None) -> str:
    """Build the extension zip with scripts/build_extension.py; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    python = python or _venv_python()
    proc = subprocess.run([python, os.path.join(REPO, "scripts", "build_extension.py"),
                           "--out-dir", out_dir], check=False, capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"build_extension.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    zips = sorted(glob.glob(os.path.join(out_dir, "tripo3d-*.zip")), key=os.path.getmtime)
    if not zips:
        raise RuntimeError(f"no zip in {out_dir}:\n{proc.stdout[-2000:]}")
    return zips[-1]


def _venv_python() -> str:
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


# ----------------------------------------------------------------- images ---

def make_object_image(path: str, seed: int = 0, size: int = 512) -> str:
    """A PNG of a simple 'object' (a toy robot) on a plain background, with
    colours varied by ``seed`` so each image has its own bytes."""
    from PIL import Image, ImageDraw

    hue = (seed * 47) % 360
    import colorsys

    r, g, b = (int(255 * c) for c in colorsys.hsv_to_rgb(hue / 360.0, 0.65, 0.9))
    im = Image.new("RGB", (size, size), (232, 236, 240))
    d = ImageDraw.Draw(im)
    s = size / 512.0

    def box(x0, y0, x1, y1, fill, radius=18):
        d.rounded_rectangle([x0 * s, y0 * s, x1 * s, y1 * s], radius=int(radius * s), fill=fill,
                            outline=(40, 40, 48), width=max(1, int(4 * s)))

    box(176, 70, 336, 200, (r, g, b))                 # head
    d.ellipse([206 * s, 110 * s, 240 * s, 144 * s], fill=(255, 255, 255), outline=(40, 40, 48))
    d.ellipse([272 * s, 110 * s, 306 * s, 144 * s], fill=(255, 255, 255), outline=(40, 40, 48))
    d.ellipse([216 * s, 120 * s, 230 * s, 134 * s], fill=(20, 20, 20))
    d.ellipse([282 * s, 120 * s, 296 * s, 134 * s], fill=(20, 20, 20))
    d.line([256 * s, 70 * s, 256 * s, 36 * s], fill=(40, 40, 48), width=max(1, int(6 * s)))
    d.ellipse([244 * s, 24 * s, 268 * s, 48 * s], fill=(240, 80, 60))
    box(150, 210, 362, 380, (min(255, r + 30), min(255, g + 30), min(255, b + 30)))   # body
    box(226, 250, 286, 300, (250, 210, 60), radius=8)  # chest light
    box(96, 220, 140, 350, (r, g, b))                 # arms
    box(372, 220, 416, 350, (r, g, b))
    box(176, 390, 236, 480, (90, 90, 100))            # legs
    box(276, 390, 336, 480, (90, 90, 100))
    # A few seed-dependent pixels so no two images hash alike.
    for i in range(16):
        d.point((size - 1 - i, size - 1), fill=((seed * 37 + i) % 256, 230, 236))
    im.save(path, "PNG")
    return path


# ----------------------------------------------------------------- runner ---

KEPT_RE = re.compile(r"\[run_blender_gui\] kept (\S+) \(TRIPO_GUI_KEEP_TMP\)")


def run_gui(script: str, script_args: list[str], *, results: str, binds: list[str] = (),
            timeout: int = 600, keep_tmp: bool = False, env: dict | None = None,
            blender_args: list[str] = (), root: str = ROOT, pass_env: tuple[str, ...] = ()) -> dict:
    """Run ``script`` in the windowed Blender; returns rc, stdout, stderr,
    seconds, the start and end times (epoch) and the kept per-run temp dir
    (host path). ``pass_env``: names of variables (from ``env``) the runner
    hands to Blender as they are, e.g. a BLENDER_USER_RESOURCES of the test's own."""
    cmd = ["bash", RUN, "--root", root, "--timeout", str(int(timeout)), "--results", results]
    for name in pass_env:
        cmd += ["--env", name]
    for b in binds:
        cmd += ["--bind", b]
    for a in blender_args:
        cmd += ["--blender-arg", a]
    cmd += [script, "--", *script_args]
    run_env = dict(os.environ)
    run_env.pop("TRIPO_GUI_KEEP_TMP", None)
    if keep_tmp:
        run_env["TRIPO_GUI_KEEP_TMP"] = "1"
    run_env.update(env or {})
    t0 = time.monotonic()
    started = time.time()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout + 120,
                          env=run_env)
    ended = time.time()
    seconds = time.monotonic() - t0
    kept = None
    m = KEPT_RE.search(proc.stderr)
    if m:
        kept = m.group(1)
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "seconds": seconds, "started_at": started, "ended_at": ended, "kept_tmp": kept, "cmd": cmd}


def remove_kept_tmp(path: str | None, root: str = ROOT) -> None:
    """Delete a per-run temp dir kept by TRIPO_GUI_KEEP_TMP (only that kind)."""
    if not path:
        return
    path = os.path.realpath(path)
    tmp = os.path.realpath(os.path.join(root, "tmp"))
    if os.path.dirname(path) != tmp or not os.path.basename(path).startswith("tripo-gui."):
        raise ValueError(f"refusing to delete {path}")
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        if any(f" {path}/" in line or f" {path} " in line for line in fh):
            raise RuntimeError(f"{path} has mounts below it")
    shutil.rmtree(path, ignore_errors=True)


def chroot_mounts(root: str = ROOT) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [line for line in fh if (f" {root}/") in line or (f" {root} ") in line]


# ----------------------------------------------------------------- checks ---


def files_containing(paths, needle: bytes) -> tuple[list[str], int]:
    """(files whose bytes contain ``needle``, number of files scanned) under
    the given files/directories; .blend files are searched decompressed."""
    hits, scanned = [], 0
    for top in paths:
        if not top or not os.path.exists(top):
            continue
        walk = [(os.path.dirname(top), [], [os.path.basename(top)])] if os.path.isfile(top) else os.walk(top)
        for dirpath, _dirs, files in walk:
            for name in files:
                p = os.path.join(dirpath, name)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                scanned += 1
                if re.search(r"\.blend\d*$", p):
                    data = blend_bytes(p)
                else:
                    with open(p, "rb") as fh:
                        data = fh.read()
                if needle in data:
                    hits.append(p)
    return hits, scanned


def blend_bytes(path: str) -> bytes:
    """A .blend's bytes, decompressed if Blender compressed it (zstd; gzip
    before 3.0). Blender 5 compresses the quit.blend it writes at quit."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import io

        import zstandard  # a dependency of the PyPI bpy in .venv

        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    if data[:2] == b"\x1f\x8b":
        import gzip

        return gzip.decompress(data)
    return data


def blend_is_readable(path: str) -> bool:
    """A .blend whose bytes (decompressed if need be) a byte search can read."""
    return blend_bytes(path)[:7] == b"BLENDER"


def distinct_colours(path: str) -> int:
    from PIL import Image

    with Image.open(path) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(colours) if colours is not None else 1 << 20


def export_screenshot(src: str, dst: str, crop: tuple[int, int, int, int] | None = None,
                      max_bytes: int = 300_000, max_width: int = 1200) -> dict:
    """Copy a screenshot for the docs: crop (left, top, right, bottom), scale
    down to ``max_width``, and keep it under ``max_bytes`` (true colour if it
    fits, else a 256-colour palette, else smaller)."""
    from PIL import Image

    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        if crop:
            im = im.crop(crop)
        width = min(max_width, im.width)
        while True:
            scaled = im if width == im.width else im.resize(
                (width, round(im.height * width / im.width)), Image.LANCZOS)
            scaled.save(dst, "PNG", optimize=True)          # true colour if it fits
            size = os.path.getsize(dst)
            if size > max_bytes:
                pal = scaled.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
                pal.save(dst, "PNG", optimize=True)
                size = os.path.getsize(dst)
            if size <= max_bytes or width < 400:
                return {"path": dst, "bytes": size, "width": scaled.width, "height": scaled.height}
            width = int(width * 0.85)
