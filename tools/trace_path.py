"""Trace one image's path through the add-on's modules, from the Generate
button to the start of the job's worker thread, and print the files entered.

    .venv/bin/python -m tools.trace_path [--source file|url] [--all]

Runs in the bpy module against nothing (the worker is never started for
real). Traces the operator's execute() (Blender's poll, which decides
whether the button is enabled at every redraw, is not the click's path), a
warm click: a first click on another picture loads the modules first, and
module bodies run by an import are not counted. Counts, on the main thread:
the add-on files entered by a call from another add-on file or from Blender
(the path), how often each is entered ("re-entered" = more than once), and
the calls between files ("hops"), the hops that go up the layers (from the core
towards the UI: a callback), and the call path itself: the files on the stack
when the worker starts (the rest were entered for a lookup and returned)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from typing import Callable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=("file", "url"), default="file")
    ap.add_argument("--all", action="store_true", help="print every hop")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tripo3d-trace-")
    os.environ["BLENDER_USER_RESOURCES"] = os.path.join(work, "user")
    os.environ["PIXAZO_API_KEY"] = "trace-key-0123456789"
    os.environ["PIXAZO_BASE_URL"] = "http://127.0.0.1:9"
    import bpy

    import tripo_addon
    from tools.glb_from_image import decode_image  # noqa: F401  (Pillow, for the picture)
    from PIL import Image

    bpy.context.preferences.system.use_online_access = True
    tripo_addon.register()
    picture = os.path.join(work, "chair.png")
    Image.new("RGB", (64, 48), (200, 80, 40)).save(picture)
    warm_up = os.path.join(work, "stool.png")
    Image.new("RGB", (64, 48), (40, 80, 200)).save(warm_up)
    source = picture if args.source == "file" else "https://example.com/chair.png"
    package_dir = os.path.dirname(os.path.abspath(tripo_addon.__file__))
    stack: list[str] = []
    entered: list[str] = []
    hops: list[tuple[str, str, str]] = []
    done = [False]

    def rel(path: str) -> str:
        return os.path.relpath(path, os.path.dirname(package_dir))

    tracing = [False]

    def profile(frame, event, _arg):
        if done[0]:
            return
        path = frame.f_code.co_filename
        if not tracing[0]:
            if event == "call" and frame.f_code.co_name == "execute" and path.startswith(package_dir):
                tracing[0] = True
            else:
                return
        if event == "call" and frame.f_code.co_name == "<module>":
            stack.append(stack[-1] if stack else "")  # an import's module body is not the path
            return
        if event == "call":
            mine = path.startswith(package_dir)
            caller = stack[-1] if stack else None
            if mine:
                name = rel(path)
                if name != caller:
                    entered.append(name)
                    hops.append((caller or "(button)", name, frame.f_code.co_name))
            stack.append(rel(path) if mine else (caller or ""))
        elif event == "return" and stack:
            stack.pop()

    real_start = threading.Thread.start

    path_at_start: list[str] = []

    def start(self):  # the worker's start ends the trace; the thread never runs
        done[0] = True
        path_at_start.extend(dict.fromkeys(name for name in stack if name))
        sys.setprofile(None)

    threading.Thread.start = start
    from tripo_addon.blender.engine.manager import manager

    try:
        bpy.ops.tripo3d.generate(source=warm_up)  # loads what a first click loads
        manager.threads.clear()
        done[0] = False
        sys.setprofile(profile)
        bpy.ops.tripo3d.generate(source=source)
    finally:
        sys.setprofile(None)
        threading.Thread.start = real_start
    files = list(dict.fromkeys(entered))
    again = {f: entered.count(f) - 1 for f in files if entered.count(f) > 1}
    print(f"source: {args.source}; worker started: {done[0]}")
    print(f"files entered: {len(files)}; hops between files: {len(hops)}; re-entered: {sum(again.values())} "
          f"({', '.join(f'{os.path.basename(f)} x{n}' for f, n in again.items()) or 'none'})")
    for f in files:
        print("  ", f)
    upward = [(a, b) for a, b, _fn in hops if a != "(button)" and _layer(b) > _layer(a)]
    print(f"hops up the layers: {len(upward)}" + "".join(f"\n   {a} -> {b}" for a, b in upward))
    print(f"call path at the worker's start: {len(path_at_start)} files: {' -> '.join(path_at_start)}")
    if args.all:
        for caller, callee, fn in hops:
            print(f"   {caller} -> {callee}:{fn}")
    manager.threads.clear()  # the worker never started: nothing to join
    tripo_addon.unregister()
    return 0 if done[0] else 1


def _layer_of() -> Callable[[str], int]:
    """What ranks a file by the layers contract of .importlinter (0: the bottom layer; a module
    the contract does not name: above them all), read from it so the trace and lint-imports agree."""
    import configparser
    import re

    config = configparser.ConfigParser(inline_comment_prefixes=None)
    config.read(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".importlinter"))
    lines = [line.strip() for line in config["importlinter:contract:layers"]["layers"].splitlines()]
    layers = [re.split(r"[|:]", line) for line in lines if line and not line.startswith("#")]
    ranks = {module.strip(): rank for rank, layer in enumerate(reversed(layers)) for module in layer}

    def layer(name: str) -> int:
        module = name[:-3].replace(os.sep, ".").replace("/", ".").removesuffix(".__init__")
        matches = [m for m in ranks if module == m or module.startswith(m + ".")]
        return ranks[max(matches, key=len)] if matches else len(layers)

    return layer


_layer = _layer_of()


if __name__ == "__main__":
    sys.exit(main())
