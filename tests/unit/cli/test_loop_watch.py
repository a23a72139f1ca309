"""The node's loop watch: a call that blocks the trio loop is named in the log, an idle loop
is not reported."""

import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
import trio

from umbra.cli._loop_watch import serve_loop_watch

STALL_S = 0.2


def _read_the_disk_on_the_loop() -> None:
    time.sleep(5 * STALL_S)  # what a synchronous store or file call on the loop does


async def _run(body: Callable[[], Awaitable[None]]) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_loop_watch, stall_s=STALL_S, beat_s=STALL_S / 4))
        await body()
        nursery.cancel_scope.cancel()


def test_a_blocked_loop_is_logged_with_the_call_that_holds_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def block() -> None:
        _read_the_disk_on_the_loop()
        await trio.sleep(STALL_S)

    with caplog.at_level(logging.WARNING, logger="umbra.cli._loop_watch"):
        trio.run(_run, block)
    held = [r.getMessage() for r in caplog.records if "held by" in r.getMessage()]
    assert len(held) == 1, caplog.text  # once per stall, not once per look
    assert "in _read_the_disk_on_the_loop" in held[0]
    assert str(Path(__file__).parent) not in held[0]  # code locations, not where they live
    assert any("was held for" in r.getMessage() for r in caplog.records)


def test_an_idle_loop_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    async def idle() -> None:
        await trio.sleep(5 * STALL_S)

    with caplog.at_level(logging.WARNING, logger="umbra.cli._loop_watch"):
        trio.run(_run, idle)
    assert caplog.records == []
