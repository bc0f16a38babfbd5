"""What a batch was asked to do: files, folders, globs and ``@list.txt`` files turned into one
ordered list of image sources, and a stable share of it for one farm task (``--shard K/N``)."""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass, field

from .fsutil import path_key
from .images import is_url

#: Files a folder or glob contributes: every format Blender reads as an image.
IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".exr", ".hdr", ".tga", ".bmp", ".gif", ".jp2",
    ".j2c", ".dpx", ".cin", ".sgi", ".rgb", ".bw", ".psd",
})


@dataclass
class Inputs:
    sources: list[str] = field(default_factory=list)
    #: One sentence per argument that gave nothing (a missing file, an empty folder...).
    problems: list[str] = field(default_factory=list)
    #: source -> what its shard is a hash of (see :func:`shard_key`).
    shard_keys: dict[str, str] = field(default_factory=dict)


def _is_image_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _folder(path: str, recursive: bool) -> list[str]:
    found = []
    if recursive:
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(root, f) for f in sorted(files) if _is_image_name(f) and not f.startswith(".")]
    else:
        found = [os.path.join(path, f) for f in sorted(os.listdir(path))
                 if _is_image_name(f) and not f.startswith(".") and os.path.isfile(os.path.join(path, f))]
    return found


def _list_file(path: str) -> tuple[list[str], str | None]:
    """Lines of an ``@list.txt``: one path or URL each; blank lines and # comments skipped.
    Relative paths are relative to the list file's folder."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        return [], f"Could not read the list {path} ({exc.strerror}); check the path."
    except UnicodeDecodeError:
        return [], f"The list {path} is not UTF-8 text; save it as UTF-8, one path or URL a line."
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line if is_url(line) or os.path.isabs(line) else os.path.join(base, line))
    return out, None


def expand(items: list[str], *, recursive: bool = False, ignore_case: bool | None = None) -> Inputs:
    """Every image named by ``items``, in the order given, each once (two
    spellings of one file are one where the file system ignores case: see
    :func:`~.fsutil.path_key`, which ``ignore_case`` is passed to).

    A plain path is kept even if it does not exist or is not an image: the
    job for it then fails alone, with its own message, and the rest go on.
    """
    result = Inputs()
    seen: set[str] = set()

    def add(source: str, root: str = "") -> None:
        key = source if is_url(source) else path_key(source, ignore_case)
        if key not in seen:
            seen.add(key)
            result.sources.append(source)
            result.shard_keys[source] = shard_key(source, root)

    def one(item: str, depth: int = 0) -> None:
        if is_url(item):
            add(item)
        elif item.startswith("@") and len(item) > 1 and depth == 0:
            lines, problem = _list_file(item[1:])
            if problem:
                result.problems.append(problem)
            for line in lines:
                one(line, depth + 1)
        elif os.path.isdir(item):
            found = _folder(item, recursive)
            if not found:
                result.problems.append(f"The folder {item} holds no images"
                                       + ("." if recursive else " (add --recursive to look in its sub-folders)."))
            for path in found:
                add(path, item)
        elif glob.has_magic(item) and not os.path.exists(item):
            found = sorted(p for p in glob.glob(item, recursive=recursive) if os.path.isfile(p) and _is_image_name(p))
            if not found:
                result.problems.append(f"No image matches {item}.")
            for path in found:
                add(path, _fixed_part(item))
        else:
            add(item, os.path.dirname(item) if os.path.isabs(item) else "")

    for item in items:
        one(item)
    return result


def parse_shard(value: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N) -> (K, N); ValueError with a sentence otherwise."""
    try:
        k_text, n_text = value.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"--shard must look like K/N (for example 2/8), not {value!r}.") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {value}: K must be between 1 and N.")
    return k, n


def _fixed_part(pattern: str) -> str:
    """The folder a glob starts in: its leading parts without wildcards."""
    parts = re.split(r"[\\/]", pattern)
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def shard_key(source: str, root: str = "") -> str:
    """What decides ``source``'s shard: its path relative to the input root it
    came from (the folder or the glob's folder; an absolute file's own folder),
    with ``/`` separators. So workers that see one share as ``/mnt/share/a``
    and ``Z:\\a`` split it the same way; a URL is its own key."""
    if is_url(source):
        return source
    text = source.replace("\\", "/")
    base = root.replace("\\", "/").rstrip("/")
    if base and text.startswith(base + "/"):
        text = text[len(base) + 1:]
    while text.startswith("./"):
        text = text[2:]
    return text


def shard_of(source: str, n: int) -> int:
    """The shard (1..n) of a source whose :func:`shard_key` is ``source``: a
    hash, so a file keeps its shard when others are added or removed."""
    digest = hashlib.sha256(source.replace("\\", "/").encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def take_shard(sources: list[str], k: int, n: int, keys: dict[str, str] | None = None) -> list[str]:
    """The sources of shard ``k`` of ``n``; ``keys`` from :attr:`Inputs.shard_keys`."""
    keys = keys or {}
    return [s for s in sources if shard_of(keys.get(s, s), n) == k]
