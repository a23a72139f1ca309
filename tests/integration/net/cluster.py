"""Real `umbra node` processes on their own addresses, driven through the CLI.

Every process this module starts is stopped by `Cluster.close` (SIGTERM, then SIGKILL), and
every wait has a deadline; nothing asserts on wall-clock durations.

Keeping the tier fast on two cores: each `umbra` call costs ~1 s of CPU (imports, opening the
database), and a polling loop of CLI calls steals that CPU from the nodes it waits for. So:

- profiles are created in this process with cheap Argon2 parameters (the parameters are
  stored with the profile, so every later CLI call derives its key cheaply too);
- nodes are started all at once and their "listening" lines read afterwards;
- a wait for propagation watches the nodes' logs ("synced …" lines, free to read) and runs
  the real `umbra search` only on nodes that logged a new sync (or, as a fallback, every few
  seconds), all of them concurrently;
- the final word is always the real CLI's answer.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import umbra.store as _store
from tests.support.leak_audit import child_audit_env
from umbra.core.crypto import Argon2Params

ENTRY = str(Path(__file__).with_name("_umbra_entry.py"))
PASSPHRASE = "correct horse battery"
CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
_SYNCED = re.compile(rb"umbra\.net\._node: synced ")
# Without a new sync in a node's log, ask its CLI anyway this often (the log is only a hint).
FALLBACK_CHECK_S = 6.0


def _have_script() -> bool:
    return shutil.which("umbra", path=str(Path(sys.executable).parent)) is not None


def umbra_argv() -> list[str]:
    if hasattr(_store, "index_entry_for") and _have_script():
        return [str(Path(sys.executable).parent / "umbra")]
    return [sys.executable, ENTRY]


def _env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    env.update(UMBRA_HOME=str(data_dir), UMBRA_PASSPHRASE=PASSPHRASE)
    env.update(extra or {})
    return env


def _parse(proc: subprocess.Popen[str], out: str, err: str, what: str, check: bool) -> Any:
    assert "Traceback" not in err, err
    if check:
        assert proc.returncode == 0, f"{what}: {err}"
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


@dataclass
class NodeProc:
    name: str
    ip: str
    data_dir: Path
    proc: subprocess.Popen[str] | None = None
    addrs: list[str] = field(default_factory=list)
    peer_id: str = ""
    wrap: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", "ns1"]
    web_base: str | None = None  # with ``launch(web=True)``: the web app's base URL
    web_token: str | None = None
    # How the node reaches the network: clearnet unless a test gives Tor options (e.g.
    # ["--tor-network-file", path]); in Tor mode it listens on its 127.0.0.x address for tor.
    network: list[str] = field(default_factory=lambda: ["--clearnet"])
    # Record the node process's connects and name lookups here (tests/support/leak_audit).
    audit_log: Path | None = None
    # Tor's bootstrap steps the last start printed (``tor-bootstrap`` events), and how long
    # the last start took from launch to "listening" (for the tier's report, never asserted).
    tor_steps: list[dict[str, Any]] = field(default_factory=list)
    start_seconds: float = 0.0
    _launched_at: float = 0.0

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def create_profile(self) -> None:
        """What `umbra init` does, with cheap key derivation (see the module docstring)."""
        _store.create_profile(self.data_dir, self.name, PASSPHRASE, params=CHEAP).close()

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start ``umbra --json ARGS`` for this profile; collect it with `collect`."""
        return subprocess.Popen(
            [*self.wrap, *umbra_argv(), "--profile", self.name, "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(self.data_dir),
        )

    def collect(
        self, proc: subprocess.Popen[str], args: Sequence[str], *, check: bool = True
    ) -> Any:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"umbra {' '.join(args)} on {self.name} hung") from None
        return _parse(proc, out, err, f"umbra {' '.join(args)} on {self.name}", check)

    def run(self, *args: str, check: bool = True) -> Any:
        return self.collect(self.spawn(*args), args, check=check)

    def launch(
        self,
        bootstrap: Sequence[str] = (),
        *,
        args: Sequence[str] = (),
        debug: bool = True,
        web: bool = False,
    ) -> None:
        """Start `umbra node` without waiting for it (see `wait_listening`).

        ``args`` are more `umbra node` options; ``debug`` sets UMBRA_DEBUG (tracebacks and
        addresses in the log, see docs/operations.md); ``web`` also serves the web app and
        its REST API on a free 127.0.0.1 port.
        """
        argv = [
            *self.wrap,
            *umbra_argv(),
            "--profile",
            self.name,
            "--json",
            "node",
            *self.network,
            "--verbose",
            *(["--web-port", "0"] if web else ["--no-web"]),
        ]
        argv += ["--listen", f"/ip4/{self.ip}/tcp/0"]
        for addr in bootstrap:
            argv += ["--bootstrap", addr]
        argv += list(args)
        env = _env(self.data_dir, {"UMBRA_DEBUG": "1"} if debug else None)
        if self.audit_log is not None:
            env = child_audit_env(self.audit_log, env)
        self._launched_at = time.monotonic()
        with open(self.log_path, "a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )

    def wait_listening(self, *, timeout: float = 90) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        self.tor_steps = []
        event: dict[str, Any] = {}
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            if not line:
                continue
            event = json.loads(line)
            if event.get("event") == "web":  # the web app serves before the node is up
                continue
            if event.get("event") != "tor-bootstrap":  # Tor mode prints its bootstrap first
                break
            self.tor_steps.append(event)
        started = event.get("event") == "listening"
        assert started, f"node {self.name} did not start ({event}); see {self.log_path}"
        self.start_seconds = time.monotonic() - self._launched_at
        self.addrs, self.peer_id = event["addrs"], event["peer_id"]
        if event.get("url"):
            self.web_base, self.web_token = event["base"], event["url"].split("token=", 1)[1]

    def start(
        self,
        bootstrap: Sequence[str] = (),
        *,
        timeout: float = 90,
        debug: bool = True,
        web: bool = False,
    ) -> None:
        self.launch(bootstrap, debug=debug, web=web)
        self.wait_listening(timeout=timeout)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def syncs_logged(self) -> int:
        """How many catalog syncs this node has logged so far (all runs of it)."""
        try:
            return len(_SYNCED.findall(self.log_path.read_bytes()))
        except FileNotFoundError:
            return 0

    def search(self, *words: str) -> dict[str, Any]:
        result: dict[str, Any] = self.run("search", *words)
        return result


def titles(result: dict[str, Any]) -> list[str]:
    return [h["title"] for h in result["hits"]]


class Cluster:
    def __init__(self, root: Path, ips: Sequence[str], wraps: Sequence[list[str]] | None = None):
        self.nodes = [
            NodeProc(f"n{i}", ip, root, wrap=list(wraps[i]) if wraps else [])
            for i, ip in enumerate(ips)
        ]

    def init_all(self) -> None:
        for node in self.nodes:
            node.create_profile()

    def start_all(self) -> None:
        """Start the first node, then all the others at once with it as bootstrap."""
        first, rest = self.nodes[0], self.nodes[1:]
        first.start()
        for node in rest:
            node.launch([first.addrs[0]])
        for node in rest:
            node.wait_listening()

    def run_all(
        self, nodes: Sequence[NodeProc] | None, *args: str, check: bool = True
    ) -> list[Any]:
        """``umbra ARGS`` on each node, all processes at once; results in node order."""
        chosen = self.nodes if nodes is None else list(nodes)
        procs = [node.spawn(*args) for node in chosen]
        return [n.collect(p, args, check=check) for n, p in zip(chosen, procs, strict=True)]

    def sync_marks(self) -> dict[str, int]:
        """Sync counts now: take them before an action, give them to `wait_searchable`."""
        return {node.name: node.syncs_logged() for node in self.nodes}

    def wait_searchable(
        self,
        nodes: Sequence[NodeProc],
        words: str,
        expected: list[str],
        marks: dict[str, int],
        *,
        timeout: float = 120,
    ) -> None:
        """Wait until `umbra search WORDS` answers ``expected`` titles on every one of ``nodes``.

        A node is asked (by the real CLI) once it has logged a sync since ``marks``, or every
        `FALLBACK_CHECK_S` regardless; a node that answered as expected is not asked again.
        """
        waiting = list(nodes)
        asked = {node.name: marks.get(node.name, 0) for node in waiting}
        last_ask = {node.name: time.monotonic() for node in waiting}
        deadline = time.monotonic() + timeout
        while waiting:
            now = time.monotonic()
            if now > deadline:
                names = ", ".join(n.name for n in waiting)
                raise AssertionError(f"timed out: {words!r} → {expected} not on {names}")
            due = []
            for node in waiting:
                count = node.syncs_logged()
                if count > asked[node.name] or now - last_ask[node.name] >= FALLBACK_CHECK_S:
                    asked[node.name] = count
                    last_ask[node.name] = now
                    due.append(node)
            if not due:
                time.sleep(0.1)
                continue
            results = self.run_all(due, "search", words)
            done = {n.name for n, r in zip(due, results, strict=True) if titles(r) == expected}
            waiting = [n for n in waiting if n.name not in done]

    def close(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()


def wait_until(
    what: str, check: Callable[[], bool], *, timeout: float = 90, pause: float = 0.3
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(pause)
    raise AssertionError(f"timed out waiting for: {what}")
