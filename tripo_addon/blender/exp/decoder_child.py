"""The image decoder's child process: Blender's own reader, apart from the Blender the artist works in.

Run as a script, never imported by the add-on: ``blender --background --factory-startup --python
decoder_child.py -- ARGS`` in a Blender program, ``python decoder_child.py ARGS`` with the ``bpy``
module. It reads one JSON request a line on stdin and answers each with one line on stdout that
starts with ``TRIPO-DECODER`` (Blender prints its own lines there too); the picture itself is
handed over in a file. A reader that crashes, hangs
or runs out of memory ends only this process; ``core.images.decoder_client`` restarts it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import traceback
import types

PREFIX = "TRIPO-DECODER "


def _arguments() -> dict:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    args = {"memory-mb": "0"}
    for i, arg in enumerate(argv):
        if arg.startswith("--") and i + 1 < len(argv):
            args[arg[2:]] = argv[i + 1]
    return args


def _cap_memory(megabytes: int) -> None:
    """Cap this process's address space at what it uses now plus ``megabytes``: on Linux (macOS does
    not enforce the limit, Windows has none)."""
    if megabytes <= 0:
        return
    try:
        import resource

        with open("/proc/self/statm") as f:  # pages of address space in use
            in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = in_use + megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        return  # no /proc, or no such limit here: not capped


def _watch_parent() -> None:
    """End when the Blender that started us is gone, even in the middle of a decode."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _addon_package():
    """The add-on's package under a private name: its core and compat are plain modules here,
    and its ``__init__`` (registration) is not run."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    package = types.ModuleType("_tripo_decoder_addon")
    package.__path__ = [root]
    sys.modules[package.__name__] = package
    import importlib

    return importlib.import_module(package.__name__ + ".blender.exp.decoding_steps")


def _test_fault(path: str) -> None:
    """Tests only: ``TRIPO_DECODER_TEST_FAULT=KIND:TEXT`` makes this child abort, hang or blow its
    memory on a file whose name holds TEXT, as a crashing reader would."""
    fault = os.environ.get("TRIPO_DECODER_TEST_FAULT", "")
    kind, _, text = fault.partition(":")
    if not text or text not in os.path.basename(path):
        return
    if kind == "abort":
        os.abort()
    elif kind == "hang":
        time.sleep(3600)
    elif kind == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))


def _hand_over(data: bytes, workdir: str, request_id) -> str:
    """The encoded picture in a file of this child's folder, which the parent reads and removes
    (faster than through the pipe)."""
    path = os.path.join(workdir, f"picture-{request_id}.bin")
    with open(path, "wb") as f:
        f.write(data)
    return path


def _answer(reply: dict) -> None:
    sys.stdout.write(PREFIX + json.dumps(reply) + "\n")
    sys.stdout.flush()


def main() -> None:
    args = _arguments()
    steps = _addon_package()
    _watch_parent()
    _cap_memory(int(args["memory-mb"]))
    workdir = tempfile.mkdtemp(prefix="tripo3d-decoder-")
    _answer({"ready": True, "pid": os.getpid(), "peak_mb": steps.peak_mb(), "blender": steps.blender_version()})
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            try:
                _test_fault(request["path"])
                data, reply = steps.decode(request, workdir)
                reply["file"] = _hand_over(data, workdir, request.get("id"))
            except steps.Refused as exc:
                reply = {"ok": False, "kind": exc.kind, **exc.details}
            except MemoryError:
                os._exit(3)  # over the cap: the parent says so and starts a fresh child
            except Exception:
                reply = {"ok": False, "kind": "bug", "traceback": traceback.format_exc()}
            reply["id"] = request.get("id")
            reply["peak_mb"] = steps.peak_mb()
            _answer(reply)
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
