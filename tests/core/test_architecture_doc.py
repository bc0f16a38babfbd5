"""docs/architecture.md's diagram and module list are what tools/architecture.py makes from the
code now, and the diagram marks an import that breaks a layer contract."""

from __future__ import annotations

import grimp

from tools import architecture


def test_the_committed_diagram_and_module_list_are_the_codes():
    committed, current = architecture.committed_sections(), architecture.current_sections()
    for name in architecture.SECTIONS:
        assert committed[name] == current[name], (
            f"docs/architecture.md's {name} is not the code's: run python -m tools.architecture and commit it")


def _graph(*edges):
    """A small graph shaped like the add-on's: every package of each module is in it, as grimp has them."""
    graph = grimp.ImportGraph()
    for module in {m for edge in edges for m in edge}:
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            graph.add_module(".".join(parts[:depth]))
    for importer, imported in edges:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    return graph


def test_an_import_against_the_layers_is_drawn_red_and_named():
    graph = _graph(("tripo_addon.blender.ui.panels", "tripo_addon.blender.engine.manager"),
                   ("tripo_addon.blender.engine.start", "tripo_addon.blender.ui.properties"),
                   ("tripo_addon.blender.engine.manager", "tripo_addon.core.errors"))
    illegal = architecture.illegal_imports(graph)
    assert illegal == {("tripo_addon.blender.engine.start", "tripo_addon.blender.ui.properties")}
    text = architecture.diagram(graph, illegal)
    edges = [line.strip() for line in text.splitlines() if "-->" in line]
    assert edges == ["tripo_addon_blender_engine --> tripo_addon_blender_ui",
                     "tripo_addon_blender_engine --> tripo_addon_core",
                     "tripo_addon_blender_ui --> tripo_addon_blender_engine"]
    assert f"linkStyle 0 {architecture.RED}" in text
    assert "- `tripo_addon.blender.engine.start` imports `tripo_addon.blender.ui.properties`" in text


def test_the_ignored_registration_import_is_not_red():
    graph = _graph(("tripo_addon.blender.ui.registration", "tripo_addon.blender.cli.main"),
                   ("tripo_addon.blender.cli.main", "tripo_addon.core.errors"))
    assert architecture.illegal_imports(graph) == set()
    assert "No import breaks a layer contract." in architecture.diagram(graph, set())
