"""A corpus of real odd images for the tests: Pillow's test pictures (every format, the BMP Suite,
damaged and crafted files) from its source package on PyPI, with its licence, plus cut-short copies.

Cached in ``.cache/image-corpus/`` and built when missing.

    .venv/bin/python -m tools.image_corpus            # build it (pip downloads the sdist), print the folder
    .venv/bin/python -m tools.image_corpus --select 200
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PILLOW = "11.3.0"
FOLDER = os.path.join(REPO, ".cache", "image-corpus", f"pillow-{PILLOW}")
#: Files of Pillow's Tests/images that are no pictures (palettes, fonts, archives, scripts).
NOT_PICTURES = (".lut", ".gpl", ".ggr", ".pkl", ".pil", ".bdf", ".pcf", ".ttf", ".otf", ".woff", ".woff2", ".tar",
                ".txt", ".py", ".md", ".html", ".svg", ".pdf", ".ps", ".eps", ".json", ".npy", ".fnt", ".ico.txt",
                ".sh", ".zip", ".gz", ".bz2", ".xz")
#: How many pictures of each kind get a cut-short copy (``cut-NAME``: its first 60 %).
CUT_PER_KIND = 3


def build(folder: str = FOLDER) -> str:
    """The corpus folder, made from the Pillow sdist when it is not there yet."""
    if os.path.isfile(os.path.join(folder, "LICENSE-Pillow")):
        return folder
    tmp = tempfile.mkdtemp(prefix="image-corpus-")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                        f"pillow=={PILLOW}", "-d", tmp], check=True, timeout=600)
        [sdist] = [n for n in os.listdir(tmp) if n.endswith(".tar.gz")]
        staging = folder + ".part"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        with tarfile.open(os.path.join(tmp, sdist)) as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if not member.isfile():
                    continue
                if parts[1:] == ["LICENSE"]:
                    target = "LICENSE-Pillow"
                elif parts[1:3] == ["Tests", "images"] and not member.name.lower().endswith(NOT_PICTURES):
                    target = "__".join(parts[3:])  # sub-folders flattened: bmp__b__badbitcount.bmp
                else:
                    continue
                with tar.extractfile(member) as src, open(os.path.join(staging, target), "wb") as dst:
                    shutil.copyfileobj(src, dst)
        _add_cut_copies(staging)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _add_cut_copies(folder: str) -> None:
    per_kind: dict = {}
    for name in sorted(os.listdir(folder)):
        kind = os.path.splitext(name)[1].lower()
        size = os.path.getsize(os.path.join(folder, name))
        if name.startswith("LICENSE") or size < 2048 or per_kind.get(kind, 0) >= CUT_PER_KIND:
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        with open(os.path.join(folder, "cut-" + name), "wb") as f:
            f.write(data[: len(data) * 6 // 10])


def pictures(folder: str) -> list[str]:
    """Every file of the corpus but its licence, sorted."""
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if not n.startswith("LICENSE"))


def select(folder: str, n: int) -> list[str]:
    """About ``n`` files in the corpus's own mix: the files known to crash Blender's reader, one of each
    kind (by name ending), a tenth cut-short copies, the rest every k-th file; the same choice every time."""
    every = pictures(folder)
    whole = [p for p in every if not os.path.basename(p).startswith("cut-")]
    cut = [p for p in every if os.path.basename(p).startswith("cut-")]
    chosen = [p for p in whole if os.path.basename(p) in ("00r1_graya_la.jp2", "tiff_tiled_cmyk_jpeg.tif")]
    kinds: dict = {}
    for p in whole:
        kinds.setdefault(os.path.splitext(p)[1].lower(), p)
    chosen += [p for p in kinds.values() if p not in chosen]
    chosen += cut[:: max(1, len(cut) // max(1, n // 10))][: n // 10]
    rest = [p for p in whole if p not in chosen]
    room = max(0, n - len(chosen))
    chosen += rest[:: max(1, len(rest) // room)][:room] if room else []
    return sorted(chosen)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--select", type=int, default=0, help="print a selection of about this many files")
    args = ap.parse_args()
    folder = build()
    if args.select:
        print("\n".join(select(folder, args.select)))
    else:
        print(f"{folder}: {len(pictures(folder))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
