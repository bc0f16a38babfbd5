"""The pure-Python wheels the extension zip carries (requests and its dependencies).

    python -m tools.bundled_wheels                 # fetch/check them, print their paths
    python -m tools.bundled_wheels --lock requests==2.34.2 urllib3==2.8.0 ...
                                                     # print wheels.lock lines for new pins

Blender's own builds ship requests, distro builds (which use the system Python)
often do not; the manifest's ``wheels`` list makes Blender install ours into
the extensions' own site-packages, ahead of the system's. Only ``py3-none-any``
wheels are used, so the zip stays one platform-independent file.

Pins and sha256 hashes live in wheels.lock (pip's requirements format). Downloads
are cached in .cache/wheels; every build hashes the cached files again, so a
tampered or truncated cache is fetched anew or refused, never shipped.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK_FILE = os.path.join(REPO, "wheels.lock")
CACHE_DIR = os.path.join(REPO, ".cache", "wheels")

# Wheels for any platform and any Python 3 (Blender 4.2-5.0 run 3.11, Debian's 3.13).
PIP_PLATFORM_ARGS = ["--no-deps", "--only-binary=:all:", "--platform", "any", "--python-version", "3.11",
                     "--implementation", "py"]

_LOCK_LINE = re.compile(r"^([A-Za-z0-9._-]+)==([^\s]+)\s+--hash=sha256:([0-9a-f]{64})$")


class WheelError(RuntimeError):
    """A wheel could not be fetched, or its bytes are not the pinned ones."""


@dataclass(frozen=True)
class LockedWheel:
    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"

    def file_pattern(self) -> str:
        # Wheel file names use the normalised project name with underscores.
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}-py3-none-any.whl"


def read_lock(path: str = LOCK_FILE) -> list[LockedWheel]:
    wheels = []
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = _LOCK_LINE.match(line)
            if not m:
                raise WheelError(f"{path}:{number}: expected 'name==version --hash=sha256:<64 hex>', got {line!r}")
            wheels.append(LockedWheel(*m.groups()))
    if not wheels:
        raise WheelError(f"{path} lists no wheels")
    return wheels


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_file(wheel: LockedWheel, cache_dir: str) -> str | None:
    """The cached file of ``wheel`` if its bytes match the pin; a mismatching one is deleted."""
    path = os.path.join(cache_dir, wheel.file_pattern())
    if not os.path.isfile(path):
        return None
    if sha256_of(path) == wheel.sha256:
        return path
    os.remove(path)  # stale or tampered: fetch it again
    return None


def _pip_download(wheels: list[LockedWheel], cache_dir: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("".join(w.requirement + "\n" for w in wheels))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               *PIP_PLATFORM_ARGS, "--require-hashes", "-r", req.name, "-d", cache_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        os.remove(req.name)
    if proc.returncode != 0:
        names = ", ".join(f"{w.name}=={w.version}" for w in wheels)
        raise WheelError(f"pip could not download {names} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def ensure_wheels(lock_path: str = LOCK_FILE, cache_dir: str = CACHE_DIR) -> list[str]:
    """Paths of the pinned wheels in the cache, downloading what is missing; each hash checked."""
    wheels = read_lock(lock_path)
    os.makedirs(cache_dir, exist_ok=True)
    missing = [w for w in wheels if _cached_file(w, cache_dir) is None]
    if missing:
        _pip_download(missing, cache_dir)
    paths = []
    for w in wheels:
        path = _cached_file(w, cache_dir)
        if path is None:
            raise WheelError(f"{w.file_pattern()} is not in {cache_dir} with sha256 {w.sha256} after downloading it")
        paths.append(path)
    return paths


def manifest_with_wheels(manifest_text: str, wheel_names: list[str]) -> str:
    """The manifest with a top-level ``wheels`` list (put before its first [table])."""
    if re.search(r"^wheels\s*=", manifest_text, re.MULTILINE):
        raise WheelError("the manifest already has a wheels list; the build writes it")
    block = "wheels = [\n" + "".join(f'  "./wheels/{n}",\n' for n in wheel_names) + "]\n\n"
    m = re.search(r"^\[", manifest_text, re.MULTILINE)
    at = m.start() if m else len(manifest_text)
    return manifest_text[:at] + block + manifest_text[at:]


def lock_lines(pins: list[str]) -> list[str]:
    """wheels.lock lines for ``name==version`` pins (downloads each wheel once to hash it)."""
    with tempfile.TemporaryDirectory(prefix="tripo3d-lock-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               *PIP_PLATFORM_ARGS, "-d", tmp, *pins]
        subprocess.run(cmd, check=True)
        lines = []
        for pin in pins:
            name, version = pin.split("==", 1)
            pattern = LockedWheel(name, version, "").file_pattern()
            hits = glob.glob(os.path.join(tmp, pattern))
            if not hits:
                raise WheelError(f"no pure-Python wheel {pattern} for {pin}")
            lines.append(LockedWheel(name, version, sha256_of(hits[0])).requirement)
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lock", nargs="+", metavar="NAME==VERSION", help="print wheels.lock lines for these pins")
    args = ap.parse_args()
    try:
        lines = lock_lines(args.lock) if args.lock else ensure_wheels()
    except (WheelError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
