"""The front door holds: README short with the two commands on top, every doc link and cited docs/ path exists,
and the layers of docs/architecture.md are the ones tests/integration/test_architecture.py enforces."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_anchor(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, len(lines)
    top = "\n".join(lines[:30])
    assert "## Two commands" in top and "moltc quickstart" in top
    assert "python -m pytest -n 2 tests" in top  # the exact command .ci/run runs
    assert "python -m pytest -n 2 tests" in (ROOT / ".ci" / "run").read_text()


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_docs_path_named_in_code_exists():
    named = re.compile(r"\bdocs/[\w\-./]+\.md\b")
    missing = [
        f"{path.relative_to(ROOT)}: {name}"
        for folder in ("src", "benchmarks", "spaces_demo", "tests")
        for path in (ROOT / folder).rglob("*.py")
        for name in named.findall(path.read_text())
        if not (ROOT / name).exists()
    ]
    assert not missing, "\n".join(missing)


def test_no_code_cites_documents_the_repository_does_not_have():
    cited = [
        f"{path.relative_to(ROOT)}"
        for folder in ("src", "benchmarks", "spaces_demo")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\bPAPER\.md|BENCHMARKS\.md", path.read_text())
    ]
    assert not cited, cited


def test_architecture_doc_lists_the_layers_the_test_enforces():
    from test_architecture import LAYERS

    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\d+\. \*\*([^*]+)\*\*", section, re.MULTILINE)
    assert listed == [name for name, _ in LAYERS]
    for _, members in LAYERS:
        for member in members:
            if member:
                assert f"`{member.rstrip('.')}" in section, member
