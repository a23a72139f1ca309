"""The Bitswap server's metering: what one message may make the node look up and send.

Driven through `BitswapServer.metered` and `answer` with a block getter over a dict (no network):
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
        cast(IHost, None),  # metered and answer open no stream
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
    server = _server(BitswapLimits(want_burst=5, want_rate=1), asked)
    cids = list(BLOCKS)
    # 5 tokens: 1 for the message, 4 wants; the 6 others are dropped, not answered DONT_HAVE.
    first = server.metered("peer-a", _wants(cids))
    assert [w.cid for w in first] == [bytes(CID.decode(c)) for c in cids[:4]]
    assert server.metered("peer-a", _wants(cids)) == []  # no token left
    assert server.refused_wants == 6 + 10
    # Another peer has its own bucket; a CID repeated in a message costs a token each time
    # but is answered once.
    again = server.metered("peer-b", _wants([cids[0], cids[0], cids[1]]))
    assert [w.cid for w in again] == [bytes(CID.decode(c)) for c in cids[:2]]

    frames = trio.run(server.answer, PROTOCOL_V120, first)
    assert _payload(frames) == [BLOCKS[c] for c in cids[:4]]
    # One lookup for the batch, with a budget that never withholds one of its blocks.
    assert asked == [(cids[:4], 4 * 256 * 1024)]
    assert server.served_blocks == 4


def test_a_message_is_answered_in_batches_of_lookup_batch_wants() -> None:
    """What a stream holds in memory is one batch of blocks, whatever the wantlist."""
    asked: list[tuple[list[str], int]] = []
    server = _server(BitswapLimits(lookup_batch=3), asked)
    wants = server.metered("peer", _wants(list(BLOCKS)))
    batches = [wants[i : i + 3] for i in range(0, len(wants), 3)]

    async def run() -> list[bytes]:
        return [f for batch in batches for f in await server.answer(PROTOCOL_V120, batch)]

    assert _payload(trio.run(run)) == list(BLOCKS.values())
    assert [len(cids) for cids, _ in asked] == [3, 3, 3, 1]


def test_wants_for_blocks_we_never_hold_cost_a_token_but_no_lookup() -> None:
    asked: list[tuple[list[str], int]] = []
    server = _server(BitswapLimits(), asked)
    foreign = Wants((Want(b"\x12\x20" + b"\x00" * 32, WantType.BLOCK, True),))  # a CIDv0
    frames = trio.run(server.answer, PROTOCOL_V120, server.metered("peer", foreign))
    assert asked == []
    (frame,) = frames
    presences = [(p.cid, p.type) for p in _message(frame).blockPresences]
    assert presences == [(foreign.wants[0].cid, Message.DontHave)]
