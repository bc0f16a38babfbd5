"""Issue 20, item 7: ``--shard K/N`` splits a folder the same way on every worker, whether it
sees the share as /mnt/share/a or Z:\\a: a shard is a hash of the path relative to its input root."""

from __future__ import annotations

import os

import pytest

from tripo_addon.core.inputs import expand, shard_key, take_shard

NAMES = [f"{group}/{kind}_{i:02d}.png" for group in ("chairs", "tables", "lamps/desk") for kind in ("a", "b")
         for i in range(12)] + [f"loose_{i}.jpg" for i in range(20)]


def make_tree(root) -> None:
    for name in NAMES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG")  # only names count here


def relative_split(root, how: str, n: int) -> list[list[str]]:
    if how == "folder":
        inputs = expand([str(root)], recursive=True)
    else:
        inputs = expand([str(root) + "/**/*.*"], recursive=True)
    assert len(inputs.sources) == len(NAMES)
    shards = [take_shard(inputs.sources, k, n, keys=inputs.shard_keys) for k in range(1, n + 1)]
    return [sorted(os.path.relpath(s, root).replace(os.sep, "/") for s in shard) for shard in shards]


@pytest.mark.parametrize("how", ["folder", "glob"])
def test_the_same_tree_under_two_roots_splits_the_same_way(tmp_path, how):
    linux, other = tmp_path / "mnt" / "share" / "a", tmp_path / "Volumes" / "Farm Share" / "projects" / "a"
    make_tree(linux)
    make_tree(other)
    first, second = relative_split(linux, how, 4), relative_split(other, how, 4)
    assert first == second
    everything = [name for shard in first for name in shard]
    assert sorted(everything) == sorted(NAMES)  # every input in exactly one shard
    assert all(shard for shard in first)  # and the split is a split


def test_windows_and_posix_spellings_of_one_file_have_one_key():
    posix = shard_key("/mnt/share/a/lamps/desk/a_03.png", "/mnt/share/a")
    assert posix == "lamps/desk/a_03.png"
    assert shard_key("Z:\\a\\lamps\\desk\\a_03.png", "Z:\\a") == posix
    assert shard_key("Z:\\a\\lamps\\desk\\a_03.png", "Z:\\a\\") == posix
    assert shard_key("\\\\nas\\share\\a\\lamps/desk\\a_03.png", "\\\\nas\\share\\a") == posix
    assert shard_key("https://example.com/a/x.png", "https://example.com") == "https://example.com/a/x.png"
    keys = [shard_key(f"Z:\\a\\{n.replace('/', chr(92))}", "Z:\\a") for n in NAMES]
    assert take_shard(keys, 2, 3) == take_shard(NAMES, 2, 3)  # the keys hash as the relative names do


def test_files_named_one_by_one_split_by_their_names(tmp_path):
    make_tree(tmp_path / "x")
    make_tree(tmp_path / "y")
    a = expand([str(tmp_path / "x" / n) for n in NAMES])
    b = expand([str(tmp_path / "y" / n) for n in NAMES])
    split = [[os.path.basename(s) for s in take_shard(inp.sources, 1, 3, keys=inp.shard_keys)] for inp in (a, b)]
    assert split[0] == split[1] and split[0]
