"""Our inbound handler runs at most `handshakes` handshakes at once and closes one that has not
finished in time. The library's swarm is stood in for by a small object with the two members
the handler uses (the real swarm is exercised by tests/integration/net/test_connection_limits.py
and by tests/integration/hostile/test_floods.py)."""

from typing import Any

import trio
import trio.testing

from umbra.net import ConnectionAdmission, ConnectionCaps
from umbra.net._inbound import install_admission


class _Socket:
    def __init__(self, host: str) -> None:
        self.host, self.closed = host, False

    def get_remote_address(self) -> tuple[str, int]:
        return (self.host, 4001)

    async def close(self) -> None:
        self.closed = True


class _Muxed:
    def __init__(self) -> None:
        self.event_shutting_down = trio.Event()


class _Swarm:
    """Handshakes take ``handshake_s`` each (``None``: never finish)."""

    def __init__(self, handshake_s: float | None) -> None:
        self.handshake_s = handshake_s
        self.running = self.most_at_once = self.done = 0

    def _handle_inbound_connection(self, *args: Any) -> None: ...

    def get_connections(self) -> list[object]:
        return []

    async def upgrade_inbound_raw_conn(self, raw: object, maddr: object) -> _Muxed:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await trio.sleep(self.handshake_s if self.handshake_s is not None else 10**9)
        finally:
            self.running -= 1
        self.done += 1
        muxed = _Muxed()
        muxed.event_shutting_down.set()  # the connection ends right away
        return muxed


def _gate(handshakes: int, timeout: float) -> ConnectionAdmission:
    return ConnectionAdmission(
        ConnectionCaps(
            per_ip=100,
            per_range=100,
            inbound=100,
            total=100,
            handshakes=handshakes,
            handshake_timeout=timeout,
        )
    )


def _run(swarm: _Swarm, gate: ConnectionAdmission, sockets: list[_Socket]) -> None:
    install_admission(swarm, gate)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for sock in sockets:
                nursery.start_soon(swarm._handle_inbound_connection, sock, None)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_burst_is_handshaken_a_few_at_a_time_and_nobody_is_refused() -> None:
    swarm, gate = _Swarm(handshake_s=1.0), _gate(handshakes=3, timeout=100.0)
    _run(swarm, gate, [_Socket(f"198.51.100.{i}") for i in range(10)])
    assert swarm.most_at_once == 3
    assert swarm.done == 10 and gate.inbound == 0 and not gate.refused


def test_a_handshake_past_its_deadline_is_closed_and_gives_its_place_back() -> None:
    swarm, gate = _Swarm(handshake_s=None), _gate(handshakes=2, timeout=15.0)
    sockets = [_Socket(f"198.51.100.{i}") for i in range(3)]
    _run(swarm, gate, sockets)
    assert swarm.done == 0 and all(s.closed for s in sockets)
    assert gate.inbound == 0
