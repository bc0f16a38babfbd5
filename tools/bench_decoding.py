"""Bench row P7 (scripts/bench.py): pictures decoded apart, by the decoder child, against the same
steps in process, on 200 prepared files of mixed formats; both in fresh processes with ``bpy``.

    .venv/bin/python scripts/bench.py --only P7
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What each file is written as, in turn: (file name ending, Pillow's format, its options, mode).
KINDS = (
    (".tif", "TIFF", {}, "RGB"),
    (".bmp", "BMP", {}, "RGB"),
    (".tga", "TGA", {}, "RGBA"),
    ("-16.png", "PNG", {}, "I;16"),
    ("-turned.jpg", "JPEG", {"quality": 90, "orientation": 6}, "RGB"),
    ("-turned.tif", "TIFF", {"orientation": 3}, "RGB"),
    ("-turned.png", "PNG", {"orientation": 8}, "RGB"),
    ("-lzw.tif", "TIFF", {"compression": "tiff_lzw"}, "RGBA"),
)

CHILD = r"""
import dataclasses, json, os, sys, tempfile, time
sys.path.insert(0, {repo!r})
mode, listing = sys.argv[1], sys.argv[2]
paths = json.load(open(listing))
from tripo_addon.core.images import check_header
from tripo_addon.core.images.metadata import strip
from tripo_addon.core.images.headers import sniff
began = time.perf_counter()
sizes = 0
if mode == "apart":
    from tripo_addon.core.images.decoder_client import DecoderClient
    client = DecoderClient([sys.executable, {child!r}])
    for p in paths:
        data, _note = client.decode(p, check_header(p))
        sizes += len(data)
    client.stop()
else:  # the same steps in this process: Blender's reader here, as before decoding apart
    import bpy
    from tripo_addon.blender.exp import decoding_steps
    workdir = tempfile.mkdtemp()
    for p in paths:
        info = check_header(p)
        data, _reply = decoding_steps.decode({{"path": p, "info": dataclasses.asdict(info)}}, workdir)
        sizes += len(strip(data, sniff(data)))
print("JSON" + json.dumps({{"seconds": time.perf_counter() - began, "bytes": sizes}}))
"""


def make_files(folder: str, n: int = 200, size: tuple[int, int] = (640, 480)) -> list[str]:
    """``n`` pictures (a gradient with noise, so they compress like photos) in the formats of KINDS."""
    import random

    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    rnd = random.Random(7)
    w, h = size
    base = Image.new("RGB", size)
    base.putdata([((x * 255) // w, (y * 255) // h, rnd.randrange(256)) for y in range(h) for x in range(w)])
    paths = []
    for i in range(n):
        ending, fmt, options, mode = KINDS[i % len(KINDS)]
        path = os.path.join(folder, f"pic{i:04d}{ending}")
        if not os.path.exists(path):
            im = base.rotate(i % 360).convert("RGB")
            options = dict(options)
            turn = options.pop("orientation", 0)
            if turn and fmt in ("JPEG", "PNG"):
                exif = Image.Exif()
                exif[274] = turn
                options["exif"] = exif.tobytes()
            elif turn:
                options["tiffinfo"] = {274: turn}
            if mode == "I;16":
                im = im.convert("L").point(lambda v: v * 257, "I").convert("I;16")
            elif mode != "RGB":
                im = im.convert(mode)
            im.save(path, format=fmt, **options)
        paths.append(path)
    return paths


def _run(mode: str, listing: str, env: dict) -> dict:
    child = os.path.join(REPO, "tripo_addon", "blender", "exp", "decoder_child.py")
    code = CHILD.format(repo=REPO, child=child)
    proc = subprocess.run([sys.executable, "-c", code, mode, listing], capture_output=True, text=True, timeout=1800,
                          env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON")]
    if not lines:
        raise RuntimeError(f"P7 {mode} failed: {proc.stderr[-800:]}")
    return json.loads(lines[-1][4:])


def p7(work: str, n: int, rounds: int, env: dict) -> list[dict]:
    """The row: seconds for ``n`` files decoded apart vs in process (medians of ``rounds``, interleaved)."""
    paths = make_files(os.path.join(work, "p7-images"), n)
    listing = os.path.join(work, "p7-list.json")
    with open(listing, "w") as f:
        json.dump(paths, f)
    apart, here = [], []
    for _ in range(rounds):
        here.append(_run("in_process", listing, env)["seconds"])
        apart.append(_run("apart", listing, env)["seconds"])
    a, b = statistics.median(apart), statistics.median(here)
    speed = b / a  # apart's speed against in process's
    kinds = ", ".join(k[0].lstrip("-.") for k in KINDS)
    return [{"row": "P7", "what": f"{n} files ({kinds}; 640x480) decoded apart by the decoder child, start "
                                  f"included, vs the same steps in process (s, median of {rounds}; ratio = speed)",
             "value": a, "base": b, "ratio": speed, "unit": "s", "target": ">= 0.80x", "ok": speed >= 0.8}]


if __name__ == "__main__":
    import tempfile

    print(p7(tempfile.mkdtemp(prefix="p7-"), int(sys.argv[1]) if len(sys.argv) > 1 else 200, 3, dict(os.environ)))
