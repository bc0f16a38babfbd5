"""matrix.txt, the one place of the test matrix's bpy pins, and the update
check tools/matrix_updates.py (information only: no network here)."""

from __future__ import annotations

from tools import matrix_updates as mu

LEGS = [
    {"leg": "bpy45", "bpy": "4.5.3", "python": "3.11", "where": "host", "tests": "full"},
    {"leg": "bpy52", "bpy": "5.2.3", "python": "3.13", "where": "trixie", "tests": "not-gui"},
    {"leg": "bpy53", "bpy": "5.3.0", "python": "3.13", "where": "trixie", "tests": "matrix"},
    {"leg": "gui-sid", "bpy": "-", "python": "3.14", "where": "host", "tests": "gui:sid"},
]


def test_matrix_txt_names_each_leg_once_with_a_known_place_and_selection():
    legs = mu.read_matrix()
    names = [leg["leg"] for leg in legs]
    assert len(names) == len(set(names)) and "bpy45" in names
    for leg in legs:
        assert leg["where"] in {"host", "trixie"}, leg
        assert leg["tests"] in {"full", "not-gui", "matrix"} or leg["tests"].startswith("gui:"), leg
        assert leg["bpy"] == "-" or mu.version_key(leg["bpy"]), leg
    # PyPI bpy 5.1 and later is built for Python 3.13 only: those legs run in the chroot.
    for leg in legs:
        if mu.version_key(leg["bpy"]) and mu.version_key(leg["bpy"]) >= (5, 1):
            assert (leg["python"], leg["where"]) == ("3.13", "trixie"), leg


def test_says_when_a_newer_release_than_the_newest_pin_is_out():
    lines = mu.report(LEGS, {"3.11": ["4.5.3"], "3.13": ["5.4.0", "5.3.0", "5.2.3"]})
    assert lines == ["NEWER bpy on PyPI: 5.4.0 (newest pinned: 5.3.0, leg bpy53); add a leg to matrix.txt"]


def test_says_the_newest_is_pinned_and_names_newer_patch_releases_of_a_pinned_series():
    lines = mu.report(LEGS, {"3.11": ["4.5.15", "4.5.3", "4.2.23"], "3.13": ["5.3.0", "5.2.4", "5.2.3", "5.3.0rc1"]})
    assert lines == ["bpy 5.3.0 is the newest on PyPI and is pinned (leg bpy53)",
                     "leg bpy45: bpy 4.5.15 is out, 4.5.3 is pinned",
                     "leg bpy52: bpy 5.2.4 is out, 5.2.3 is pinned"]


def test_without_an_answer_from_pypi_it_says_so_and_exits_0(monkeypatch, capsys):
    def offline(python, timeout=60):
        raise RuntimeError("Network is unreachable")

    monkeypatch.setattr(mu, "pypi_versions", offline)
    assert mu.main() == 0
    out = capsys.readouterr().out
    assert "could not ask PyPI" in out and "NEWER" not in out
