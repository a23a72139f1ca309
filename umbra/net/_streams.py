"""Small stream helpers shared by the protocol servers (sync, Bitswap, messaging)."""

import contextlib

import trio
from libp2p.abc import INetStream


async def close_quietly(stream: INetStream) -> None:
    # The stream may already be gone; closing is best effort.
    with trio.move_on_after(2), contextlib.suppress(Exception):
        await stream.close()


async def reset_quietly(stream: INetStream) -> None:
    with trio.move_on_after(2), contextlib.suppress(Exception):
        await stream.reset()


class StreamsPerPeer:
    """Counts each peer's open streams of one protocol, refusing past ``limit``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    def try_open(self, peer: str) -> bool:
        """Count one more stream of ``peer``; False (nothing counted) at the limit."""
        if self._open.get(peer, 0) >= self._limit:
            return False
        self._open[peer] = self._open.get(peer, 0) + 1
        return True

    def closed(self, peer: str) -> None:
        self._open[peer] -= 1
        if not self._open[peer]:
            del self._open[peer]
