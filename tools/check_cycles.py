"""Every import cycle among the add-on's modules, lazy imports inside functions included.

    python -m tools.check_cycles          # exit 1 listing each cycle, 0 when there is none

import-linter's ``acyclic_siblings`` contract (.importlinter) finds cycles between sibling
packages and modules; this also finds those through a package's ``__init__`` and its own
modules, and names each cycle module by module, with the line of every import in it.
"""

from __future__ import annotations

import sys

PACKAGE = "tripo_addon"


def build_graph(package: str = PACKAGE):
    """The import graph of ``package`` as grimp sees it (run from the repository root)."""
    import grimp

    return grimp.build_graph(package, cache_dir=None)


def _strongly_connected(nodes: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's components, without recursion (a deep chain must not hit Python's limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def find_cycles(graph, package: str = PACKAGE) -> list[list[tuple[str, str, list[int]]]]:
    """Each group of modules that import one another in a circle, as its import edges
    (importer, imported, line numbers); empty when the graph has no cycle."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    inside = set(modules)
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in inside) for m in modules}
    cycles = []
    for component in _strongly_connected(modules, edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue
        cycle = []
        for importer in component:
            for imported in edges[importer]:
                if imported in members:
                    details = graph.get_import_details(importer=importer, imported=imported)
                    cycle.append((importer, imported, sorted({d["line_number"] for d in details})))
        cycles.append(cycle)
    return cycles


def report(cycles) -> str:
    lines = []
    for number, cycle in enumerate(cycles, 1):
        members = sorted({importer for importer, _, _ in cycle})
        lines.append(f"cycle {number}: {len(members)} modules import one another: {', '.join(members)}")
        for importer, imported, numbers in cycle:
            at = ", ".join(f"l.{n}" for n in numbers)
            lines.append(f"    {importer} -> {imported} ({at})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cycles = find_cycles(build_graph())
    if not cycles:
        print(f"check_cycles: no import cycle among {PACKAGE}'s modules")
        return 0
    print(report(cycles))
    print(f"check_cycles: {len(cycles)} import cycle(s); each edge above is an import to remove or move")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
