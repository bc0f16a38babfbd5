"""The house's size rules: at most 15 modules in any folder of the add-on, files under ~400 lines.

    python -m tools.check_layout          # exit 1 when a folder holds too many modules

A crowded folder fails (split it by responsibility); a long file is only listed, to be split
by whoever next works in it.
"""

from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_MODULES = 15
LONG_FILE = 400
PACKAGE_DIR = "tripo_addon"
CODE_DIRS = ("tripo_addon", "tools", "scripts", "tests")


def crowded_folders(root: str, limit: int = MAX_MODULES) -> list[tuple[str, int]]:
    """Folders under ``root`` with more than ``limit`` modules (``__init__.py`` not counted)."""
    crowded = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        modules = [f for f in files if f.endswith(".py") and f != "__init__.py"]
        if len(modules) > limit:
            crowded.append((folder, len(modules)))
    return sorted(crowded)


def long_files(roots: list[str], limit: int = LONG_FILE) -> list[tuple[str, int]]:
    """Python files under ``roots`` with more than ``limit`` lines, longest first."""
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as f:
                        count = sum(1 for _ in f)
                    if count > limit:
                        found.append((path, count))
    return sorted(found, key=lambda item: (-item[1], item[0]))


def main(argv: list[str] | None = None) -> int:
    rel = lambda path: os.path.relpath(path, REPO)  # noqa: E731
    for path, count in long_files([os.path.join(REPO, d) for d in CODE_DIRS]):
        print(f"check_layout: note: {rel(path)} has {count} lines (the house aims for under {LONG_FILE})")
    crowded = crowded_folders(os.path.join(REPO, PACKAGE_DIR))
    for folder, count in crowded:
        print(f"check_layout: {rel(folder)}/ holds {count} modules, more than {MAX_MODULES}: split it by responsibility")
    if crowded:
        return 1
    print(f"check_layout: every folder of {PACKAGE_DIR}/ holds at most {MAX_MODULES} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
