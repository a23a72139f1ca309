"""Layers import only downward: core ← store ← net / wallet ← market ← api / web / cli.

Also: only umbra.core.crypto imports crypto libraries (recipes-only crypto module).
"""

import ast
from pathlib import Path

import umbra

ROOT = Path(umbra.__file__).parent
RANK = {"core": 0, "store": 1, "net": 2, "wallet": 2, "market": 3, "api": 4, "web": 4, "cli": 5}
CRYPTO_LIBS = {"nacl", "cryptography", "argon2", "doubleratchet", "x3dh", "xeddsa"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.append(node.module)
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "umbra" else None


def test_no_upward_or_sideways_imports() -> None:
    problems = []
    for path in ROOT.rglob("*.py"):
        here = _layer(".".join(path.relative_to(ROOT.parent).with_suffix("").parts))
        if here not in RANK:
            continue
        for name in _imports(path):
            there = _layer(name)
            if there is None or there == here or there not in RANK:
                continue
            if RANK[there] >= RANK[here]:
                problems.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert not problems, "layering violations:\n" + "\n".join(problems)


def test_only_core_crypto_imports_crypto_libraries() -> None:
    crypto_dir = ROOT / "core" / "crypto"
    problems = []
    for path in ROOT.rglob("*.py"):
        if crypto_dir in path.parents:
            continue
        for name in _imports(path):
            if name.split(".")[0] in CRYPTO_LIBS:
                problems.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert not problems, "\n".join(problems)
