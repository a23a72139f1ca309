"""Where a starting node is, for the web app that serves before the node is usable (pure).

`umbra node` and `umbra app` serve the web app from their first second, because over Tor the
node needs tor's bootstrap and its onion service's publication (tens of seconds) before it
can do anything. Meanwhile every page shows a "Connecting to Tor … 45 % (step)" screen and
the API answers 503 with the same words (`StartingNode.api_message`); if the node cannot
start (no tor, no bootstrap) they show the one-line reason the CLI prints instead.

`NodeStartup` is the one mutable record of it (the CLI moves it on; tor's progress is read
live from the transport); `StartingNode` is the frozen snapshot the web app renders.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from umbra.core import neutralize

from ._network_mode import BootstrapStep

Stage = Literal["tor", "onion", "node", "services", "failed"]
MAX_WORDS = 300  # tor's summary and warning are shown; a long one is cut


def _clean(text: str) -> str:
    return " ".join(neutralize(text).split())[:MAX_WORDS]


@dataclass(frozen=True)
class StartingNode:
    """A node that is not usable yet.

    Attributes:
        network: ``"tor"`` or ``"clearnet"``.
        stage: ``tor`` (bootstrapping), ``onion`` (publishing the onion service), ``node``
            (starting on clearnet), ``services`` (messaging and orders), ``failed``.
        percent: tor's bootstrap percentage, once tor reported one.
        summary: tor's words for its current step (``""`` before it reported).
        warning: why tor is stuck, when it says so.
        error: why the node did not start (with ``stage == "failed"``).
    """

    network: str
    stage: Stage
    percent: int | None = None
    summary: str = ""
    warning: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.stage == "failed"

    def headline(self) -> str:
        """One line for people, e.g. ``Connecting to Tor… 45 % (Loading relay descriptors)``."""
        if self.stage == "failed":
            return f"Umbra could not start: {self.error or 'the node did not start'}"
        if self.stage == "tor":
            if self.percent is None:
                return "Starting Tor…"
            words = f" ({self.summary})" if self.summary else ""
            return f"Connecting to Tor… {self.percent} %{words}"
        if self.stage == "onion":
            return "Connected to Tor (100 %). Publishing this node's onion address…"
        if self.stage == "node":
            return "Starting the node…"
        return "Starting messaging and orders…"

    def api_message(self) -> str:
        """The API's 503 sentence: what is going on, and that nothing was done."""
        if self.stage == "failed":
            return f"the node did not start: {self.error}; restart it once this is fixed"
        step = {
            "tor": "Tor "
            + ("starting" if self.percent is None else f"{self.percent} %")
            + (f" ({self.summary})" if self.summary and self.percent is not None else ""),
            "onion": "Tor 100 %, publishing the onion service",
            "node": "starting the node",
            "services": "starting messaging and orders",
        }[self.stage]
        return f"the node is starting: {step}; nothing was done, try again in a moment"

    def to_json(self) -> dict[str, object]:
        return {
            "network": self.network,
            "stage": self.stage,
            "percent": self.percent,
            "summary": self.summary,
            "warning": self.warning,
            "error": self.error,
            "message": self.headline(),
        }


class NodeStartup:
    """How far the node got; `snapshot` is None once it is usable.

    ``tor_step`` reads the transport's latest bootstrap step (None on clearnet, or before
    tor reported); the stages after tor are moved on by whoever starts the node.
    """

    def __init__(self, network: str, tor_step: Callable[[], BootstrapStep | None]) -> None:
        self._network = network
        self._tor_step = tor_step
        self._stage: Stage | Literal["ready"] = "node"
        self._error: str | None = None

    def services_starting(self) -> None:
        """The node runs (its onion is published); messaging and orders start next."""
        if self._stage == "node":
            self._stage = "services"

    def ready(self) -> None:
        if self._stage != "failed":
            self._stage = "ready"

    def fail(self, reason: str) -> None:
        self._stage = "failed"
        self._error = _clean(reason) or "the node did not start"

    @property
    def is_ready(self) -> bool:
        return self._stage == "ready"

    def snapshot(self) -> StartingNode | None:
        """Where the start is now, or None once the node is usable."""
        if self._stage == "ready":
            return None
        if self._stage == "failed":
            return StartingNode(self._network, "failed", error=self._error)
        step = self._tor_step() if self._network == "tor" else None
        if step is None:
            percent, summary, warning = None, "", None
        else:
            percent = max(0, min(100, int(step.percent)))
            summary = _clean(step.summary)
            warning = _clean(step.warning) if step.warning else None
        if self._stage == "services":
            stage: Stage = "services"
        elif self._network != "tor":
            stage = "node"
        else:
            stage = "onion" if percent == 100 else "tor"
        return StartingNode(self._network, stage, percent, summary, warning)
