#!/usr/bin/env python3
"""Compare the simulator's Tripo-like GLB with real Tripo3D outputs.

    .venv/bin/python -m tools.compare_tripo_like FIXTURE_DIR [--image PICTURE]

FIXTURE_DIR holds real ``*.glb`` files and ``glbinfo.py`` (their summariser,
see its SOURCES.md); they are local data, never committed, and no test reads
them.  Prints one side-by-side table: triangles, attributes, index type,
textures, bounding box, centre and the up axis.
"""
from __future__ import annotations

import argparse
import array
import glob
import io
import json
import os
import struct
import sys
import tempfile

from tools.glb_tripo_like import tripo_like_glb

TYPES = {5121: "u8", 5123: "u16", 5125: "u32", 5126: "f32"}


def _chunks(path: str):
    data = open(path, "rb").read()
    jlen = struct.unpack("<I", data[12:16])[0]
    gltf = json.loads(data[20:20 + jlen])
    blen = struct.unpack("<I", data[20 + jlen:24 + jlen])[0]
    return gltf, data[28 + jlen:28 + jlen + blen]


def _up_axis(path: str) -> str:
    """The tallest axis, when the model has a flat base at its low end; shows the
    two box sides with the most triangle area lying flat on them."""
    gltf, binc = _chunks(path)
    prim = gltf["meshes"][0]["primitives"][0]

    def read(index: int, code: str, width: int) -> array.array:
        acc = gltf["accessors"][index]
        bv = gltf["bufferViews"][acc["bufferView"]]
        start = bv.get("byteOffset", 0) + acc.get("byteOffset", 0)
        out = array.array(code)
        out.frombytes(binc[start:start + acc["count"] * width])
        return out

    pos = read(prim["attributes"]["POSITION"], "f", 12)
    ctype = gltf["accessors"][prim["indices"]]["componentType"]
    idx = read(prim["indices"], "I" if ctype == 5125 else "H", 4 if ctype == 5125 else 2)
    lo = [min(pos[k::3]) for k in range(3)]
    hi = [max(pos[k::3]) for k in range(3)]
    flat = {}
    for t in range(0, len(idx), 3):
        a, b, c = idx[t] * 3, idx[t + 1] * 3, idx[t + 2] * 3
        u = [pos[b + k] - pos[a + k] for k in range(3)]
        v = [pos[c + k] - pos[a + k] for k in range(3)]
        n = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
        area2 = (n[0] ** 2 + n[1] ** 2 + n[2] ** 2) ** 0.5
        for k in range(3):
            if area2 and abs(n[k]) > 0.98 * area2:   # faces along axis k
                edge = lo[k] if n[k] < 0 else hi[k]
                if abs(pos[a + k] - edge) < 0.01 * (hi[k] - lo[k]):
                    key = ("-" if n[k] < 0 else "+") + "XYZ"[k]
                    flat[key] = flat.get(key, 0.0) + area2 / 2
    # Up = the tallest axis when its low end is flat (a base), as Tripo's models stand.
    tall = max(range(3), key=lambda k: hi[k] - lo[k])
    base_area = flat.get("-" + "XYZ"[tall], 0.0)
    up = ("+" + "XYZ"[tall]) if base_area > 0 else "?"
    sides = sorted(flat.items(), key=lambda kv: -kv[1])[:2]
    return f"{up} (flat: " + ", ".join(f"{k} {v * 1e4:.0f} cm2" for k, v in sides) + ")"


def _row(info: dict, path: str) -> dict:
    prim = info["meshes"][0]["primitives"][0]
    fmts = {k[:-4]: f"{TYPES.get(v[0], v[0])}x{v[1][-1]}" for k, v in prim.items() if k.endswith("_fmt")}
    attrs = ", ".join(f"{a}:{fmts.get(a, 'f32x3')}" for a in prim["attributes"])
    mn, mx = info["bbox_local_min"], info["bbox_local_max"]
    node = info["nodes"][0]
    transform = [k for k in ("translation", "rotation", "scale", "matrix") if k in node]
    texs = [f"{i['sniff'][0]} {i['sniff'][1]}x{i['sniff'][2]} ({(i.get('name') or '?').split('_')[0]})"
            for i in info["images"]]
    return {
        "bytes": f"{info['bytes']:,}",
        "generator": (info["asset"] or {}).get("generator", "")[:28],
        "nodes / meshes / materials": f"{info['counts']['nodes']} / {info['counts']['meshes']}"
                                      f" / {info['counts']['materials']}",
        "node name": node.get("name", "")[:12] + "<uuid>",
        "node transform": ", ".join(transform) or "none",
        "triangles": f"{prim['indices'] // 3:,}",
        "vertices": f"{prim['vertices']:,}",
        "attributes": attrs,
        "index type": TYPES.get(prim["index_type"], prim["index_type"]),
        "textures": "; ".join(texs),
        "extensions": ", ".join(info["extensionsUsed"]) or "none",
        "bbox size": " x ".join(f"{s:.3f}" for s in info["bbox_local_size"]),
        "longest side": f"{max(info['bbox_local_size']):.3f}",
        "bbox centre": ", ".join(f"{(a + b) / 2:+.3f}" for a, b in zip(mn, mx, strict=True)),
        "up axis": _up_axis(path),
    }


def _sample_picture() -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (768, 1024), (180, 40, 40))
    d = ImageDraw.Draw(im)
    d.ellipse((120, 100, 648, 900), fill=(240, 220, 200))
    d.rectangle((300, 400, 468, 700), fill=(30, 90, 40))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fixtures", help="folder with real Tripo GLBs and glbinfo.py")
    ap.add_argument("--image", help="picture for the simulated model (default: a drawn one)")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.fixtures))
    from glbinfo import summarise

    real = sorted(glob.glob(os.path.join(args.fixtures, "*.glb")))
    if not real:
        print(f"error: no .glb in {args.fixtures}", file=sys.stderr)
        return 2
    picture = open(args.image, "rb").read() if args.image else _sample_picture()
    with tempfile.TemporaryDirectory() as tmp:
        ours = os.path.join(tmp, "simulator_tripo.glb")
        with open(ours, "wb") as fh:
            fh.write(tripo_like_glb(picture))
        cols = [(os.path.basename(p)[:-4].replace("tripo_", ""), _row(summarise(p), p)) for p in real]
        cols.append(("SIMULATOR tripo", _row(summarise(ours), ours)))
    keys = list(cols[0][1])
    print("| | " + " | ".join(name for name, _ in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for key in keys:
        print(f"| {key} | " + " | ".join(str(row[key]) for _, row in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
