"""Tor's bootstrap progress for people (a bar on a terminal) and for programs (JSON lines).

`show_bootstrap` is fed an async iterator of steps (``umbra.net.tor.BootstrapProgress``, or
anything with ``percent`` and ``summary``) and prints each one as it comes: on a terminal one
bar redrawn in place, elsewhere one line per change, with ``--json`` one
``{"event": "tor-bootstrap", ...}`` object per step. The summary is tor's text: it is
neutralized (no hidden or control characters) before it is shown, since the bar itself must
write a carriage return and an erase-line sequence that the CLI's output filter would strip
(`_terminal.NeutralizingWriter`), so the bar goes to the raw stream.
"""

import json
import shutil
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TextIO

from umbra.core import escape_hidden, neutralize

from ._terminal import NeutralizingWriter

if TYPE_CHECKING:
    from umbra.net import BootstrapStep, NodeStatus

BAR_CELLS = 30
ERASE_LINE = "\x1b[K"  # from the cursor to the end of the line
MAX_SUMMARY = 200


def _percent(value: int) -> int:
    return max(0, min(100, int(value)))


def _summary(text: str) -> str:
    return " ".join(neutralize(str(text)).split())[:MAX_SUMMARY]


def bar_line(percent: int, summary: str, *, width: int) -> str:
    """``Tor [#########---------------------]  30% Loading relay descriptors``, cut to fit
    a terminal ``width`` columns wide (one column spare, so the line never wraps)."""
    percent = _percent(percent)
    filled = BAR_CELLS * percent // 100
    line = f"Tor [{'#' * filled}{'-' * (BAR_CELLS - filled)}] {percent:3d}% {_summary(summary)}"
    return line.rstrip()[: max(width - 1, 1)]


def plain_line(percent: int, summary: str) -> str:
    """One line per step where no bar can be redrawn (a log file, a pipe)."""
    return f"Tor bootstrap: {_percent(percent)}% {_summary(summary)}".rstrip()


def progress_event(step: "BootstrapStep") -> dict[str, object]:
    """The ``--json`` event of one step (``warning``: why tor is stuck, or null)."""
    return {
        "event": "tor-bootstrap",
        "percent": _percent(step.percent),
        "summary": step.summary,
        "warning": step.warning,
    }


def _words(step: "BootstrapStep") -> str:
    """The summary, and tor's warning when it says why it is stuck."""
    return step.summary + (f" (stuck: {step.warning})" if step.warning else "")


async def show_bootstrap(
    steps: AsyncIterator["BootstrapStep"],
    out: TextIO,
    *,
    json_lines: bool,
    terminal: bool | None = None,
    width: int | None = None,
) -> "BootstrapStep | None":
    """Print every step of ``steps`` until it ends; returns the last step (None if none).

    Args:
        out: where to print (``sys.stdout``; a `NeutralizingWriter` is unwrapped for the bar).
        json_lines: one JSON object per step (``--json``).
        terminal: redraw one bar in place; default: whether ``out`` is a terminal.
        width: the terminal's width; default: asked from the terminal.
    """
    wrapped: object = out  # `main` puts a NeutralizingWriter where a TextIO is expected
    raw = wrapped.raw if isinstance(wrapped, NeutralizingWriter) else out
    redraw = (raw.isatty() if terminal is None else terminal) and not json_lines
    columns = width if width is not None else shutil.get_terminal_size().columns
    last: BootstrapStep | None = None
    shown: tuple[int, str] | None = None
    async for step in steps:
        last = step
        if json_lines:
            line = escape_hidden(json.dumps(progress_event(step), ensure_ascii=False))
            raw.write(line + "\n")
        elif redraw:
            raw.write("\r" + bar_line(step.percent, _words(step), width=columns) + ERASE_LINE)
        elif shown != (_percent(step.percent), _summary(_words(step))):
            shown = (_percent(step.percent), _summary(_words(step)))
            raw.write(plain_line(step.percent, _words(step)) + "\n")
        raw.flush()
    if redraw and last is not None:
        raw.write("\n")
        raw.flush()
    return last


def network_words(status: "NodeStatus") -> str:
    """The network line of `umbra status`: the mode, and Tor's bootstrap when known."""
    if status.network == "clearnet":
        return "clearnet (peers see this machine's IP address)"
    if status.network == "tor":
        if status.tor_error:
            return f"Tor is DOWN ({_summary(status.tor_error)}): no peer is reached, no fallback"
        tor = status.tor_bootstrap_json()
        if tor is None or tor["percent"] >= 100:
            return "Tor (onion addresses only)"
        return f"Tor, bootstrapping: {tor['percent']}% {_summary(str(tor['summary']))}"
    return "unknown (a node from before network modes)"
