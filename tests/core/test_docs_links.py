"""Every link and image in the README, CONTRIBUTING.md and docs/ resolves: relative paths to
files that exist, anchors to headings that exist; web links are checked for form only."""

from __future__ import annotations

import glob
import os
import re
from urllib.parse import unquote, urlsplit

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCUMENTS = sorted(["README.md", "CONTRIBUTING.md", "farm/README.md"]
                   + [os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))])

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def _prose(text: str) -> list[tuple[int, str]]:
    """The document's lines outside fenced code blocks, without inline code spans."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, re.sub(r"`[^`]*`", "", line)))
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found, seen = set(), {}
    for _, line in _prose_with_code_in_headings(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return found


def _prose_with_code_in_headings(text: str) -> list[tuple[int, str]]:
    # Headings keep their code spans' words (GitHub keeps them in the anchor).
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line.replace("`", "")))
    return lines


def broken_links(document: str, root: str = REPO) -> list[str]:
    """Each link of ``document`` (relative to ``root``) that does not resolve, as 'FILE:LINE: TARGET (why)'."""
    path = os.path.join(root, document)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = []
    for number, line in _prose(text):
        for target in LINK.findall(line) + HTML_LINK.findall(line):
            why = _why_broken(path, target)
            if why:
                problems.append(f"{document}:{number}: {target} ({why})")
    return problems


def _why_broken(path: str, target: str) -> str | None:
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        return None if parts.netloc and "." in parts.netloc and " " not in target else "not a web address"
    if parts.scheme == "mailto":
        return None if "@" in parts.path else "not an address"
    if parts.scheme:
        return f"a {parts.scheme}: link"
    file = os.path.normpath(os.path.join(os.path.dirname(path), unquote(parts.path))) if parts.path else path
    if not os.path.exists(file):
        return "no such file"
    if parts.fragment:
        if not file.endswith(".md"):
            return "an anchor into a file that is not Markdown"
        if parts.fragment not in anchors(file):
            return f"no heading #{parts.fragment} in {os.path.basename(file)}"
    return None


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_link_resolves(document):
    assert os.path.exists(os.path.join(REPO, document)), document
    assert broken_links(document) == []


#: A file of the repository named in a code span, from one of its top folders (other paths in
#: the documents are Blender's or the glTF add-on's own).
CODE_PATH = re.compile(r"`((?:tripo_addon|tools|scripts|tests|farm|docs|\.ci)/(?:[\w.-]+/)*[\w.-]+"
                       r"\.(?:py|sh|md|yaml|js|mjs|json|toml))`")


def moved_paths(document: str, root: str = REPO) -> list[str]:
    """Repository paths the prose names in code spans (``tools/gateway_sim.py``) that do not
    exist: a file that moved or went."""
    with open(os.path.join(root, document), encoding="utf-8") as f:
        lines = f.read().splitlines()
    return [f"{document}:{number}: {path}" for number, line in enumerate(lines, 1)
            for path in CODE_PATH.findall(line) if not os.path.exists(os.path.join(root, path))]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_file_named_in_code_spans_exists(document):
    assert moved_paths(document) == []


def test_readme_is_at_most_150_lines():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        assert sum(1 for _ in f) <= 150


def test_the_readme_links_every_document_in_docs():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for document in DOCUMENTS:
        if document.startswith("docs/"):
            assert f"({document})" in readme, f"README.md does not link {document}"


def test_a_moved_file_is_found(tmp_path):
    (tmp_path / "tripo_addon" / "core").mkdir(parents=True)
    (tmp_path / "tripo_addon" / "core" / "jobs.py").write_text("")
    (tmp_path / "guide.md").write_text("`tripo_addon/core/jobs.py` holds it, `tripo_addon/core/engine/jobs.py` "
                                       "held it; `OUTPUT/report-K.json` and `io/com/debug.py` are not ours.\n")
    assert moved_paths("guide.md", str(tmp_path)) == ["guide.md:1: tripo_addon/core/engine/jobs.py"]


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Set up, quickly\n\n## Set up, quickly\n")
    (tmp_path / "picture.png").write_bytes(b"")
    (tmp_path / "README.md").write_text(
        "See [the guide](docs/guide.md#set-up-quickly) and [again](docs/guide.md#set-up-quickly-1),\n"
        "![a picture](picture.png), [the web](https://example.com/page).\n"
        "Broken: [gone](docs/gone.md), [no heading](docs/guide.md#nothing), ![no picture](missing.png),\n"
        "[bad web](https://), `[in code](nowhere.md)`\n"
        "```\n[in a block](nowhere.md)\n```\n")
    assert broken_links("README.md", str(tmp_path)) == [
        "README.md:3: docs/gone.md (no such file)",
        "README.md:3: docs/guide.md#nothing (no heading #nothing in guide.md)",
        "README.md:3: missing.png (no such file)",
        "README.md:4: https:// (not a web address)",
    ]
