"""What Blender itself must have before a job is worth paying for.

Blender's glTF importer imports numpy. Blender's own builds ship it; distro
builds (Debian's uses the system Python) may not, and the importer would then
fail only after the model was generated and paid for. These checks run before
anything is submitted, and cost microseconds: numpy is looked up, not loaded.
"""

from __future__ import annotations

import importlib.util
import sys

from ...core.errors import MissingPrerequisite

NUMPY_MISSING = ("Blender's glTF importer needs numpy, which this Blender build lacks; install it "
                 "(Debian/Ubuntu: sudo apt install python3-numpy) and try again.")

_found: set[str] = set()  # modules already found: never looked up twice


def _importable(module: str) -> bool:
    if module in _found or module in sys.modules:
        return True
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        _found.add(module)
    return spec is not None


def missing_prerequisites() -> list[str]:
    """One sentence for each thing this Blender lacks (empty when all is there)."""
    return [] if _importable("numpy") else [NUMPY_MISSING]


def check_import_prerequisites() -> None:
    """Raise :class:`MissingPrerequisite` when a model could not be imported here."""
    problems = missing_prerequisites()
    if problems:
        raise MissingPrerequisite(problems[0])
