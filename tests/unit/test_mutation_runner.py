"""bench/mutation.py's mutant maker: each operator makes exactly the change it names."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

SOURCE = """\
def check(size, limit=64):
    assert size >= 0
    if size > limit:
        raise ValueError("too big")
    if not size or size == 3:
        return False
    return True


def never():
    raise AssertionError("cannot happen")


SKIPPED = 5  # pragma: no mutate
"""


def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mutation"] = module
    spec.loader.exec_module(module)
    return module


def test_every_operator_makes_the_change_it_names() -> None:
    sites = runner().list_sites(SOURCE)
    changes = {(s.line, s.operator, s.change) for s in sites}
    assert (4, "raise", "raise ValueError('too big') -> pass") in changes
    assert (3, "compare-boundary", "size > limit -> size >= limit") in changes
    assert (3, "compare-negate", "size > limit -> size <= limit") in changes
    assert (1, "constant", "64 -> 65") in changes and (1, "constant", "64 -> 63") in changes
    assert (5, "boolean", "not size or size == 3 -> not size and size == 3") in changes
    assert (5, "boolean", "not size -> size") in changes
    assert (6, "boolean", "False -> True") in changes
    assert (7, "return", "return True -> return None") in changes
    # assert statements, AssertionError and pragma lines are left alone.
    assert not [s for s in sites if s.line in (2, 11, 14)]
    assert [s.index for s in sites] == list(range(len(sites)))


def test_a_mutant_changes_one_thing_and_keeps_line_numbers() -> None:
    mutation = runner()
    boundary = next(s for s in mutation.list_sites(SOURCE) if s.operator == "compare-boundary")
    original: dict[str, Any] = {}
    exec(compile(SOURCE, "m.py", "exec"), original)
    mutated: dict[str, Any] = {}
    exec(mutation.mutant_code(SOURCE, "m.py", boundary.index), mutated)
    assert original["check"](64) is True
    with pytest.raises(ValueError, match="too big") as info:
        mutated["check"](64)  # the mutant refuses the limit itself (>=)
    assert info.traceback[-1].lineno + 1 == 4  # still reported on the source's line 4
    assert mutated["check"](63) is True and mutated["check"](3) is False
