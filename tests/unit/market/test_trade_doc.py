"""docs/specifications/trade.md carries the state diagram generated from the table."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "make_state_diagrams.py"


def test_state_diagram_in_the_spec_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("make_state_diagrams", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python scripts/make_state_diagrams.py"
