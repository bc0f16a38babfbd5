"""The Python tracebacks in a Blender run's output, but Blender's own known faults.

Blender 5.2's own remote asset library code (bl_pkg, when it registers, through
_bpy_internal/http/downloader.py) imports cattrs and requests. Where they are
missing, Blender prints its own traceback and goes on: Debian sid's blender
5.2.2 depends on neither python3-cattrs nor python3-requests (checked in
December 2026), and tests/blender/test_extension_zip.py hides requests to play
such a build. Those tracebacks are not the add-on's; every other one is.
"""

from __future__ import annotations

import re

#: (a file named in the traceback, its last line)
KNOWN_BLENDER_FAULTS = [
    (re.compile(r"/_bpy_internal/http/downloader\.py\b"),
     re.compile(r"^ModuleNotFoundError: No module named '(cattrs|requests|urllib3)'")),
]


def tracebacks(text: str) -> list[str]:
    """The Python tracebacks printed in ``text``, but KNOWN_BLENDER_FAULTS."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].strip() != "Traceback (most recent call last):":
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        block = [lines[i]]
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        if i < len(lines):
            block.append(lines[i])   # the exception's own line
            i += 1
        last = block[-1].strip()
        if not any(any(where.search(b) for b in block) and what.search(last) for where, what in KNOWN_BLENDER_FAULTS):
            found.append("\n".join(block))
    return found
