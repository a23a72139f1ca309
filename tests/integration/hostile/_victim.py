"""The victim (a real `umbra node` with its REST API) and the watchdog that guards it.

The watchdog is a process of its own (`_watchdog_proc`), apart from the attacker's CPU use:

- it asks the victim's API every 0.5 s; every answer must come within `PROBE_DEADLINE_S`.
  This is a hang detector (the API is served on the node's own event loop, so a decoder
  stuck on a bomb stops it answering), not a performance measurement: an idle node answers
  in milliseconds.
- it samples the victim's RSS with psutil every 0.1 s; at the end the kernel's high-water
  mark (VmHWM, exact even for a spike between samples) is read too. Both must stay under
  `RSS_BOUND`. Above `RSS_KILL` it kills the victim at once: with a hole open, a bomb would
  otherwise eat gigabytes of a machine other work shares.

The test sets `Watchdog.label` to what it is sending; events are matched to labels by time.
"""

import bisect
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests.integration.net.cluster import NodeProc

from . import _watchdog_proc
from ._watchdog_proc import PROBE_DEADLINE_S, RSS_KILL

MIB = 1 << 20
# Measured here: an idle `umbra node` with its web app and one synced catalog holds 131-135 MiB
# (py-libp2p, FastAPI, SQLCipher); under every bounded attack with the holes closed its peak
# stayed under 150 MiB. The bound leaves room for the buffers an attack may fairly cost
# (frames up to 260 KiB, hundreds of connections and streams) and none for an expansion. The
# victim fixture checks the idle node is at most half of it.
RSS_BOUND = 300 * MIB


@dataclass
class Verdict:
    """What the watchdog saw during one attack."""

    slow_probes: list[str] = field(default_factory=list)  # "label: 1.62 s" / "label: error"
    probes: int = 0
    slowest: float = 0.0
    peak_rss: int = 0
    peak_label: str = ""
    killed_at: str | None = None  # label when the sampler killed the victim
    died_at: str | None = None  # label when the victim was found dead

    def summary(self) -> str:
        return (
            f"watchdog: {self.probes} probes, slowest {self.slowest:.3f} s;"
            f" peak RSS {self.peak_rss / MIB:.0f} MiB during {self.peak_label!r}"
        )

    def problems(self) -> list[str]:
        out = []
        if self.slow_probes:
            shown = ", ".join(self.slow_probes[:8])
            out.append(
                f"API did not answer within {PROBE_DEADLINE_S} s ({len(self.slow_probes)} of "
                f"{self.probes} probes): {shown}"
            )
        if self.peak_rss > RSS_BOUND:
            out.append(
                f"RSS {self.peak_rss // MIB} MiB > bound {RSS_BOUND // MIB} MiB"
                f" (peak during {self.peak_label!r})"
            )
        if self.killed_at is not None:
            out.append(f"victim killed at {RSS_KILL // MIB} MiB during {self.killed_at!r}")
        elif self.died_at is not None:
            out.append(f"victim died during {self.died_at!r}")
        return out


class Watchdog:
    """Guards the victim while a test attacks it; set `label` to say what is being sent."""

    def __init__(self, victim: "Victim") -> None:
        self._victim = victim
        self._labels: list[tuple[float, str]] = [(0.0, "idle")]
        self.verdict = Verdict()
        self._proc: subprocess.Popen[str] | None = None

    @property
    def label(self) -> str:
        return self._labels[-1][1]

    @label.setter
    def label(self, value: str) -> None:
        self._labels.append((time.monotonic(), value))

    def _label_at(self, at: float) -> str:
        index = bisect.bisect_right([t for t, _ in self._labels], at) - 1
        return self._labels[max(0, index)][1]

    def __enter__(self) -> "Watchdog":
        self._victim.reset_peak_rss()
        node = self._victim.node
        assert node.proc is not None and node.web_base and node.web_token
        argv = [sys.executable, _watchdog_proc.__file__, str(node.proc.pid), node.web_base,
                node.web_token]  # fmt: skip
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if "ready" not in ready:
            self._proc.kill()
            self._proc.communicate()
            raise AssertionError(f"the watchdog did not start: {ready!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        self._proc.terminate()
        try:
            out, _ = self._proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, _ = self._proc.communicate()
        for line in out.splitlines():
            self._record(json.loads(line))
        peak = self._victim.peak_rss()
        if peak > self.verdict.peak_rss:
            self.verdict.peak_rss = peak
            self.verdict.peak_label = "(kernel high-water mark: a spike between two samples)"

    def _record(self, event: dict[str, float | bool]) -> None:
        verdict = self.verdict
        if "probe" in event:
            label = self._label_at(float(event["probe"]))
            took = float(event["took"])
            verdict.probes += 1
            verdict.slowest = max(verdict.slowest, took)
            if not event["ok"]:
                verdict.slow_probes.append(f"{label}: no answer")
            elif took > PROBE_DEADLINE_S:
                verdict.slow_probes.append(f"{label}: {took:.2f} s")
        elif "rss" in event and int(event["rss"]) > verdict.peak_rss:
            verdict.peak_rss = int(event["rss"])
            verdict.peak_label = self._label_at(float(event["at"]))
        elif "killed" in event:
            verdict.killed_at = self._label_at(float(event["killed"]))
        elif "died" in event:
            verdict.died_at = self._label_at(float(event["died"]))


@dataclass
class Victim:
    """The attacked node, with what it held before the attacks."""

    node: NodeProc
    bootstrap: str  # the seller's address it first joined through
    persona: bytes  # its persona key (for its prekey record)
    seller_persona: bytes
    seller_peer_id: str
    seller_head: bytes  # the seller's signed head, as the victim served it before the attacks
    titles: list[str]
    search_word: str
    restarts: list[str] = field(default_factory=list)  # why each restart was needed

    @property
    def addr(self) -> str:
        return self.node.addrs[0]

    def process(self) -> psutil.Process:
        assert self.node.proc is not None
        return psutil.Process(self.node.proc.pid)

    def alive(self) -> bool:
        return self.node.proc is not None and self.node.proc.poll() is None

    def ensure_running(self) -> None:
        """Start the victim again if an earlier attack killed it (counted in `restarts`), so
        that each attack is judged on its own; the final test fails on any restart."""
        if self.alive():
            return
        self.restart("it was not running")

    def restart(self, why: str) -> None:
        self.restarts.append(why)
        if self.alive():
            assert self.node.proc is not None
            self.node.proc.kill()
        self.node.stop()
        self.node.start([self.bootstrap], web=True)

    def settle(self, *, within: float = 30) -> None:
        """Wait for the victim to answer its API promptly again; restart it if it does not
        (an earlier attack may still be running in it), so no test inherits another's harm."""
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                api_search(self.node, self.search_word, timeout=PROBE_DEADLINE_S)
            except httpx.HTTPError as exc:
                last = repr(exc)
                time.sleep(0.5)
                continue
            if time.monotonic() - started <= PROBE_DEADLINE_S:
                return
            last = f"answered in {time.monotonic() - started:.2f} s"
        self.restart(f"it did not calm down within {within} s ({last})")

    def _status_path(self) -> Path:
        assert self.node.proc is not None
        return Path(f"/proc/{self.node.proc.pid}/status")

    def peak_rss(self) -> int:
        """The kernel's RSS high-water mark since the last `reset_peak_rss` (0 if gone)."""
        try:
            for line in self._status_path().read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, AssertionError):
            pass
        return 0

    def reset_peak_rss(self) -> None:
        # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
        assert self.node.proc is not None
        try:
            with open(f"/proc/{self.node.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def api_search(self, word: str) -> list[str]:
        return api_search(self.node, word)


def api_search(node: NodeProc, word: str, *, timeout: float = 30) -> list[str]:
    """Titles the node's REST API finds for ``word`` in its local index."""
    answer = httpx.get(
        f"{node.web_base}/api/v1/search",
        params={"q": word},
        headers={"Authorization": f"Bearer {node.web_token}"},
        timeout=timeout,
    )
    answer.raise_for_status()
    return sorted(hit["title"] for hit in answer.json()["hits"])
