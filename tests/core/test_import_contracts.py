"""The layer contracts (.importlinter) and the structure checkers (tools/check_cycles.py,
tools/check_layout.py) catch what they exist for: each is shown a real import it forbids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import grimp
import pytest

from tools import check_cycles, check_layout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def _lint(workdir, contract):
    proc = subprocess.run([LINT_IMPORTS, "--no-cache", "--no-logo", "--contract", contract, ".importlinter"],
                          cwd=workdir, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def scratch(tmp_path):
    """A copy of the add-on and its contracts, to add one forbidden import to."""
    shutil.copytree(os.path.join(REPO, "tripo_addon"), tmp_path / "tripo_addon",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(REPO, ".importlinter"), tmp_path / ".importlinter")
    return tmp_path


# (contract id, module file, the import added at its end, what the report must then name)
FORBIDDEN = [
    # Two names in one statement (this folder's tests may not hold the plain form: test_no_bpy.py).
    ("core-without-blender", "core/glb.py", "import gpu, bpy", "tripo_addon.core.glb -> bpy"),
    ("core-without-blender", "core/fsutil.py", "import mathutils", "tripo_addon.core.fsutil -> mathutils"),
    ("core-without-blender", "core/net/urls.py", "from ...blender import settings",
     "tripo_addon.core.net.urls -> tripo_addon.blender.settings"),
    ("layers", "blender/imp/viewport.py", "from ..engine import manager",
     "tripo_addon.blender.imp.viewport -> tripo_addon.blender.engine.manager"),
    ("layers", "blender/user_data.py", "from .exp import image_source",
     "tripo_addon.blender.user_data -> tripo_addon.blender.exp.image_source"),
    ("layers", "blender/ui/panels.py", "def _late():\n    from ... import api",
     "tripo_addon.blender.ui.panels -> tripo_addon.api"),
    ("layers", "blender/cli/outputs.py", "from ..ui import job_list",
     "tripo_addon.blender.cli.outputs -> tripo_addon.blender.ui.job_list"),
    ("core-layers", "core/journal/index.py", "from ..net import urls",
     "tripo_addon.core.journal.index -> tripo_addon.core.net.urls"),
    ("core-layers", "core/net/urls.py", "from ..storage import sigv4",
     "tripo_addon.core.net.urls -> tripo_addon.core.storage.sigv4"),
    ("ui-on-top", "blender/settings.py", "from .ui import panels",
     "tripo_addon.blender.settings -> tripo_addon.blender.ui.panels"),
    ("cli-is-a-leaf", "__init__.py", "from .blender.cli import checks",
     "tripo_addon -> tripo_addon.blender.cli.checks"),
    ("cli-is-a-leaf", "blender/ui/operators.py", "from ..cli import main",
     "tripo_addon.blender.ui.operators -> tripo_addon.blender.cli.main"),
    ("cli-is-a-leaf", "api.py", "def _late():\n    from .blender.cli import outputs",
     "tripo_addon.api -> tripo_addon.blender.cli.outputs"),
    ("cli-is-a-leaf", "blender/engine/__init__.py", "from ..cli import checks",
     "tripo_addon.blender.engine -> tripo_addon.blender.cli.checks"),
    ("acyclic", "core/fsutil.py", "from .journal import store", ".fsutil"),
]


@pytest.mark.parametrize("contract, module, line, named", FORBIDDEN,
                         ids=[f"{c}:{m}" for c, m, _, _ in FORBIDDEN])
def test_each_contract_breaks_on_an_import_it_forbids(scratch, contract, module, line, named):
    _, before = _lint(scratch, contract)
    assert named not in before
    with open(scratch / "tripo_addon" / module, "a", encoding="utf-8") as f:
        f.write("\n\n" + line + "\n")
    rc, after = _lint(scratch, contract)
    assert rc == 1, after
    assert named in after, after


def test_registration_is_the_one_way_into_the_command_line(scratch):
    """The ignored edge is the registration hook's; that it exists is checked too (an ignore
    that matches no import is an error), so a moved hook cannot leave a stale exception."""
    rc, out = _lint(scratch, "cli-is-a-leaf")
    assert "tripo_addon.blender.ui.registration -> tripo_addon.blender.cli.main" not in out
    assert "1 ignored import" in out, out


def _graph(*edges):
    graph = grimp.ImportGraph()
    for importer, imported, line in edges:
        graph.add_import(importer=importer, imported=imported, line_number=line, line_contents="import x")
    return graph


def test_check_cycles_names_every_edge_of_a_cycle_with_its_line():
    graph = _graph(("pkg.a", "pkg.b", 3), ("pkg.b", "pkg.c", 7), ("pkg.c", "pkg.a", 12), ("pkg.c", "pkg.d", 2),
                   ("pkg.d", "ext", 1))
    cycles = check_cycles.find_cycles(graph, "pkg")
    assert cycles == [[("pkg.a", "pkg.b", [3]), ("pkg.b", "pkg.c", [7]), ("pkg.c", "pkg.a", [12])]]
    text = check_cycles.report(cycles)
    assert "pkg.c -> pkg.a (l.12)" in text and "pkg.d" not in text


def test_check_cycles_finds_a_package_init_and_its_own_module():
    """The case import-linter's sibling contract cannot see: a parent is no sibling of its child."""
    graph = _graph(("pkg.sub", "pkg.sub.mod", 1), ("pkg.sub.mod", "pkg.sub", 5))
    assert check_cycles.find_cycles(graph, "pkg") == [[("pkg.sub", "pkg.sub.mod", [1]),
                                                       ("pkg.sub.mod", "pkg.sub", [5])]]


def test_check_cycles_passes_a_graph_without_cycles():
    graph = _graph(("pkg.a", "pkg.b", 1), ("pkg.b", "pkg.c", 1), ("pkg.a", "pkg.c", 2))
    assert check_cycles.find_cycles(graph, "pkg") == []


def test_check_cycles_reads_imports_inside_functions(scratch):
    with open(scratch / "tripo_addon" / "core" / "errors.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _late():\n    from .net import urls\n")
    # Run in the copy (its tripo_addon comes first on the path), with tools from the repository.
    proc = subprocess.run([sys.executable, "-m", "tools.check_cycles"], cwd=scratch, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "tripo_addon.core.errors -> tripo_addon.core.net.urls" in proc.stdout


def test_check_layout_fails_a_folder_of_sixteen_modules(tmp_path):
    crowded = tmp_path / "pkg" / "crowded"
    crowded.mkdir(parents=True)
    for n in range(16):
        (crowded / f"m{n}.py").write_text("")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    fine = tmp_path / "pkg" / "fine"
    fine.mkdir()
    for n in range(15):
        (fine / f"m{n}.py").write_text("")
    (fine / "__init__.py").write_text("")
    assert check_layout.crowded_folders(str(tmp_path / "pkg")) == [(str(crowded), 16)]


def test_check_layout_lists_long_files_longest_first(tmp_path):
    (tmp_path / "short.py").write_text("x = 1\n" * 400)
    (tmp_path / "long.py").write_text("x = 1\n" * 401)
    (tmp_path / "longer.py").write_text("x = 1\n" * 900)
    assert check_layout.long_files([str(tmp_path)]) == [(str(tmp_path / "longer.py"), 900),
                                                         (str(tmp_path / "long.py"), 401)]
