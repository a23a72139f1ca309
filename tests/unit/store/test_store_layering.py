"""The store layer imports only umbra.core (never a layer above it) and exports what it says."""

import ast
import sys
from pathlib import Path

import umbra.store

STORE_DIR = Path(umbra.store.__file__).parent
ALLOWED_THIRD_PARTY = {"sqlcipher3", "multiformats"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_store_imports_only_downward() -> None:
    for path in sorted(STORE_DIR.glob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top == "umbra":
                assert name == "umbra.core" or name.startswith("umbra.core."), (path.name, name)
            else:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    path.name,
                    name,
                )


def test_crypto_libraries_are_not_imported_here() -> None:
    for path in STORE_DIR.glob("*.py"):
        for name in imported_modules(path):
            assert name.split(".")[0] not in {"nacl", "cryptography", "argon2"}, path.name


def test_exports() -> None:
    for name in umbra.store.__all__:
        assert hasattr(umbra.store, name), name
    assert sorted(umbra.store.__all__) == sorted(set(umbra.store.__all__))
