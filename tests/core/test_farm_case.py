"""Issue 20, item 7: paths compared without case where the file system ignores it (Windows,
macOS by default), with case where it does not (Linux): the rule is a parameter of the helper,
and by default a probe of the folder."""

from __future__ import annotations

import os

import pytest

from tripo_addon.core import fsutil
from tripo_addon.core.fsutil import folder_ignores_case, path_key, same_path, same_source
from tripo_addon.core.inputs import expand


@pytest.mark.parametrize("ignore_case", [True, False])
def test_two_spellings_of_one_file_are_one_where_case_is_ignored(ignore_case):
    a, b = "/Users/Zo\u00eb/Pictures/Chair.PNG", "/users/zo\u00cb/pictures/./chair.png"
    assert same_path(a, b, ignore_case) is ignore_case
    assert (path_key(a, ignore_case) == path_key(b, ignore_case)) is ignore_case
    assert same_path(a, "/Users/Zo\u00eb/Pictures/Chair.PNG", ignore_case)  # the same spelling: always one
    assert not same_path(a, "/Users/Zo\u00eb/Pictures/Table.png", ignore_case)
    assert same_path("", "", ignore_case) and not same_path(a, "", ignore_case)  # "" is an unsaved file


@pytest.mark.parametrize("ignore_case", [True, False])
def test_inputs_dedupe_follows_the_case_rule(tmp_path, ignore_case):
    names = [str(tmp_path / "Chair.png"), str(tmp_path / "chair.PNG"), str(tmp_path / "sub" / ".." / "CHAIR.png")]
    sources = expand(names, ignore_case=ignore_case).sources
    assert sources == (names[:1] if ignore_case else names)


@pytest.mark.parametrize("ignore_case", [True, False])
def test_job_sources_compare_as_paths_only_when_they_are_paths(ignore_case):
    assert same_source("/a/Chair.png", "/A/chair.png", ignore_case) is ignore_case
    assert not same_source("Render Result", "render result", ignore_case)  # Blender's image names keep case
    assert not same_source("https://x.test/Chair.png", "https://x.test/chair.png", ignore_case)


def test_the_probe_says_a_linux_folder_keeps_case(tmp_path):
    folder_ignores_case.cache_clear()
    (tmp_path / "Chair.png").write_bytes(b"1")
    (tmp_path / "chair.png").write_bytes(b"2")  # two files: this file system keeps case
    assert folder_ignores_case(str(tmp_path)) is False
    assert folder_ignores_case(str(tmp_path / "not" / "made" / "yet")) is False  # the nearest existing part
    assert expand([str(tmp_path / "Chair.png"), str(tmp_path / "chair.png")]).sources == [
        str(tmp_path / "Chair.png"), str(tmp_path / "chair.png")]
    assert not same_path(str(tmp_path / "Chair.png"), str(tmp_path / "chair.png"))


def test_the_probe_asks_the_file_system_itself(tmp_path, monkeypatch):
    """A file system that ignores case answers "same file" for the other spelling: the probe
    believes the file system (samefile, that is stat), not the platform's name."""
    folder_ignores_case.cache_clear()
    folder = tmp_path / "Shots"
    folder.mkdir()
    real_stat = os.stat

    def case_blind_stat(path, *args, **kwargs):  # what stat does on APFS or NTFS
        text = os.fspath(path)
        if text.lower() == str(folder).lower():
            text = str(folder)
        return real_stat(text, *args, **kwargs)
    monkeypatch.setattr(fsutil.os, "stat", case_blind_stat)
    assert folder_ignores_case(str(folder)) is True
    monkeypatch.undo()
    folder_ignores_case.cache_clear()
    assert folder_ignores_case(str(folder)) is False
