"""Build a GLB shaped like a real Tripo3D v2.5 output, from an image.

What the gateway simulator serves with ``SimConfig(model_style="tripo")``, so
the add-on's import, memory and timing are exercised on what Tripo really
sends (compare with ``tools/compare_tripo_like.py``):

- one scene, one node ``tripo_node_<uuid>`` with no transform, one mesh
  ``tripo_mesh_<uuid>`` of exactly 50,000 triangles, float POSITION / NORMAL /
  TEXCOORD_0, uint32 indices, no extensions, no samplers;
- one material ``tripo_material_<uuid>`` (factors 1, single-sided) with three
  embedded JPEG textures, 4096x4096 by default: ``Color_``, ``ORM_``
  (occlusion, roughness, metallic) and ``NormalGL_`` (OpenGL convention);
- +Y up, bounding box centred on the origin, 0.95 units on its longest side
  (the height), with a flat base like Tripo's.

The body is a closed, lathe-like blob whose radius follows the picture's
luminance, textured with the picture wrapped around it.  Stdlib + Pillow.
Building one takes about a second (three 4096^2 JPEG encodes), so results are
cached per process, keyed by the input bytes and texture size.
"""
from __future__ import annotations

import collections
import hashlib
import io
import json
import math
import struct
import threading
import uuid
from typing import List, Tuple

from PIL import Image, ImageFilter

from tools.glb_from_image import decode_image

GENERATOR = "https://tripo3d.ai"   # what real outputs say; the names mark it as simulated anyway
RINGS = 100         # vertex rows between the poles
SEGMENTS = 250      # vertices around each row -> 2*SEGMENTS*(RINGS-1) + 2*SEGMENTS = 50,000 triangles
LONGEST_SIDE = 0.95
BASE_LEVEL = -0.9   # the bottom is cut flat at this fraction of the half-height
TEXTURE_SIZE = 4096
JPEG_QUALITY = 85

_FLOAT, _UINT = 5126, 5125
_CACHE: "collections.OrderedDict[tuple, bytes]" = collections.OrderedDict()
_CACHE_SIZE = 4     # a few GLBs of several MB each
_CACHE_LOCK = threading.Lock()
_KEY_LOCKS: dict = {}


def triangle_count(rings: int = RINGS, segments: int = SEGMENTS) -> int:
    return 2 * segments * (rings - 1) + 2 * segments


def _heights(img: Image.Image, w: int, h: int) -> bytes:
    rgba = img.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    lum = Image.alpha_composite(bg, rgba).convert("L")
    return lum.resize((w, h), Image.BILINEAR).filter(ImageFilter.SMOOTH_MORE).tobytes()


def _mesh(img: Image.Image) -> Tuple[list, list, list, list]:
    """Positions, normals, UVs (flat lists) and triangle indices."""
    R, S = RINGS, SEGMENTS
    aspect = min(1.3, max(0.7, img.width / img.height))
    rx, ry, rz = 0.32 * aspect, 0.5, 0.32
    lum = _heights(img, S, R)
    base = BASE_LEVEL * ry

    # Geometric vertices: row i, segment j (no seam copy), then the two poles.
    geo: List[Tuple[float, float, float]] = []
    for i in range(R):
        theta = math.pi * (i + 1) / (R + 1)
        st, ct = math.sin(theta), math.cos(theta)
        row = lum[i * S:(i + 1) * S]
        for j in range(S):
            phi = 2.0 * math.pi * j / S
            k = 1.0 + 0.08 * (row[j] / 255.0 - 0.5)   # brighter = bulges out
            geo.append((rx * k * st * math.cos(phi), max(base, ry * ct), rz * k * st * math.sin(phi)))
    north, south = len(geo), len(geo) + 1
    geo.append((0.0, ry, 0.0))
    geo.append((0.0, base, 0.0))

    # Triangles on geometric indices, counter-clockwise seen from outside.
    def g(i: int, j: int) -> int:
        return i * S + j % S

    gtris: List[Tuple[int, int, int]] = []
    for j in range(S):
        gtris.append((north, g(0, j + 1), g(0, j)))
    for i in range(R - 1):
        for j in range(S):
            a, b, c, d = g(i, j), g(i, j + 1), g(i + 1, j), g(i + 1, j + 1)
            gtris.append((a, b, c))
            gtris.append((b, d, c))
    for j in range(S):
        gtris.append((g(R - 1, j), g(R - 1, j + 1), south))

    # Smooth normals: area-weighted face normals summed per geometric vertex.
    acc = [[0.0, 0.0, 0.0] for _ in geo]
    for a, b, c in gtris:
        pa, pb, pc = geo[a], geo[b], geo[c]
        ux, uy, uz = pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]
        vx, vy, vz = pc[0] - pa[0], pc[1] - pa[1], pc[2] - pa[2]
        n = (uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)
        for v in (a, b, c):
            s = acc[v]
            s[0] += n[0]
            s[1] += n[1]
            s[2] += n[2]
    nrm = []
    for s in acc:
        ln = math.sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]) or 1.0
        nrm.append((s[0] / ln, s[1] / ln, s[2] / ln))

    # Centre the bounding box on the origin and scale the longest side to 0.95.
    lo = [min(p[k] for p in geo) for k in range(3)]
    hi = [max(p[k] for p in geo) for k in range(3)]
    centre = [(lo[k] + hi[k]) / 2 for k in range(3)]
    scale = LONGEST_SIDE / max(hi[k] - lo[k] for k in range(3))
    geo = [tuple((p[k] - centre[k]) * scale for k in range(3)) for p in geo]

    # Emitted vertices: rows with a seam copy (u = 1), one pole copy per segment.
    pos, nor, uv = [], [], []
    for i in range(R):
        v = (i + 1) / (R + 1)
        for j in range(S + 1):
            gi = g(i, j)
            pos.extend(geo[gi])
            nor.extend(nrm[gi])
            uv.extend((j / S, v))
    top = R * (S + 1)
    bottom = top + S
    for pole, v in ((north, 0.0), (south, 1.0)):
        for j in range(S):
            pos.extend(geo[pole])
            nor.extend(nrm[pole])
            uv.extend(((j + 0.5) / S, v))

    def e(i: int, j: int) -> int:
        return i * (S + 1) + j

    idx: List[int] = []
    for j in range(S):
        idx.extend((top + j, e(0, j + 1), e(0, j)))
    for i in range(R - 1):
        for j in range(S):
            a, b, c, d = e(i, j), e(i, j + 1), e(i + 1, j), e(i + 1, j + 1)
            idx.extend((a, b, c, b, d, c))
    for j in range(S):
        idx.extend((e(R - 1, j), e(R - 1, j + 1), bottom + j))
    return pos, nor, uv, idx


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _textures(img: Image.Image, size: int) -> Tuple[bytes, bytes, bytes]:
    """Base colour, ORM and OpenGL normal map as JPEG bytes, ``size`` square."""
    rgba = img.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(bg, rgba).convert("RGB")
    color = rgb.resize((size, size), Image.BICUBIC)
    # Maps are derived at a modest size and scaled up: they are smooth anyway.
    work = min(size, 512)
    lum = rgb.convert("L").resize((work, work), Image.BILINEAR).filter(ImageFilter.SMOOTH)
    # ORM: no occlusion (255), roughness and metalness that follow the picture a little.
    rough = lum.point(lambda v: 150 - v // 5)
    metal = lum.point(lambda v: 20 + v // 8)
    orm = Image.merge("RGB", (Image.new("L", lum.size, 255), rough, metal))
    # OpenGL tangent-space normals: +X right, +Y up in the texture; flat = (128, 128, 255).
    # Sobel kernels read rows top-down, so green uses the bottom-minus-top kernel.
    dx = lum.filter(ImageFilter.Kernel((3, 3), (1, 0, -1, 2, 0, -2, 1, 0, -1), scale=8, offset=128))
    dy = lum.filter(ImageFilter.Kernel((3, 3), (-1, -2, -1, 0, 0, 0, 1, 2, 1), scale=8, offset=128))
    normal = Image.merge("RGB", (dx, dy, Image.new("L", lum.size, 250)))
    return (_jpeg(color), _jpeg(orm.resize((size, size), Image.BILINEAR)),
            _jpeg(normal.resize((size, size), Image.BILINEAR)))


def _build(image_bytes: bytes, texture_size: int) -> bytes:
    img = decode_image(image_bytes)
    pos, nor, uv, idx = _mesh(img)
    color, orm, normal = _textures(img, texture_size)
    tag = str(uuid.UUID(bytes=hashlib.sha256(image_bytes).digest()[:16], version=4))
    nverts = len(pos) // 3

    binbuf = bytearray()
    views: List[dict] = []

    def add_view(blob: bytes) -> int:
        while len(binbuf) % 4:
            binbuf.append(0)
        views.append({"buffer": 0, "byteOffset": len(binbuf), "byteLength": len(blob)})
        binbuf.extend(blob)
        return len(views) - 1

    pos_blob = struct.pack(f"<{len(pos)}f", *pos)
    pos32 = struct.unpack(f"<{len(pos)}f", pos_blob)
    pmin = [min(pos32[k::3]) for k in range(3)]
    pmax = [max(pos32[k::3]) for k in range(3)]
    # Same layout as Tripo's files: indices, positions, UVs, normals, then the three images.
    v_idx = add_view(struct.pack(f"<{len(idx)}I", *idx))
    v_pos = add_view(pos_blob)
    v_uv = add_view(struct.pack(f"<{len(uv)}f", *uv))
    v_nrm = add_view(struct.pack(f"<{len(nor)}f", *nor))
    v_imgs = [add_view(blob) for blob in (color, orm, normal)]
    while len(binbuf) % 4:
        binbuf.append(0)

    gltf = {
        "asset": {"generator": GENERATOR, "version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"name": f"tripo_node_{tag}", "mesh": 0}],
        "meshes": [{"name": f"tripo_mesh_{tag}", "primitives": [{
            "attributes": {"POSITION": 1, "TEXCOORD_0": 2, "NORMAL": 3},
            "indices": 0, "material": 0, "mode": 4}]}],
        "materials": [{
            "name": f"tripo_material_{tag}",
            "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "baseColorTexture": {"index": 0},
                                     "metallicFactor": 1.0, "roughnessFactor": 1.0,
                                     "metallicRoughnessTexture": {"index": 1}},
            "normalTexture": {"index": 2, "scale": 1.0},
            "doubleSided": False,
        }],
        "textures": [{"source": 0}, {"source": 1}, {"source": 2}],
        "images": [{"name": f"{prefix}_{tag}", "mimeType": "image/jpeg", "bufferView": v}
                   for prefix, v in zip(("Color", "ORM", "NormalGL"), v_imgs, strict=True)],
        "accessors": [
            {"bufferView": v_idx, "componentType": _UINT, "count": len(idx), "type": "SCALAR",
             "max": [max(idx)], "min": [min(idx)]},
            {"bufferView": v_pos, "componentType": _FLOAT, "count": nverts, "type": "VEC3",
             "max": pmax, "min": pmin},
            {"bufferView": v_uv, "componentType": _FLOAT, "count": nverts, "type": "VEC2"},
            {"bufferView": v_nrm, "componentType": _FLOAT, "count": nverts, "type": "VEC3"},
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": len(binbuf)}],
    }
    js = bytearray(json.dumps(gltf, separators=(",", ":")).encode("utf-8"))
    while len(js) % 4:
        js += b" "
    total = 12 + 8 + len(js) + 8 + len(binbuf)
    return b"".join((struct.pack("<4sII", b"glTF", 2, total), struct.pack("<I4s", len(js), b"JSON"), bytes(js),
                     struct.pack("<I4s", len(binbuf), b"BIN\x00"), bytes(binbuf)))


def tripo_like_glb(image_bytes: bytes, texture_size: int = TEXTURE_SIZE) -> bytes:
    """GLB bytes shaped like a Tripo3D output for this PNG/JPEG/WebP image
    (ValueError otherwise).  Cached per process: the same input returns the
    same bytes without building again."""
    texture_size = int(texture_size)
    if not 1 <= texture_size <= 8192:
        raise ValueError("texture_size must be between 1 and 8192")
    image_bytes = bytes(image_bytes)
    key = (hashlib.sha256(image_bytes).hexdigest(), texture_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:  # concurrent jobs of the same picture build it once
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        glb = _build(image_bytes, texture_size)
        with _CACHE_LOCK:
            _CACHE[key] = glb
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            _KEY_LOCKS.pop(key, None)
        return glb


def cache_info() -> dict:
    with _CACHE_LOCK:
        return {"entries": len(_CACHE), "bytes": sum(len(v) for v in _CACHE.values())}


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description="Build a Tripo-like GLB from an image.")
    ap.add_argument("image")
    ap.add_argument("out")
    ap.add_argument("--texture-size", type=int, default=TEXTURE_SIZE)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with open(args.image, "rb") as fh:
        data = tripo_like_glb(fh.read(), args.texture_size)
    with open(args.out, "wb") as fh:
        fh.write(data)
    print(f"wrote {args.out} ({len(data)} bytes, {time.perf_counter() - t0:.2f} s)")
