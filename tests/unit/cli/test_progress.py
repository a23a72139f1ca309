"""The Tor bootstrap progress renderer: a bar on a terminal, lines elsewhere, JSON with --json."""

import io
import json
from collections.abc import AsyncIterator

import trio

from umbra.cli._progress import bar_line, network_words, plain_line, show_bootstrap
from umbra.cli._terminal import NeutralizingWriter
from umbra.net import NodeStatus
from umbra.net.tor import BootstrapProgress


def Step(percent: int, summary: str) -> BootstrapProgress:
    return BootstrapProgress(percent=percent, tag="x", summary=summary)


STEPS = [
    Step(0, "Starting"),
    Step(10, "Finishing handshake with directory server"),
    Step(10, "Finishing handshake with directory server"),
    Step(75, "Loading relay descriptors"),
    Step(100, "Done"),
]


async def _feed(steps: list[BootstrapProgress]) -> AsyncIterator[BootstrapProgress]:
    for step in steps:
        await trio.lowlevel.checkpoint()
        yield step


def _show(
    steps: list[BootstrapProgress], out: io.TextIOBase, **options: object
) -> BootstrapProgress | None:
    async def run() -> BootstrapProgress | None:
        found = await show_bootstrap(_feed(steps), out, **options)  # type: ignore[arg-type]
        return found  # type: ignore[return-value]

    return trio.run(run)


def test_the_bar_fills_with_the_percentage() -> None:
    assert bar_line(0, "Starting", width=80) == f"Tor [{'-' * 30}]   0% Starting"
    assert bar_line(50, "Half", width=80) == f"Tor [{'#' * 15}{'-' * 15}]  50% Half"
    assert bar_line(100, "Done", width=80) == f"Tor [{'#' * 30}] 100% Done"
    assert bar_line(250, "", width=80) == f"Tor [{'#' * 30}] 100%"  # clamped
    assert bar_line(-5, "", width=80).endswith("   0%")


def test_the_bar_never_wraps_and_tor_text_cannot_steer_the_terminal() -> None:
    line = bar_line(40, "Loading " + "x" * 200, width=60)
    assert len(line) == 59
    hostile = bar_line(40, "ok\x1b[2J\rgone\n\u202eevil", width=200)
    assert "\x1b" not in hostile and "\r" not in hostile and "\n" not in hostile
    assert "\u202e" not in hostile and hostile.endswith("ok[2Jgone evil")


def test_on_a_terminal_one_bar_is_redrawn_in_place() -> None:
    out = io.StringIO()
    last = _show(STEPS, out, json_lines=False, terminal=True, width=100)
    assert last == Step(100, "Done")
    text = out.getvalue()
    assert text.count("\r") == len(STEPS) and text.endswith("Done\x1b[K\n")
    assert text.count("\n") == 1  # one line, redrawn
    assert "\rTor [" + "#" * 22 + "-" * 8 + "]  75% Loading relay descriptors\x1b[K" in text


def test_the_bar_reaches_the_terminal_through_the_clis_output_filter() -> None:
    # `main` wraps stdout in a NeutralizingWriter, which strips carriage returns.
    inner = io.StringIO()
    _show(STEPS[:2], NeutralizingWriter(inner), json_lines=False, terminal=True, width=100)
    assert inner.getvalue().startswith("\rTor [")


def test_elsewhere_one_line_per_change() -> None:
    out = io.StringIO()
    _show(STEPS, out, json_lines=False, terminal=False)
    assert out.getvalue().splitlines() == [
        "Tor bootstrap: 0% Starting",
        "Tor bootstrap: 10% Finishing handshake with directory server",
        "Tor bootstrap: 75% Loading relay descriptors",
        "Tor bootstrap: 100% Done",
    ]
    assert plain_line(7, "") == "Tor bootstrap: 7%"


def test_json_lines_one_event_per_step() -> None:
    out = io.StringIO()
    _show([*STEPS[:2], Step(20, "odd\u202etext")], out, json_lines=True, terminal=True)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0] == {
        "event": "tor-bootstrap",
        "percent": 0,
        "summary": "Starting",
        "warning": None,
    }
    assert [e["percent"] for e in events] == [0, 10, 20]
    assert events[2]["summary"] == "odd\u202etext"  # the data kept, escaped on the wire
    assert "\u202e" not in out.getvalue()


def test_a_stuck_tor_says_why() -> None:
    stuck = BootstrapProgress(
        percent=5, tag="conn", summary="Connecting to a relay", warning="Connection refused"
    )
    out = io.StringIO()
    _show([stuck], out, json_lines=False, terminal=False)
    assert out.getvalue() == "Tor bootstrap: 5% Connecting to a relay (stuck: Connection refused)\n"
    out = io.StringIO()
    _show([stuck], out, json_lines=True)
    assert json.loads(out.getvalue())["warning"] == "Connection refused"


def test_nothing_to_show() -> None:
    out = io.StringIO()
    assert _show([], out, json_lines=False, terminal=True) is None
    assert out.getvalue() == ""


def test_status_words() -> None:
    assert "IP address" in network_words(NodeStatus(running=True, network="clearnet"))
    assert network_words(NodeStatus(running=True, network="tor")) == "Tor (onion addresses only)"
    booting = NodeStatus(
        running=True, network="tor", tor_bootstrap_percent=45, tor_bootstrap_summary="Loading"
    )
    assert network_words(booting) == "Tor, bootstrapping: 45% Loading"
    assert booting.tor_bootstrap_json() == {"percent": 45, "summary": "Loading"}
    assert NodeStatus.from_json(booting.to_json()) == booting
    down = NodeStatus(
        running=True, network="tor", tor_bootstrap_percent=100, tor_error="tor exited\x1b[2J"
    )
    words = network_words(down)
    assert words.startswith("Tor is DOWN (tor exited") and "no fallback" in words
    assert "\x1b" not in words  # tor's words are shown neutralized
    assert NodeStatus.from_json(down.to_json()) == down
