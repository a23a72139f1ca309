"""docs/threat-model.md stays tied to real tests.

Every `path::test_name` the document names must be a test in that file (a bare `::name` is in
the file named just before it), and every "Cannot (shown by)" bullet must name a test or point
to the section whose tests cover it. A renamed or deleted test then fails here, not silently
in the document.
"""

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "threat-model.md"

# `tests/x/test_y.py::test_z` or `::test_z`, inside backticks.
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?::(test_\w+)`")


@cache
def _test_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def _references(text: str) -> list[tuple[str, str]]:
    """(file, test name) for every reference, bare `::name` resolved to the last file."""
    out: list[tuple[str, str]] = []
    current: str | None = None
    for match in _REFERENCE.finditer(text):
        path, name = match.group(1), match.group(2)
        if path is not None:
            current = path
        assert current is not None, f"`::{name}` comes before any file is named"
        out.append((current, name))
    return out


def _cannot_bullets(text: str) -> list[str]:
    """The bullets of every "Cannot (shown by)" list, each joined into one string."""
    bullets: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("**Cannot (shown by)**"):
            inside = True
        elif inside and line.startswith("- "):
            bullets.append(line)
        elif inside and line.startswith("  ") and bullets:
            bullets[-1] += " " + line.strip()
        elif inside and not line.strip():
            inside = False
    return bullets


def test_every_named_test_exists() -> None:
    references = _references(DOC.read_text(encoding="utf-8"))
    assert len(references) > 50  # the pattern still finds the document's references
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (ROOT / path).is_file() or name not in _test_names(ROOT / path)
    ]
    assert missing == [], f"docs/threat-model.md names tests that do not exist: {missing}"


def test_every_cannot_names_its_test() -> None:
    bullets = _cannot_bullets(DOC.read_text(encoding="utf-8"))
    assert len(bullets) > 30
    untied = [b for b in bullets if "::test_" not in b and "(section " not in b]
    assert untied == [], f"'Cannot' claims without a test: {untied}"
