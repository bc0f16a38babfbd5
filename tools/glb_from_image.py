"""Build a real, textured glTF 2.0 binary (GLB) from an image.

Used by the local gateway simulator (``gateway_sim.py``) to stand in for the
Tripo3D image-to-3D output: the picture becomes a relief "card" whose front
face is displaced by the image's luminance, with side walls and a flat back.

Pure Python + Pillow + struct (no numpy).  The output passes Khronos'
glTF-Validator with no errors and no warnings.

    from tools.glb_from_image import glb_from_image
    glb = glb_from_image(open("photo.png", "rb").read(), texture_size=256)

CLI:  python -m tools.glb_from_image IMAGE OUT.glb [--texture-size N] [--noise]
"""
from __future__ import annotations

import io
import json
import math
import random
import struct
from typing import List, Sequence, Tuple

from PIL import Image, ImageChops, ImageFilter

GENERATOR = "pixazo-tripo3d gateway simulator (glb_from_image.py)"
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")

GRID = 48               # quads per side of the displaced front face
THICKNESS = 0.04        # card thickness where the picture is black
RELIEF = 0.12           # extra depth for white pixels

_FLOAT = 5126
_USHORT = 5123
_UINT = 5125
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963

Vec3 = Tuple[float, float, float]


def decode_image(image_bytes: bytes) -> Image.Image:
    """Decode PNG/JPEG/WebP bytes with Pillow; ValueError for anything else."""
    if not isinstance(image_bytes, (bytes, bytearray, memoryview)):
        raise ValueError("image bytes expected")
    try:
        img = Image.open(io.BytesIO(bytes(image_bytes)))
        fmt = img.format
        if fmt not in ACCEPTED_FORMATS:
            raise ValueError(f"unsupported image format {fmt!r} (need PNG, JPEG or WebP)")
        img.load()
    except ValueError:
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError, SyntaxError, ...
        raise ValueError(f"not a decodable PNG, JPEG or WebP image: {exc}") from exc
    if img.width < 1 or img.height < 1:
        raise ValueError("image has no pixels")
    return img


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _sub(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _dot(a: Vec3, b: Vec3) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _normalize(v: Vec3) -> Vec3:
    n = math.sqrt(_dot(v, v))
    if n == 0.0:
        return (0.0, 0.0, 1.0)
    return (v[0] / n, v[1] / n, v[2] / n)


class _MeshBuilder:
    def __init__(self) -> None:
        self.pos: List[Vec3] = []
        self.nrm: List[Vec3] = []
        self.uv: List[Tuple[float, float]] = []
        self.tri: List[int] = []

    def vertex(self, p: Vec3, n: Vec3, uv: Tuple[float, float]) -> int:
        self.pos.append(p)
        self.nrm.append(n)
        self.uv.append(uv)
        return len(self.pos) - 1

    def triangle(self, a: int, b: int, c: int, outward: Vec3) -> None:
        """Add a triangle wound counter-clockwise as seen from ``outward``."""
        pa, pb, pc = self.pos[a], self.pos[b], self.pos[c]
        if _dot(_cross(_sub(pb, pa), _sub(pc, pa)), outward) < 0:
            b, c = c, b
        self.tri.extend((a, b, c))


def _relief_mesh(img: Image.Image, grid: int = GRID) -> _MeshBuilder:
    w, h = img.size
    if w >= h:
        width, height = 1.0, h / w
    else:
        width, height = w / h, 1.0

    # Luminance (times alpha) sampled at the (grid+1)^2 vertices.
    rgba = img.convert("RGBA")
    lum = rgba.convert("L")
    alpha = rgba.getchannel("A")
    lum = ImageChops.multiply(lum, alpha)
    small = lum.resize((grid + 1, grid + 1), Image.BILINEAR).filter(ImageFilter.SMOOTH)
    heights = small.tobytes()   # one byte per vertex (mode "L")

    back_z = -THICKNESS / 2.0
    m = _MeshBuilder()
    n1 = grid + 1

    def xy(i: int, j: int) -> Tuple[float, float]:
        return (-width / 2.0 + width * i / grid, height * (1.0 - j / grid))

    # Front face: vertex (i, j), i = column (left->right), j = row (top->bottom).
    front_pos: List[Vec3] = []
    for j in range(n1):
        for i in range(n1):
            x, y = xy(i, j)
            z = THICKNESS / 2.0 + RELIEF * heights[j * n1 + i] / 255.0
            front_pos.append((x, y, z))
    acc = [[0.0, 0.0, 0.0] for _ in front_pos]
    front_tris: List[Tuple[int, int, int]] = []
    for j in range(grid):
        for i in range(grid):
            a = j * n1 + i          # top-left
            b = a + 1               # top-right
            c = a + n1              # bottom-left
            d = c + 1               # bottom-right
            for t in ((c, d, b), (c, b, a)):   # CCW seen from +Z
                fn = _cross(_sub(front_pos[t[1]], front_pos[t[0]]), _sub(front_pos[t[2]], front_pos[t[0]]))
                for k in t:
                    s = acc[k]
                    s[0] += fn[0]
                    s[1] += fn[1]
                    s[2] += fn[2]
                front_tris.append(t)
    base = len(m.pos)
    for k, p in enumerate(front_pos):
        j, i = divmod(k, n1)
        m.vertex(p, _normalize(tuple(acc[k])), (i / grid, j / grid))
    for t in front_tris:
        m.triangle(base + t[0], base + t[1], base + t[2], (0.0, 0.0, 1.0))

    # Side walls: each edge gets its own vertices with an exact flat normal.
    edges = (
        ([(i, 0) for i in range(n1)], (0.0, 1.0, 0.0)),       # top
        ([(i, grid) for i in range(n1)], (0.0, -1.0, 0.0)),   # bottom (rests on y = 0)
        ([(0, j) for j in range(n1)], (-1.0, 0.0, 0.0)),      # left
        ([(grid, j) for j in range(n1)], (1.0, 0.0, 0.0)),    # right
    )
    for cells, normal in edges:
        fronts, backs = [], []
        for i, j in cells:
            p = front_pos[j * n1 + i]
            uv = (i / grid, j / grid)
            fronts.append(m.vertex(p, normal, uv))
            backs.append(m.vertex((p[0], p[1], back_z), normal, uv))
        for k in range(grid):
            m.triangle(fronts[k], fronts[k + 1], backs[k + 1], normal)
            m.triangle(fronts[k], backs[k + 1], backs[k], normal)

    # Flat back showing the picture mirrored (as seen from behind).
    back_normal = (0.0, 0.0, -1.0)
    corners = []
    for i, j in ((0, 0), (grid, 0), (grid, grid), (0, grid)):
        x, y = xy(i, j)
        corners.append(m.vertex((x, y, back_z), back_normal, (1.0 - i / grid, j / grid)))
    m.triangle(corners[0], corners[1], corners[2], back_normal)
    m.triangle(corners[0], corners[2], corners[3], back_normal)
    return m


def _texture_png(img: Image.Image, texture_size: int, noise: bool) -> bytes:
    # A transparent colour (tRNS) of any mode, not only a palette's, makes an alpha channel.
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(bg, rgba).convert("RGB")
    else:
        rgb = img.convert("RGB")
    tex = rgb.resize((texture_size, texture_size), Image.BICUBIC)
    if noise:
        # Per-pixel noise of +-16 levels defeats PNG compression, so a big
        # texture_size really yields a multi-megabyte GLB.  Seeded: the same
        # input always gives the same bytes.
        rnd = random.Random(0x5EED ^ texture_size)
        raw = rnd.randbytes(texture_size * texture_size * 3)
        grain = Image.frombytes("RGB", tex.size, raw).point(lambda v: v >> 3)
        tex = ImageChops.add(tex, grain, scale=1.0, offset=-16)
    out = io.BytesIO()
    tex.save(out, format="PNG", compress_level=1 if noise else 6)
    return out.getvalue()


def _pad4(data: bytearray, fill: bytes = b"\x00") -> None:
    while len(data) % 4:
        data += fill


def glb_from_image(image_bytes: bytes, texture_size: int = 256, noise: bool = False) -> bytes:
    """Return GLB bytes: a luminance-relief card textured with the picture.

    ``image_bytes`` must be PNG, JPEG or WebP (ValueError otherwise).
    ``texture_size`` is the edge in pixels of the embedded (square) PNG
    texture; ``noise=True`` adds per-pixel grain so large textures stay large.
    The card keeps the image's aspect ratio, is about 1 unit across, stands on
    y = 0 (+Y up) and faces +Z.
    """
    texture_size = int(texture_size)
    if not 1 <= texture_size <= 8192:
        raise ValueError("texture_size must be between 1 and 8192")
    img = decode_image(image_bytes)
    mesh = _relief_mesh(img)
    png = _texture_png(img, texture_size, noise)

    nverts = len(mesh.pos)
    pos_flat = [c for p in mesh.pos for c in p]
    nrm_flat = [c for n in mesh.nrm for c in n]
    uv_flat = [c for t in mesh.uv for c in t]
    pmin = [_f32(min(p[k] for p in mesh.pos)) for k in range(3)]
    pmax = [_f32(max(p[k] for p in mesh.pos)) for k in range(3)]

    binbuf = bytearray()
    views: List[dict] = []

    def add_view(blob: bytes, target: int | None) -> int:
        _pad4(binbuf)
        view = {"buffer": 0, "byteOffset": len(binbuf), "byteLength": len(blob)}
        if target is not None:
            view["target"] = target
        binbuf.extend(blob)
        views.append(view)
        return len(views) - 1

    v_pos = add_view(struct.pack(f"<{len(pos_flat)}f", *pos_flat), _ARRAY_BUFFER)
    v_nrm = add_view(struct.pack(f"<{len(nrm_flat)}f", *nrm_flat), _ARRAY_BUFFER)
    v_uv = add_view(struct.pack(f"<{len(uv_flat)}f", *uv_flat), _ARRAY_BUFFER)
    if nverts <= 65535:
        idx_type, idx_blob = _USHORT, struct.pack(f"<{len(mesh.tri)}H", *mesh.tri)
    else:
        idx_type, idx_blob = _UINT, struct.pack(f"<{len(mesh.tri)}I", *mesh.tri)
    v_idx = add_view(idx_blob, _ELEMENT_ARRAY_BUFFER)
    v_img = add_view(png, None)
    _pad4(binbuf)

    gltf = {
        "asset": {"version": "2.0", "generator": GENERATOR},
        "scene": 0,
        "scenes": [{"name": "Scene", "nodes": [0]}],
        "nodes": [{"name": "ImageRelief", "mesh": 0}],
        "meshes": [{
            "name": "ImageRelief",
            "primitives": [{
                "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                "indices": 3,
                "material": 0,
                "mode": 4,
            }],
        }],
        "materials": [{
            "name": "Picture",
            "pbrMetallicRoughness": {
                "baseColorTexture": {"index": 0, "texCoord": 0},
                "metallicFactor": 0.0,
                "roughnessFactor": 0.8,
            },
        }],
        "textures": [{"sampler": 0, "source": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}],
        "images": [{"name": "picture", "bufferView": v_img, "mimeType": "image/png"}],
        "accessors": [
            {"bufferView": v_pos, "componentType": _FLOAT, "count": nverts, "type": "VEC3",
             "min": pmin, "max": pmax},
            {"bufferView": v_nrm, "componentType": _FLOAT, "count": nverts, "type": "VEC3"},
            {"bufferView": v_uv, "componentType": _FLOAT, "count": nverts, "type": "VEC2"},
            {"bufferView": v_idx, "componentType": idx_type, "count": len(mesh.tri), "type": "SCALAR"},
        ],
        "bufferViews": views,
        "buffers": [{"byteLength": len(binbuf)}],
    }
    json_chunk = bytearray(json.dumps(gltf, separators=(",", ":")).encode("utf-8"))
    _pad4(json_chunk, b" ")
    total = 12 + 8 + len(json_chunk) + 8 + len(binbuf)
    out = bytearray()
    out += struct.pack("<4sII", b"glTF", 2, total)
    out += struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk
    out += struct.pack("<I4s", len(binbuf), b"BIN\x00") + binbuf
    assert len(out) == total
    return bytes(out)


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Build a textured relief GLB from an image.")
    ap.add_argument("image")
    ap.add_argument("out")
    ap.add_argument("--texture-size", type=int, default=256)
    ap.add_argument("--noise", action="store_true")
    args = ap.parse_args(argv)
    with open(args.image, "rb") as fh:
        data = fh.read()
    glb = glb_from_image(data, texture_size=args.texture_size, noise=args.noise)
    with open(args.out, "wb") as fh:
        fh.write(glb)
    print(f"wrote {args.out} ({len(glb)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
