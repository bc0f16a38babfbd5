"""Batch inputs: files, folders, globs and @lists into one list; stable shards."""

from __future__ import annotations

import os

import pytest

from tripo_addon.core.inputs import expand, parse_shard, shard_of, take_shard


@pytest.fixture
def tree(tmp_path):
    for rel in ("a.png", "b.JPG", "c.tif", "notes.txt", ".hidden.png", "sub/d.webp", "sub/deeper/e.exr"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def test_folder_glob_list_and_url_in_order_each_once(tree):
    listing = tree / "list.txt"
    listing.write_text("# shots\nsub/d.webp\n\nhttps://example.com/mug.jpg\n" + str(tree / "a.png") + "\n")
    got = expand([str(tree), str(tree / "sub" / "*.webp"), f"@{listing}", "https://example.com/mug.jpg"])
    names = [os.path.relpath(s, tree) if not s.startswith("https") else s for s in got.sources]
    assert names == ["a.png", "b.JPG", "c.tif", "sub/d.webp", "https://example.com/mug.jpg"]
    assert got.problems == []


def test_recursive_reaches_sub_folders(tree):
    flat = expand([str(tree)]).sources
    deep = expand([str(tree)], recursive=True).sources
    assert len(flat) == 3 and len(deep) == 5
    assert str(tree / "sub" / "deeper" / "e.exr") in deep


def test_what_gives_nothing_is_said_and_missing_files_fail_alone(tree, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    got = expand([str(empty), str(tree / "*.gif"), "@" + str(tmp_path / "nope.txt"), str(tree / "gone.png"),
                  "-x.png"])
    assert got.sources == [str(tree / "gone.png"), "-x.png"]
    assert len(got.problems) == 3
    assert "holds no images" in got.problems[0] and "--recursive" in got.problems[0]
    assert "No image matches" in got.problems[1] and "Could not read the list" in got.problems[2]


def test_shards_are_a_stable_partition():
    sources = [f"shots/img_{i:04d}.png" for i in range(400)]
    parts = [take_shard(sources, k, 4) for k in (1, 2, 3, 4)]
    assert sorted(s for p in parts for s in p) == sorted(sources)
    assert all(60 <= len(p) <= 140 for p in parts), [len(p) for p in parts]
    # Adding files moves none of the others.
    more = sources + [f"shots/new_{i}.png" for i in range(50)]
    assert all(shard_of(s, 4) == k for k, p in enumerate(parts, 1) for s in p)
    assert set(parts[0]) <= set(take_shard(more, 1, 4))


@pytest.mark.parametrize("bad", ["0/4", "5/4", "x", "1/0", "2"])
def test_bad_shard_is_a_sentence(bad):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(bad)
    assert parse_shard("3/8") == (3, 8)
