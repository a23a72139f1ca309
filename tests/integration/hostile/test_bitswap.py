"""`/ipfs/bitswap/1.2.0` and `1.0.0`: crafted wantlists from a hostile peer.

Length-prefix lies (an 11-byte varint, 2^32, one byte past the message cap, a message that
stops half-way), protobuf that does not parse (truncated fields, groups nested past the
parser's depth, noise), a wantlist one entry past the cap, overlong CIDs and unknown want
types; then a flood of honest-looking wants, which the victim meters: one message of 1,024
wants gets at most `want_burst - 1` answers. Through it all the victim keeps answering
(watchdog), and afterwards it still hands its synced catalog block to a peer that asks.
"""

import contextlib

import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.bitswap.pb.bitswap_pb2 import Message
from libp2p.custom_types import TProtocol

from umbra.core import compute_cid, parse_catalog_head
from umbra.net._bitswap_wire import PROTOCOL_V100, PROTOCOL_V120, BitswapLimits, encode_uvarint

from ._peer import Attacker, send_raw
from ._victim import Victim
from .conftest import guarded

pytestmark = pytest.mark.hostile

LIMITS = BitswapLimits()


def _message(*cids: bytes, want_type: int = 0, dont_have: bool = True) -> bytes:
    msg = Message()
    for cid in cids:
        entry = msg.wantlist.entries.add()
        entry.block, entry.sendDontHave = cid, dont_have
        entry.wantType = want_type  # type: ignore[assignment]
    body = msg.SerializeToString()
    return encode_uvarint(len(body)) + body


def _crafted() -> list[tuple[str, str, bytes]]:
    cid = bytes(compute_cid(b"x", "raw"))
    groups = b"\x0b" * 300 + b"\x0c" * 300
    many = [bytes(compute_cid(i.to_bytes(4, "big"), "raw")) for i in range(1025)]
    return [
        ("varint-11-bytes", PROTOCOL_V120, b"\xff" * 11),
        ("declared-2^32", PROTOCOL_V120, encode_uvarint(1 << 32) + b"\x0a"),
        ("declared-cap+1", PROTOCOL_V120, encode_uvarint(LIMITS.max_message_bytes + 1)),
        ("stops-half-way", PROTOCOL_V120, encode_uvarint(500) + b"\x0a" * 100),
        ("truncated-field", PROTOCOL_V120, b"\x03\x0a\x05\x0a"),
        ("nested-groups", PROTOCOL_V120, encode_uvarint(len(groups)) + groups),
        ("noise-at-cap", PROTOCOL_V100, encode_uvarint(65536) + bytes(range(256)) * 256),
        ("wants-cap+1", PROTOCOL_V120, _message(*many)),
        ("cid-129-bytes", PROTOCOL_V120, _message(b"\x01" * 129)),
        ("want-type-9", PROTOCOL_V120, _message(cid, want_type=9)),
    ]


class _Answers:
    """What the victim sends back on the streams it opens to us."""

    def __init__(self) -> None:
        self.presences = 0
        self.blocks: list[bytes] = []

    async def handle(self, stream: INetStream) -> None:
        data = bytearray()
        with trio.move_on_after(20), contextlib.suppress(Exception):
            while chunk := await stream.read(1 << 16):
                data += chunk
        while data:
            prefix = next(i for i, byte in enumerate(data) if not byte & 0x80) + 1
            length = sum((byte & 0x7F) << (7 * i) for i, byte in enumerate(data[:prefix]))
            msg = Message()
            msg.ParseFromString(bytes(data[prefix : prefix + length]))
            del data[: prefix + length]
            self.presences += len(msg.blockPresences)
            self.blocks += [bytes(b.data) for b in msg.payload]


def test_bitswap_messages(victim: Victim) -> None:
    answers = _Answers()

    def prepare(host: IHost) -> None:
        host.set_stream_handler(TProtocol(PROTOCOL_V120), answers.handle)

    async def attack() -> None:
        async with Attacker(victim.addr) as attacker:
            for name, protocol, data in _crafted():
                dog.label = f"bitswap {name}"
                host = await attacker.peer()
                await send_raw(host, attacker.victim.peer_id, protocol, data, read=False)
            # The flood: a fresh peer (full bucket) asks for 1,024 blocks nobody has, each with
            # "send DONT_HAVE": a token for the message and one per want answered, the rest
            # dropped (all wants of one message are metered at the same instant).
            dog.label = "bitswap want flood"
            host = await attacker.fresh_peer(prepare)
            flood = [bytes(compute_cid(b"f" + i.to_bytes(4, "big"), "raw")) for i in range(1024)]
            await send_raw(host, attacker.victim.peer_id, PROTOCOL_V120, _message(*flood))
            await trio.sleep(3)  # the answers arrive on a stream the victim opens to us
            # An honest request afterwards: the seller's catalog block, which it synced.
            dog.label = "bitswap honest want"
            host = await attacker.fresh_peer(prepare)
            await send_raw(host, attacker.victim.peer_id, PROTOCOL_V120, _message(bytes(catalog)))
            await trio.sleep(3)

    catalog = parse_catalog_head(victim.seller_head).body.catalog
    with guarded(victim) as dog:
        trio.run(attack)
    assert answers.presences == LIMITS.want_burst - 1
    assert [compute_cid(block, "dag-cbor") for block in answers.blocks] == [catalog]
