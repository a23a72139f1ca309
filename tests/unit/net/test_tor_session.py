"""`TorSession` against a scripted control port on loopback: a tor stuck in its bootstrap is a
one-line refusal naming where it is stuck, and a tor that goes away while the node runs is
noticed and reported (never an exception that ends the node, never a fallback)."""

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

import umbra.net._tor_session as tor_session
from umbra.net import TorSettings, TorUnavailable
from umbra.net._tor_session import TorSession
from umbra.net.tor import TcpEndpoint

Answer = Callable[[str], bytes]


def _bootstrap(percent: int) -> Answer:
    tag = "done" if percent == 100 else "loading_descriptors"
    summary = "Done" if percent == 100 else "Loading relay descriptors"
    return lambda _: (
        "250-status/bootstrap-phase=NOTICE BOOTSTRAP"
        f' PROGRESS={percent} TAG={tag} SUMMARY="{summary}"'
        + (' WARNING="no route to host"' if percent < 100 else "")
        + "\r\n250 OK\r\n"
    ).encode()


def _answers(percent: int) -> dict[str, Answer]:
    return {
        "PROTOCOLINFO": lambda _: (
            b"250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n"
            b'250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n'
        ),
        "AUTHENTICATE": lambda _: b"250 OK\r\n",
        "SETEVENTS": lambda _: b"250 OK\r\n",
        "GETINFO net/listeners/socks": lambda _: (
            b'250-net/listeners/socks="127.0.0.1:9"\r\n250 OK\r\n'
        ),
        "GETINFO status/bootstrap-phase": _bootstrap(percent),
    }


async def _scripted_tor(
    answers: dict[str, Answer], *, close_after: float | None, task_status: trio.TaskStatus[int]
) -> None:
    async def serve(stream: trio.SocketStream) -> None:
        buffer = b""
        with trio.move_on_after(close_after if close_after is not None else float("inf")):
            while True:
                data = await stream.receive_some()
                if not data:
                    return
                buffer += data
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    text = line.decode()
                    make = next((a for p, a in answers.items() if text.startswith(p)), None)
                    await stream.send_all(make(text) if make else b"510 Unrecognized\r\n")
        await stream.aclose()  # tor went away

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(serve, listeners)


def test_a_tor_stuck_in_its_bootstrap_is_a_one_line_refusal(tmp_path: Path) -> None:
    seen: list[int] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(lambda task_status: _scripted_tor(
                _answers(50), close_after=None, task_status=task_status))  # fmt: skip
            settings = TorSettings(control=TcpEndpoint("127.0.0.1", port))
            session = TorSession(settings, tor_dir=tmp_path, bootstrap_timeout=1.0)

            async def watch() -> None:
                async for step in session.watch_bootstrap():
                    seen.append(step.percent)

            nursery.start_soon(watch)
            with pytest.raises(TorUnavailable) as refused:
                async with session.running(isolation="x" * 32):
                    pytest.fail("the node ran on a tor that never bootstrapped")
            assert str(refused.value) == (
                "cannot run over Tor: tor did not bootstrap within 1 s (stuck at 50% Loading relay"
                " descriptors, tor says: no route to host) (no clearnet fallback)"
            )
            assert session.down is not None
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen == [50]  # the watcher saw the step, then ended with the session


def test_a_tor_that_goes_away_while_the_node_runs_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tor_session, "WATCH_INTERVAL_S", 0.05)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(lambda task_status: _scripted_tor(
                _answers(100), close_after=1.0, task_status=task_status))  # fmt: skip
            settings = TorSettings(control=TcpEndpoint("127.0.0.1", port))
            session = TorSession(settings, tor_dir=tmp_path)
            async with session.running(isolation="x" * 32):
                assert session.progress is not None and session.progress.percent == 100
                assert session.endpoints == (f"127.0.0.1:{port}", "127.0.0.1:9")
                assert session.down is None
                with trio.fail_after(30):  # a hang detector, not a measurement
                    while session.down is None:
                        await trio.sleep(0.05)
                assert "tor" in session.down  # e.g. "tor closed its control port …"
                assert session.socks_for_dialling() == (TcpEndpoint("127.0.0.1", 9), "x" * 32)
            nursery.cancel_scope.cancel()

    trio.run(main)
