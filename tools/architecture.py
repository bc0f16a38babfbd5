"""The parts of docs/architecture.md made from the code: the packages' import diagram (imports that
break a layer contract in red) and the list of modules with the first paragraph of their docstrings.

    python -m tools.architecture            # rewrite both between their markers
    python -m tools.architecture --check    # exit 1 when what is committed is not the code's

Made from the code so they cannot drift: tests/core/test_architecture_doc.py fails when an import
between packages, a module or a docstring's first paragraph changed and the page was not redrawn.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "architecture.md")
CONFIG = os.path.join(REPO, ".importlinter")
SECTIONS = ("diagram", "modules")
PACKAGE = "tripo_addon"
#: The two halves of the add-on, drawn as boxes; their plain modules are drawn as one node each.
HALVES = {"tripo_addon.blender": "tripo_addon.blender: the thin bpy layer",
          "tripo_addon.core": "tripo_addon.core: plain Python, no bpy"}
#: Everything above the core uses it: an import into the core from outside is drawn to its box.
INTO_BOX = "tripo_addon.core"
RED = "stroke:#d22,stroke-width:3px,color:#d22"


def build_graph():
    import grimp

    return grimp.build_graph(PACKAGE, cache_dir=None)


def node_of(module: str, graph) -> str:
    """The node a module is drawn in: a sub-package of a half, the plain modules of a half
    together (``<half>.*``), or the module itself (the root package, ``api``)."""
    for half in HALVES:
        if module.startswith(half + "."):
            child = half + "." + module[len(half) + 1:].split(".")[0]
            return child if graph.find_children(child) else half + ".*"
    return module


def _label(node: str, graph) -> str:
    if node.endswith(".*"):
        half = node[:-2]
        names = sorted(m.rsplit(".", 1)[1] for m in graph.find_children(half) if not graph.find_children(m))
        return f"{half.rsplit('.', 1)[1]}/*.py<br/>{', '.join(names)}"
    if node == PACKAGE:
        return "tripo_addon<br/>register()"
    return node.rsplit(".", 1)[-1]


def _half(node: str) -> str | None:
    return next((h for h in HALVES if node.startswith(h + ".")), None)


def _layers(spec: str):
    import grimp

    independent = ":" not in spec
    tails = [t.strip().strip("()") for t in spec.replace(":", "|").split("|")]
    return grimp.Layer(*tails, independent=independent)


def illegal_imports(graph, config: str = CONFIG) -> set[tuple[str, str]]:
    """Module imports (importer, imported) that are the first step of a chain breaking a
    layers contract, once the contract's own ignored imports are left out."""
    from importlinter.api import read_configuration

    found = set()
    for contract in read_configuration(config)["contracts_options"]:
        if contract["type"] != "layers":
            continue
        checked = copy.deepcopy(graph)
        present = checked.modules
        for expression in contract.get("ignore_imports", []):
            importer, imported = (s.strip() for s in expression.split("->"))
            if {importer, imported} <= present and checked.direct_import_exists(importer=importer, imported=imported):
                checked.remove_import(importer=importer, imported=imported)
        layers = [_layers(spec) for spec in contract["layers"]]
        containers = set(contract.get("containers", [])) or None
        for dependency in checked.find_illegal_dependencies_for_layers(layers, containers=containers):
            for route in dependency.routes:
                step = route.middle[0] if route.middle else None
                for head in route.heads:
                    for target in ([step] if step else route.tails):
                        if checked.direct_import_exists(importer=head, imported=target):
                            found.add((head, target))
    return found


def diagram(graph, illegal: set[tuple[str, str]]) -> str:
    """The Mermaid text. An import into the core from outside it is drawn to the core's box, so
    the picture shows each half's inside and what uses the core, not every line into it."""
    modules = sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + "."))
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for importer in modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if not imported.startswith(PACKAGE):
                continue
            a, b = node_of(importer, graph), node_of(imported, graph)
            if a == b:
                continue
            if _half(b) == INTO_BOX and _half(a) != INTO_BOX:
                b = INTO_BOX
            edges.setdefault((a, b), []).append((importer, imported))
    nodes = sorted({node_of(m, graph) for m in modules} - set(HALVES))
    ident = {n: n.replace(".", "_").replace("*", "modules") for n in list(nodes) + list(HALVES)}
    lines = ["```mermaid", "flowchart TB"]
    for node in nodes:
        if _half(node) is None:
            lines.append(f'    {ident[node]}["{_label(node, graph)}"]')
    for half, title in HALVES.items():
        lines.append(f'    subgraph {ident[half]}["{title}"]')
        lines.extend(f'        {ident[n]}["{_label(n, graph)}"]' for n in nodes if _half(n) == half)
        lines.append("    end")
    red, broken = [], []
    for number, ((a, b), imports) in enumerate(sorted(edges.items())):
        lines.append(f"    {ident[a]} --> {ident[b]}")
        bad = sorted(i for i in imports if i in illegal)
        if bad:
            red.append(str(number))
            broken.extend(bad)
    if red:
        lines.append(f"    linkStyle {','.join(red)} {RED}")
    lines.append("```")
    if broken:
        lines.append("")
        lines.append("In red, imports that break a layer contract today:")
        lines.append("")
        lines.extend(f"- `{importer}` imports `{imported}`" for importer, imported in broken)
    else:
        lines.append("")
        lines.append("No import breaks a layer contract.")
    return "\n".join(lines) + "\n"


def _markdown(doc: str) -> str:
    """A docstring's reST roles and literals as Markdown: ``x`` -> `x`, :class:`~.a.B` -> `B`."""
    doc = re.sub(r":\w+:`~[\w.]*?\.?(\w+)`", r"`\1`", doc)
    doc = re.sub(r":\w+:`([^`]+)`", r"`\1`", doc)
    return doc.replace("``", "`")


def modules(package: str = PACKAGE) -> str:
    """Each package's modules, each with the first paragraph of its docstring."""
    root = os.path.join(REPO, package)
    lines = []
    for folder, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(folder, REPO).replace(os.sep, "/")
        names = sorted(f for f in files if f.endswith(".py"))
        if not names:
            continue
        lines.append(f"- `{rel}/`")
        for name in names:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                doc = ast.get_docstring(ast.parse(f.read())) or ""
            first = " ".join(doc.split("\n\n")[0].split())
            lines.append(f"  - `{name}`: {_markdown(first)}")
    return "\n".join(lines) + "\n"


def _markers(name: str) -> tuple[str, str]:
    return (f"<!-- {name}: made by python -m tools.architecture from the code; do not edit by hand -->",
            f"<!-- end of {name} -->")


def current_sections() -> dict[str, str]:
    graph = build_graph()
    made = {"diagram": diagram(graph, illegal_imports(graph)), "modules": modules()}
    return {name: _markers(name)[0] + "\n" + made[name] + _markers(name)[1] for name in SECTIONS}


def committed_sections(path: str = DOC) -> dict[str, str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = {}
    for name in SECTIONS:
        begin, end = _markers(name)
        start, stop = text.index(begin), text.index(end) + len(end)
        found[name] = text[start:stop]
    return found


def write(path: str = DOC) -> bool:
    """Redraw the made parts of ``path``; whether anything changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    old, new = committed_sections(path), current_sections()
    for name in SECTIONS:
        text = text.replace(old[name], new[name])
    if old == new:
        return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.architecture", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the diagram is stale")
    args = parser.parse_args(argv)
    rel = os.path.relpath(DOC, REPO)
    if args.check:
        stale = [n for n, text in committed_sections().items() if current_sections()[n] != text]
        if stale:
            print(f"{rel}: the {' and the '.join(stale)} are not the code's; run python -m tools.architecture")
            return 1
        print(f"{rel}: the diagram and the module list are the code's")
        return 0
    print(f"{rel}: {'redrawn' if write() else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
