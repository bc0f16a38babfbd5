"""Say whether PyPI has newer bpy releases than matrix.txt pins (information only).

    .venv/bin/python -m tools.matrix_updates

Asks pip (``pip index versions bpy --python-version X --only-binary=:all:
--platform manylinux_2_28_x86_64``) for each Python the matrix uses, then
prints one line on the newest release against the newest pin, and one per leg
whose series (major.minor) has a newer patch release. Always exits 0: with no
network it says it could not ask, and scripts/test.sh never fails on it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MATRIX = os.path.join(REPO, "matrix.txt")
PLATFORM = "manylinux_2_28_x86_64"


def read_matrix(path: str = MATRIX) -> list[dict]:
    legs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 5:
                legs.append(dict(zip(("leg", "bpy", "python", "where", "tests"), fields[:5], strict=True)))
    return legs


def version_key(text: str) -> tuple[int, ...] | None:
    """(5, 2, 3) for "5.2.3"; None for anything that is not plain numbers (pre-releases)."""
    return tuple(int(p) for p in text.split(".")) if re.fullmatch(r"\d+(\.\d+)*", text) else None


def pypi_versions(python: str, timeout: float = 60) -> list[str]:
    """The bpy versions PyPI serves as wheels for ``python``; raises RuntimeError if pip cannot say."""
    cmd = [sys.executable, "-m", "pip", "index", "versions", "bpy", "--python-version", python,
           "--only-binary=:all:", "--platform", PLATFORM, "--disable-pip-version-check"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(str(exc)) from None
    found = re.search(r"^Available versions:\s*(.+)$", proc.stdout, re.M)
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        raise RuntimeError(last)
    return [v.strip() for v in found.group(1).split(",") if version_key(v.strip())]


def report(legs: list[dict], served: dict[str, list[str]]) -> list[str]:
    """The lines to print, given the versions PyPI serves per Python."""
    pinned = [leg for leg in legs if version_key(leg["bpy"])]
    served = {python: [v for v in versions if version_key(v)] for python, versions in served.items()}
    lines = []
    newest_pin = max(pinned, key=lambda leg: version_key(leg["bpy"]))
    available = sorted({v for versions in served.values() for v in versions}, key=version_key)
    if available:
        newest = available[-1]
        if version_key(newest) > version_key(newest_pin["bpy"]):
            lines.append(f"NEWER bpy on PyPI: {newest} (newest pinned: {newest_pin['bpy']}, leg "
                         f"{newest_pin['leg']}); add a leg to matrix.txt")
        else:
            lines.append(f"bpy {newest} is the newest on PyPI and is pinned (leg {newest_pin['leg']})")
    for leg in pinned:
        versions = served.get(leg["python"], [])
        series = version_key(leg["bpy"])[:2]
        same = [v for v in versions if version_key(v)[:2] == series]
        best = max(same, key=version_key, default=None)
        if best and version_key(best) > version_key(leg["bpy"]):
            lines.append(f"leg {leg['leg']}: bpy {best} is out, {leg['bpy']} is pinned")
    return lines


def main() -> int:
    legs = read_matrix()
    served = {}
    for python in sorted({leg["python"] for leg in legs if version_key(leg["bpy"])}):
        try:
            served[python] = pypi_versions(python)
        except RuntimeError as exc:
            print(f"could not ask PyPI about bpy for Python {python} ({exc}); nothing checked")
    if served:
        for line in report(legs, served):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
