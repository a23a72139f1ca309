"""The Bitswap server's metering: what one message may make the node look up and send.

Driven through `BitswapServer._answer` with a real block getter over a dict (no network):
the stream handling around it is covered by tests/integration/net/test_bitswap_ipfs.py.
"""

from typing import cast

import trio
from libp2p.abc import IHost
from libp2p.bitswap.pb.bitswap_pb2 import Message
from multiformats import CID

from umbra.core import compute_cid
from umbra.net._bitswap import BitswapServer
from umbra.net._bitswap_wire import PROTOCOL_V120, BitswapLimits, Want, Wants, WantType

BLOCKS = {str(compute_cid(bytes([i]) * 100, "raw")): bytes([i]) * 100 for i in range(10)}


def _server(limits: BitswapLimits, asked: list[tuple[list[str], int]]) -> BitswapServer:
    async def get_blocks(cids: list[str], budget: int) -> list[bytes | None]:
        asked.append((cids, budget))
        return [BLOCKS.get(c) for c in cids]

    return BitswapServer(
        cast(IHost, None),  # _answer opens no stream
        limits=limits,
        get_blocks=get_blocks,
        strike=lambda peer, reason: None,
        clock=lambda: 1000.0,  # frozen: no refill during the test
    )


def _wants(cids: list[str]) -> Wants:
    return Wants(tuple(Want(bytes(CID.decode(c)), WantType.BLOCK, True) for c in cids))


def _message(frame: bytes) -> Message:
    prefix = next(i for i, byte in enumerate(frame) if not byte & 0x80) + 1
    msg = Message()
    msg.ParseFromString(frame[prefix:])
    return msg


def _payload(frames: list[bytes]) -> list[bytes]:
    return [block.data for frame in frames for block in _message(frame).payload]


def test_a_peer_gets_as_many_wants_answered_as_it_has_tokens_then_none() -> None:
    asked: list[tuple[list[str], int]] = []
    limits = BitswapLimits(want_burst=5, want_rate=1, max_bytes_per_message=12345)
    server = _server(limits, asked)
    cids = list(BLOCKS)

    async def run() -> tuple[list[bytes], list[bytes]]:
        first = await server._answer("peer-a", PROTOCOL_V120, _wants(cids))
        second = await server._answer("peer-a", PROTOCOL_V120, _wants(cids))
        return first, second

    first, second = trio.run(run)
    # 5 tokens: 1 for the message, 4 wants; the 6 others are dropped, not answered DONT_HAVE.
    assert asked == [(cids[:4], 12345)]
    assert _payload(first) == [BLOCKS[c] for c in cids[:4]]
    assert second == [] and len(asked) == 1  # no token left: not even a lookup
    assert server.refused_wants == 6 + 10
    assert server.served_blocks == 4

    # Another peer has its own bucket.
    other = trio.run(server._answer, "peer-b", PROTOCOL_V120, _wants(cids[:2]))
    assert _payload(other) == [BLOCKS[c] for c in cids[:2]]


def test_wants_for_blocks_we_never_hold_cost_a_token_but_no_lookup() -> None:
    asked: list[tuple[list[str], int]] = []
    server = _server(BitswapLimits(), asked)
    foreign = Wants((Want(b"\x12\x20" + b"\x00" * 32, WantType.BLOCK, True),))  # a CIDv0
    frames = trio.run(server._answer, "peer", PROTOCOL_V120, foreign)
    assert asked == []
    (frame,) = frames
    presences = [(p.cid, p.type) for p in _message(frame).blockPresences]
    assert presences == [(foreign.wants[0].cid, Message.DontHave)]
