"""Mutation run over the code that judges outside input: does a test notice each refusal?

Run: ``nice -n 10 .venv/bin/python bench/mutation.py [--modules PATH ...] [--jobs N]
[--recheck] [--output FILE] [--list]`` (``--recheck``: only the last run's survivors, after
adding tests; ``--list``: print the mutants and stop).

For each module in `MODULES` (or those named), every mutant is made from the module's syntax
tree, one change at a time, and that module's fast unit tests (`MODULES` maps module -> test
files) are run against it. A mutant is *killed* when a test fails (or the module no longer
imports, or the tests hang past the time limit) and *survives* when every test passes. Each
survivor is either a missing test (write one at the boundary it exposes) or is explained in
docs/operations.md ("Mutation run"). Writes ``bench/results/mutation.json``: per module the
counts, the score (killed / mutants) and each survivor with its line and operator; a run over
some modules replaces only their entries.

Operators (``OPERATORS``): ``raise`` (a ``raise`` becomes ``pass``), ``compare-boundary``
(``<`` <-> ``<=``, ``>`` <-> ``>=``), ``compare-negate`` (``==`` <-> ``!=``, ``<`` -> ``>=``,
``in`` <-> ``not in``, ``is`` <-> ``is not`` ...), ``constant`` (an integer n becomes n+1 and
n-1), ``boolean`` (``and`` <-> ``or``, ``not x`` -> ``x``, ``True`` <-> ``False``, the test of an
``if``/``while``/conditional expression negated when it is not a comparison) and ``return``
(``return x`` -> ``return None``). Not mutated: ``assert`` statements and ``raise
AssertionError`` (they mark what cannot happen), type annotations, docstrings, and lines
marked ``# pragma: no mutate``.

How it runs fast on a small machine: the parent imports the third-party libraries and pytest
once; each mutant runs in a fork that imports Umbra afresh with the mutated module compiled
from the changed tree (line numbers kept), then runs pytest in-process with ``-x``. A first
run without mutation records which test executes which line of the module (coverage.py, one
context per test; its C tracer, unlike ``sys.settrace``, is not switched off by the
RecursionError some decoder tests provoke on purpose). Each mutant then runs only the tests
that execute its line (all of them for a line run at import time, such as a constant); a
mutant on a line no test executes survives without a run ("not run" in the results).
"""

import argparse
import ast
import copy
import hashlib
import importlib.abc
import importlib.util
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mutation.json"

# module -> the fast unit tests that pin it (run with -x, in this order: cheap files first).
MODULES: dict[str, list[str]] = {
    "umbra/core/_documents.py": [
        "tests/unit/core/test_documents.py",
        "tests/unit/core/test_arbiter_documents.py",
        "tests/unit/core/test_document_boundaries.py",
    ],
    "umbra/core/_models.py": [
        "tests/unit/core/test_documents.py",
        "tests/unit/core/test_arbiter_documents.py",
        "tests/unit/core/test_money_regions.py",
        "tests/unit/core/test_document_boundaries.py",
    ],
    "umbra/core/_limits.py": [
        "tests/unit/core/test_document_boundaries.py",
        "tests/unit/core/test_documents.py",
    ],
    "umbra/core/_cbor_decode.py": [
        "tests/unit/core/test_cbor_decoder.py",
        "tests/unit/core/test_cbor_decoder_messages.py",
        "tests/unit/core/test_encoding_paths.py",
        "tests/unit/messaging/test_fast_cbor.py",
    ],
    "umbra/core/_encoding.py": [
        "tests/unit/core/test_canonical_encoder.py",
        "tests/unit/core/test_cbor_decoder.py",
        "tests/unit/core/test_encoding_paths.py",
        "tests/unit/messaging/test_fast_cbor.py",
        "tests/unit/messaging/test_record_encoding.py",
        "tests/unit/core/test_documents.py",
    ],
    "umbra/core/_fast_cbor.py": [
        "tests/unit/core/test_canonical_encoder.py",
        "tests/unit/core/test_cbor_decoder.py",
        "tests/unit/messaging/test_fast_cbor.py",
        "tests/unit/core/test_encoding_paths.py",
        "tests/unit/messaging/test_record_encoding.py",
    ],
    "umbra/net/_wire.py": [
        "tests/unit/net/test_wire.py",
        "tests/unit/net/test_wire_boundaries.py",
    ],
    "umbra/net/messaging/_delivery_wire.py": [
        "tests/unit/messaging/test_delivery_wire.py",
        "tests/unit/messaging/test_delivery_wire_boundaries.py",
    ],
    "umbra/net/messaging/_bundles.py": [
        "tests/unit/messaging/test_prekey_records.py",
        "tests/unit/messaging/test_bundles.py",
        "tests/unit/net/test_record_boundaries.py",
    ],
    "umbra/net/_records.py": [
        "tests/unit/net/test_records.py",
        "tests/unit/net/test_record_boundaries.py",
    ],
    "umbra/net/_arbiter_records.py": [
        "tests/unit/net/test_arbiter_records.py",
        "tests/unit/net/test_record_boundaries.py",
    ],
    "umbra/market/_trade_messages.py": [
        "tests/unit/market/test_trade_messages.py",
        "tests/unit/market/test_trade_message_boundaries.py",
    ],
    "umbra/market/_trade_limits.py": [
        "tests/unit/market/test_trade_message_boundaries.py",
        "tests/unit/market/test_order_refusals.py",
        "tests/unit/market/test_trade_messages.py",
    ],
    "umbra/wallet/_escrow_messages.py": [
        "tests/unit/wallet/test_escrow_messages.py",
        "tests/unit/wallet/test_escrow_refusals.py",
        "tests/unit/wallet/test_payout_checks.py",
    ],
    "umbra/market/_order_machine.py": [
        "tests/unit/market/test_order_machine.py",
        "tests/unit/market/test_order_refusals.py",
        "tests/unit/market/test_order_table_rows.py",
    ],
    "umbra/market/_order_table.py": [
        "tests/unit/market/test_order_machine.py",
        "tests/unit/market/test_order_refusals.py",
        "tests/unit/market/test_order_table_rows.py",
    ],
    "umbra/wallet/_escrow_machine.py": [
        "tests/unit/wallet/test_escrow_machine.py",
        "tests/unit/wallet/test_escrow_machine_refusals.py",
        "tests/unit/wallet/test_escrow_cosign.py",
        "tests/unit/wallet/test_payout_checks.py",
    ],
}

OPERATORS = ("raise", "compare-boundary", "compare-negate", "constant", "boolean", "return")
PRAGMA = "pragma: no mutate"
# Libraries every test above imports; loaded once in the parent, shared by every fork.
PRELOAD = ("pytest", "hypothesis", "trio", "cbor2", "pydantic", "cryptography", "nacl", "libp2p")

# -- making mutants -----------------------------------------------------------------------------

_BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
}
_NEGATE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Site:
    """One mutant: where it is and what it changes."""

    index: int
    line: int
    end_line: int
    col: int
    operator: str
    change: str


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 70 else text[:67] + "..."


class _Mutator(ast.NodeTransformer):
    """Walks the tree in a fixed order, numbering every possible mutation.

    With ``target`` None it only lists the sites; with ``target`` k it applies mutation k.
    Children are visited before their parent, so numbering up to k is the same in both runs.
    """

    def __init__(self, skipped_lines: set[int], target: int | None = None) -> None:
        self.skipped_lines = skipped_lines
        self.target = target
        self.sites: list[Site] = []

    # -- nodes never mutated ---------------------------------------------------------------

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.args = self.visit(node.args)
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.body = self._visit_body(node.body)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._visit_function(node)

    def _visit_body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            new = self.visit(stmt)
            out.extend(new if isinstance(new, list) else [new])
        return out or [ast.Pass()]

    # -- one candidate ----------------------------------------------------------------------

    def _offer(self, node: ast.AST, operator: str, make: Callable[[], ast.AST]) -> ast.AST:
        """Number one mutation of ``node``; return the mutant if it is the target."""
        line = getattr(node, "lineno", 0)
        if line in self.skipped_lines:
            return node
        index = len(self.sites)
        mutant = make()
        ast.copy_location(mutant, node)
        ast.fix_missing_locations(mutant)
        before, after = _short(node), _short(mutant)
        self.sites.append(
            Site(index, line, getattr(node, "end_lineno", line) or line, node.col_offset,
                 operator, f"{before} -> {after}")
        )  # fmt: skip
        return mutant if index == self.target else node

    def _offers(
        self, node: ast.AST, candidates: Sequence[tuple[str, Callable[[], ast.AST]]]
    ) -> ast.AST:
        result = node
        for operator, make in candidates:
            mutant = self._offer(node, operator, make)
            if mutant is not node:
                result = mutant
        return result

    # -- the operators ----------------------------------------------------------------------

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        if _raises_assertion(node):
            return node
        return self._offer(node, "raise", ast.Pass)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        candidates: list[tuple[str, Callable[[], ast.AST]]] = []
        for position, op in enumerate(node.ops):
            for operator, table in (("compare-boundary", _BOUNDARY), ("compare-negate", _NEGATE)):
                swap = table.get(type(op))
                if swap is not None:
                    candidates.append((operator, _replace_op(node, position, swap)))
        return self._offers(node, candidates)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            return self._offer(node, "boolean", lambda: ast.Constant(not value))
        if isinstance(value, int):
            return self._offers(
                node,
                [
                    ("constant", lambda: ast.Constant(value + 1)),
                    ("constant", lambda: ast.Constant(value - 1)),
                ],
            )
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return self._offer(node, "boolean", lambda: ast.BoolOp(other, copy.deepcopy(node.values)))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return self._offer(node, "boolean", lambda: copy.deepcopy(node.operand))
        return node

    def _negate_test(self, node: ast.If | ast.While | ast.IfExp) -> None:
        test = node.test
        if isinstance(test, ast.Compare | ast.Constant) or (
            isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        ):
            return  # comparisons, constants and ``not`` have their own operators
        node.test = self._offer(  # type: ignore[assignment]
            test, "boolean", lambda: ast.UnaryOp(ast.Not(), copy.deepcopy(test))
        )

    def visit_If(self, node: ast.If) -> ast.AST:
        node.test = self.visit(node.test)
        self._negate_test(node)
        node.body = self._visit_body(node.body)
        node.orelse = self._visit_body(node.orelse) if node.orelse else []
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        node.test = self.visit(node.test)
        self._negate_test(node)
        node.body = self._visit_body(node.body)
        node.orelse = self._visit_body(node.orelse) if node.orelse else []
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        self._negate_test(node)
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        if node.value is None or (
            isinstance(node.value, ast.Constant) and node.value.value is None
        ):
            return node
        return self._offer(node, "return", lambda: ast.Return(ast.Constant(None)))


def _raises_assertion(node: ast.Raise) -> bool:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "AssertionError"


def _replace_op(node: ast.Compare, position: int, swap: type[ast.cmpop]) -> Callable[[], ast.AST]:
    def make() -> ast.AST:
        ops = list(node.ops)
        ops[position] = swap()
        return ast.Compare(copy.deepcopy(node.left), ops, copy.deepcopy(node.comparators))

    return make


def _pragma_lines(source: str) -> set[int]:
    return {n for n, text in enumerate(source.splitlines(), start=1) if PRAGMA in text}


def list_sites(source: str) -> list[Site]:
    mutator = _Mutator(_pragma_lines(source))
    mutator.visit(ast.parse(source))
    return mutator.sites


def mutant_code(source: str, path: str, index: int) -> CodeType:
    """The module compiled with mutation ``index`` applied (line numbers unchanged)."""
    tree = _Mutator(_pragma_lines(source), target=index).visit(ast.parse(source))
    return compile(ast.fix_missing_locations(tree), path, "exec")


# -- running the tests in a fork ----------------------------------------------------------------


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import <name>`` load the given code object instead of the file."""

    def __init__(self, name: str, path: str, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.code, module.__dict__)


def _run_pytest(tests: Sequence[str], plugins: Sequence[object] = ()) -> int:
    args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts="]
    return int(pytest.main(args, plugins=list(plugins)))


class _PerTest:
    """Pytest plugin: tells coverage.py which test runs, so each line maps to its tests."""

    def __init__(self, measure: Any) -> None:
        self.measure = measure

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Any:
        self.measure.switch_context(item.nodeid)
        try:
            return (yield)
        finally:
            self.measure.switch_context("")  # between tests (and at import): "every test"


def _quiet() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _start(job: Callable[[], int]) -> int:
    """Fork a child that runs ``job`` and exits with its code; return the child's pid."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 3
        try:
            _quiet()
            code = job()
        finally:
            os._exit(code)
    return pid


def _outcome(status: int) -> str:
    return "passed" if os.waitstatus_to_exitcode(status) == 0 else "failed"


def _fork(job: Callable[[], int], timeout: float) -> str:
    """Run ``job`` in a child; "passed", "failed" or "timeout"."""
    return next(iter(_run_all([job], timeout, jobs=1).values()))


def _run_all(work: Sequence[Callable[[], int]], timeout: float, jobs: int) -> dict[int, str]:
    """Run each job in its own child, ``jobs`` at a time; outcome by index in ``work``."""
    outcomes: dict[int, str] = {}
    running: dict[int, tuple[int, float]] = {}  # pid -> (index, deadline)
    todo = list(enumerate(work))
    while todo or running:
        while todo and len(running) < jobs:
            index, job = todo.pop(0)
            running[_start(job)] = (index, time.monotonic() + timeout)
        for pid, (index, deadline) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                outcomes[index] = _outcome(status)
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                outcomes[index] = "timeout"
            else:
                continue
            del running[pid]
        time.sleep(0.02)
    return outcomes


def _module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _purge_umbra() -> None:
    for name in [n for n in sys.modules if n == "umbra" or n.startswith(("umbra.", "tests"))]:
        del sys.modules[name]


# Context of lines run outside any test (at import, between tests): a mutant there may change
# what every test sees, so every test runs against it.
_ANY_TEST = ""


def _tests_by_line(
    path: str, tests: Sequence[str], timeout: float
) -> tuple[dict[int, set[str]], float]:
    """Run the tests unmutated; return, for each executed line of the module, the ids of the
    tests that executed it (`_ANY_TEST` for import time), and the time the run took."""
    filename = str(ROOT / path)
    source = (ROOT / path).read_text()
    out = Path(f"/tmp/umbra-mutation-lines-{os.getpid()}.json")

    def job() -> int:
        import coverage

        # The unmutated module goes through the same loader as the mutants, so a mutant that
        # dies died of its change.
        code_object = compile(source, filename, "exec")
        sys.meta_path.insert(0, _MutantFinder(_module_name(path), filename, code_object))
        measure = coverage.Coverage(data_file=None, include=[filename], config_file=False)
        measure.start()
        code = _run_pytest(tests, plugins=[_PerTest(measure)])
        measure.stop()
        by_line = measure.get_data().contexts_by_lineno(filename)
        out.write_text(json.dumps({str(line): sorted(ids) for line, ids in by_line.items()}))
        return code

    start = time.monotonic()
    outcome = _fork(job, timeout)
    elapsed = time.monotonic() - start
    if outcome != "passed":
        raise SystemExit(f"{path}: the tests fail without any mutation ({outcome}); fix them first")
    by_line = {int(line): set(ids) for line, ids in json.loads(out.read_text()).items()}
    out.unlink()
    return by_line, elapsed


def _tests_for(site: "Site", by_line: dict[int, set[str]], tests: list[str]) -> list[str]:
    """The tests that run the mutated lines (all of them for import-time lines; none: no test
    runs the mutant, so it survives without a run)."""
    ids: set[str] = set()
    for line in range(site.line, site.end_line + 1):
        ids |= by_line.get(line, set())
    if _ANY_TEST in ids:
        return tests
    return sorted(ids)


@dataclass
class ModuleResult:
    tests: list[str]
    mutants: int = 0
    killed: int = 0
    timeouts: int = 0
    survived: int = 0
    not_run: int = 0
    score: float = 0.0
    seconds: float = 0.0
    source_sha256: str = ""
    by_operator: dict[str, dict[str, int]] = field(default_factory=dict)
    survivors: list[dict[str, Any]] = field(default_factory=list)


def _identity(site: dict[str, Any]) -> tuple[Any, ...]:
    return (site["line"], site["col"], site["operator"], site["change"])


def run_module(
    path: str,
    tests: list[str],
    operators: set[str],
    log: Callable[[str], None],
    previous: dict[str, Any] | None = None,
    jobs: int = 1,
) -> ModuleResult:
    """All mutants of one module against its tests.

    With ``previous`` (this module's entry from an earlier run of the same source), only the
    mutants that survived it run again: tests were added, and a killed mutant stays killed.
    """
    source = (ROOT / path).read_text()
    lines_text = source.splitlines()
    name, filename = _module_name(path), str(ROOT / path)
    start = time.monotonic()
    by_line, baseline = _tests_by_line(path, tests, timeout=600)
    timeout = max(20.0, 5 * baseline)
    sites = [s for s in list_sites(source) if s.operator in operators]
    result = ModuleResult(tests=tests, mutants=len(sites), source_sha256=_sha256(source))
    for site in sites:
        counts = result.by_operator.setdefault(site.operator, {"mutants": 0, "killed": 0})
        counts["mutants"] += 1
    if previous is not None:
        again = {_identity(s) for s in previous["survivors"]}
        rerun = [s for s in sites if _identity(asdict(s)) in again]
        result.killed = len(sites) - len(rerun)
        for operator, counts in result.by_operator.items():
            counts["killed"] = counts["mutants"] - sum(s.operator == operator for s in rerun)
        sites = rerun
    log(f"{path}: {len(sites)} mutants to run, tests take {baseline:.1f} s, limit {timeout:.0f} s")
    selections = [_tests_for(site, by_line, tests) for site in sites]
    runnable = [(site, chosen) for site, chosen in zip(sites, selections, strict=True) if chosen]

    def job_for(site: Site, chosen: list[str]) -> Callable[[], int]:
        def job() -> int:
            code = mutant_code(source, filename, site.index)
            sys.meta_path.insert(0, _MutantFinder(name, filename, code))
            return _run_pytest(chosen)

        return job

    ran = _run_all([job_for(site, chosen) for site, chosen in runnable], timeout, jobs)
    outcomes = {runnable[i][0].index: outcome for i, outcome in ran.items()}
    for site in sites:
        counts = result.by_operator[site.operator]
        outcome = outcomes.get(site.index, "not run")
        if outcome in ("failed", "timeout"):
            result.killed += 1
            result.timeouts += outcome == "timeout"
            counts["killed"] += 1
            continue
        result.survived += 1
        result.not_run += outcome == "not run"
        survivor = {**asdict(site), "source": lines_text[site.line - 1].strip()}
        survivor["not_run"] = outcome == "not run"
        del survivor["index"]
        result.survivors.append(survivor)
        log(f"  survived: {path}:{site.line} [{site.operator}] {site.change}")
    result.score = round(result.killed / result.mutants, 4) if result.mutants else 1.0
    result.seconds = round(time.monotonic() - start, 1)
    log(
        f"{path}: {result.killed}/{result.mutants} killed ({result.score:.1%}),"
        f" {result.survived} survived ({result.not_run} on lines no test runs), {result.seconds} s"
    )
    return result


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _preload() -> None:
    for module in PRELOAD:
        __import__(module)
    # Umbra itself pulls in the rest of what it needs; then forget it, so every fork imports it
    # afresh (with its mutated module) while the libraries stay loaded.
    import umbra.market
    import umbra.net
    import umbra.wallet  # noqa: F401

    _purge_umbra()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", metavar="PATH", help="default: all in MODULES")
    parser.add_argument("--operators", nargs="+", choices=OPERATORS, default=list(OPERATORS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="run only the mutants that survived the last run (after adding tests)",
    )
    return parser.parse_args(argv)


def _iter_modules(selected: Sequence[str] | None) -> Iterator[tuple[str, list[str]]]:
    for path in selected or MODULES:
        if path not in MODULES:
            raise SystemExit(f"{path} is not in MODULES (bench/mutation.py); add it with its tests")
        yield path, MODULES[path]


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    modules = list(_iter_modules(args.modules))
    if args.list:
        for path, _ in modules:
            for site in list_sites((ROOT / path).read_text()):
                print(f"{path}:{site.line} [{site.operator}] {site.change}")
        return
    _preload()
    for path, listed in modules:
        tests = [t for t in listed if (ROOT / t).exists()]
        if tests != listed:
            print(f"{path}: no such test file: {', '.join(sorted(set(listed) - set(tests)))}")
        previous = _load(args.output)["modules"].get(path) if args.recheck else None
        if previous is not None and not _same_source(previous, (ROOT / path).read_text()):
            print(f"{path}: the source changed since the last run: every mutant runs again")
            previous = None
        result = run_module(
            path, tests, set(args.operators), lambda s: print(s, flush=True), previous, args.jobs
        )
        # Read the file again just before writing: another run may have added its modules.
        report = _load(args.output)
        report["modules"][path] = asdict(result)
        total = {k: sum(m[k] for m in report["modules"].values()) for k in ("mutants", "killed")}
        report.update(
            {
                "command": "bench/mutation.py",
                "operators": sorted(args.operators),
                "python": platform.python_version(),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "total": {**total, "score": round(total["killed"] / max(total["mutants"], 1), 4)},
            }
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")


def _same_source(previous: dict[str, Any], source: str) -> bool:
    if "source_sha256" in previous:
        return bool(previous["source_sha256"] == _sha256(source))
    lines = source.splitlines()  # results written before the hash was kept
    return all(lines[s["line"] - 1].strip() == s["source"] for s in previous["survivors"])


def _load(output: Path) -> dict[str, Any]:
    if output.exists():
        report: dict[str, Any] = json.loads(output.read_text())
        return report
    return {"modules": {}}


if __name__ == "__main__":
    main()
