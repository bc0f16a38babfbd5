"""Every module says what it holds in a one- or two-line docstring, and what the code's text
names (a module by a relative reference, a file of the repository by its path) exists."""

from __future__ import annotations

import ast
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CODE_DIRS = ("tripo_addon", "tools", "scripts")
TEXT_SUFFIXES = (".py", ".sh", ".mjs", ".js", ".yaml")


def _files(suffixes, dirs=CODE_DIRS):
    for top in dirs:
        for folder, subdirs, names in os.walk(os.path.join(REPO, top)):
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(suffixes):
                    yield os.path.relpath(os.path.join(folder, name), REPO)


PY_FILES = list(_files((".py",)))


def _read(rel):
    with open(os.path.join(REPO, rel), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("rel", PY_FILES)
def test_module_docstring_says_what_it_holds_first(rel):
    doc = ast.get_docstring(ast.parse(_read(rel)))
    assert doc, f"{rel} has no module docstring"
    first = doc.split("\n\n")[0]
    assert len(first.splitlines()) <= 2, f"{rel}: the docstring's first paragraph is longer than two lines"


def _modules():
    found = {}
    for rel in _files((".py",), ("tripo_addon",)):
        name = rel[:-3].replace(os.sep, ".").removesuffix(".__init__")
        found[name] = rel
    return found


REFERENCE = re.compile(r":(mod|func|class|meth|attr|data):`~?(\.+)([\w.]*)`")


def test_relative_references_name_modules_and_names_that_exist():
    """``:mod:`.manager``` and the like, resolved the way a relative import is: a module that
    moved or was renamed leaves them pointing nowhere."""
    modules = _modules()
    broken = []
    for name, rel in sorted(modules.items()):
        text = _read(rel)
        package = name.split(".") if rel.endswith("__init__.py") else name.split(".")[:-1]
        for match in REFERENCE.finditer(text):
            kind, dots, rest = match.groups()
            base = package[: len(package) - (len(dots) - 1)]
            parts = base + (rest.split(".") if rest else [])
            for cut in range(len(parts), 0, -1):
                if ".".join(parts[:cut]) in modules:
                    module, remainder = ".".join(parts[:cut]), parts[cut:]
                    break
            else:
                module, remainder = None, []
            ok = module is not None and not (kind == "mod" and remainder)
            if ok and remainder:
                ok = re.search(rf"^\s*(def|class)\s+{remainder[0]}\b|^\s*{remainder[0]}\b|self\.{remainder[0]}\b",
                               _read(modules[module]), re.M) is not None
            if not ok:
                line = text[: match.start()].count("\n") + 1
                broken.append(f"{rel}:{line}: {match.group(0)}")
    assert not broken, "references to nothing:\n" + "\n".join(broken)


PATH = re.compile(r"(?<![\w/.-])((?:scripts|tools|tests|farm|docs|tripo_addon)/[\w/.-]+\.(?:py|sh|md|yaml|js|mjs|json|toml))\b")


def test_repository_paths_named_in_code_exist():
    missing = []
    for rel in _files(TEXT_SUFFIXES):
        for number, line in enumerate(_read(rel).splitlines(), 1):
            for path in PATH.findall(line):
                if not os.path.exists(os.path.join(REPO, path)):
                    missing.append(f"{rel}:{number}: {path}")
    assert not missing, "paths that do not exist:\n" + "\n".join(missing)
