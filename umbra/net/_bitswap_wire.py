"""Bitswap's messages and framing, without any I/O (``/ipfs/bitswap/1.0.0`` to ``1.2.0``).

What an IPFS node (Kubo, Helia) sends us is a stream of messages, each an unsigned varint
length and then that many bytes of protobuf (`libp2p.bitswap.pb.bitswap_pb2.Message`, the
IPFS schema). We only serve: of a message we read the wantlist and ignore blocks or presences
a peer pushes (we never asked for any, so nothing of theirs is stored).

Every byte is hostile. `MessageDecoder` checks the length prefix against
`BitswapLimits.max_message_bytes` before buffering the body, so it never holds more than one
message, and it hands protobuf only bounded input; a wantlist of more than
`max_wants_per_message` entries is refused after the parse, whose cost is linear in the
bytes. Decoding fails only with `ProtocolViolation`. CIDs are kept as the bytes the peer sent
(what a DONT_HAVE answer must echo); one we could hold (CIDv1, sha2-256, raw or dag-cbor) is
recognised by its exact binary form, any other is simply one we do not have.

`answer` turns wants and the blocks found into response messages, each at most
`max_response_bytes` long. Stateless on purpose: a want is answered once, at once, and
forgotten (no per-peer wantlist to grow); a block we do not have now is not sent later.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from google.protobuf.message import DecodeError
from libp2p.bitswap.pb.bitswap_pb2 import Message
from multiformats import CID

from umbra.core import cid_from_binary, normalize_cid

from ._errors import ProtocolViolation

PROTOCOL_V100 = "/ipfs/bitswap/1.0.0"
PROTOCOL_V110 = "/ipfs/bitswap/1.1.0"
PROTOCOL_V120 = "/ipfs/bitswap/1.2.0"
PROTOCOLS = (PROTOCOL_V120, PROTOCOL_V110, PROTOCOL_V100)

# The longest CID we read: far above any real one (a CIDv1 with a 64-byte digest is ~70).
MAX_CID_BYTES = 128
_MAX_VARINT_BYTES = 10  # a uint64


@dataclass(frozen=True, kw_only=True)
class BitswapLimits:
    """What one peer may make the Bitswap server do (see docs/specifications/bitswap.md)."""

    # One inbound message (a wantlist). Helia's default wantlist holds at most 1,024 entries
    # of ~45 bytes; 256 KiB leaves room for all of them and for longer CIDs.
    max_message_bytes: int = 256 * 1024
    max_wants_per_message: int = 1024
    # One outbound message: several of our blocks (each at most 256 KiB). IPFS nodes accept
    # 4 MiB.
    max_response_bytes: int = 1024 * 1024
    # Wants looked up and answered at a time: what the server holds in memory per stream is
    # at most this many blocks (8 × 256 KiB), written before the next ones are read.
    lookup_batch: int = 8
    # Token bucket per peer: a message costs 1, each want (block or have) 1 more; wants past
    # the tokens are dropped unanswered.
    want_burst: float = 512.0
    want_rate: float = 128.0
    # Bitswap streams one peer may have open to us at once, and how long one may stay silent.
    max_streams_per_peer: int = 4
    idle_timeout: float = 20.0
    # How long writing our answers may take (a peer that does not read is dropped).
    send_timeout: float = 20.0


class WantType(Enum):
    BLOCK = 0
    HAVE = 1


@dataclass(frozen=True, slots=True)
class Want:
    """One wantlist entry. ``cid`` is the peer's binary CID, as sent."""

    cid: bytes
    want_type: WantType
    send_dont_have: bool


@dataclass(frozen=True, slots=True)
class Wants:
    """What one inbound message asks for (cancels dropped: we keep no wantlist to cancel)."""

    wants: tuple[Want, ...]


class MessageDecoder:
    """Feed bytes as they arrive; take out complete messages. Holds at most one message."""

    def __init__(self, limits: BitswapLimits) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._length: int | None = None  # the current message's length, once its prefix is in

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def wanted(self) -> int:
        """How many bytes to read next: the rest of the message, or enough for a prefix."""
        if self._length is None:
            return _MAX_VARINT_BYTES
        return max(1, self._length - len(self._buffer))

    def feed(self, data: bytes) -> None:
        """Take bytes read from the stream (read at most `wanted` at a time).

        Raises:
            ProtocolViolation: the length prefix is bad or announces an oversize message.
        """
        self._buffer += data
        if len(self._buffer) > self._limits.max_message_bytes + 2 * _MAX_VARINT_BYTES:
            raise ProtocolViolation("oversize-message", "more bytes than one message holds")
        if self._length is None:
            self._read_length()  # refuse an oversize message before its body arrives

    def next_message(self) -> Wants | None:
        """The next complete message, or None until more bytes arrive.

        Raises:
            ProtocolViolation: bad length prefix, oversize message, bad protobuf, too many
                wants, an overlong CID or an unknown want type.
        """
        if self._length is None:
            self._read_length()
            if self._length is None:
                return None
        if len(self._buffer) < self._length:
            return None
        body = bytes(self._buffer[: self._length])
        del self._buffer[: self._length]
        self._length = None
        return decode_message(body, self._limits)

    def _read_length(self) -> None:
        length, used = _read_uvarint(self._buffer)
        if used == 0:
            return
        if length > self._limits.max_message_bytes:
            raise ProtocolViolation(
                "oversize-message", f"{length} bytes > {self._limits.max_message_bytes}"
            )
        del self._buffer[:used]
        self._length = length


def _read_uvarint(data: bytearray) -> tuple[int, int]:
    """(value, bytes used) of the unsigned varint at the start; (0, 0) if it is incomplete."""
    value = 0
    for i, byte in enumerate(data[:_MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i > 0 and byte == 0:
                raise ProtocolViolation("bad-length", "a varint with a redundant zero byte")
            return value, i + 1
    if len(data) >= _MAX_VARINT_BYTES:
        raise ProtocolViolation("bad-length", "a length prefix longer than 10 bytes")
    return 0, 0


def encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_message(body: bytes, limits: BitswapLimits) -> Wants:
    """The wants in one message body (already bounded by the caller's length check).

    Raises:
        ProtocolViolation: see `MessageDecoder.next_message`.
    """
    if len(body) > limits.max_message_bytes:
        raise ProtocolViolation("oversize-message", f"{len(body)} bytes")
    msg = Message()
    try:
        msg.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:  # RuntimeError: nesting too deep
        raise ProtocolViolation("bad-protobuf", type(exc).__name__) from None
    entries = msg.wantlist.entries
    if len(entries) > limits.max_wants_per_message:
        raise ProtocolViolation("too-many-wants", f"{len(entries)} entries")
    wants: list[Want] = []
    for entry in entries:
        if len(entry.block) > MAX_CID_BYTES:
            raise ProtocolViolation("oversize-cid", f"{len(entry.block)} bytes")
        if entry.cancel:
            continue
        try:
            want_type = WantType(entry.wantType)
        except ValueError:
            raise ProtocolViolation("bad-want-type", str(entry.wantType)) from None
        wants.append(Want(bytes(entry.block), want_type, bool(entry.sendDontHave)))
    return Wants(tuple(wants))


def servable_cid(want: Want) -> CID | None:
    """The CID to look up for ``want`` (base32, as the store keys it), or None if it is not a
    kind of block we ever hold."""
    cid = cid_from_binary(want.cid)
    return None if cid is None else normalize_cid(cid)


def encode_message(msg: Message) -> bytes:
    """One length-prefixed message, as written on the stream."""
    body = msg.SerializeToString()
    return encode_uvarint(len(body)) + body


def answer(
    wants: Sequence[Want], found: Mapping[bytes, bytes], *, protocol: str, max_response_bytes: int
) -> list[bytes]:
    """The length-prefixed messages that answer ``wants``, given the blocks ``found`` (keyed by
    binary CID; a want not in it is a block we do not have or will not serve).

    Per want: BLOCK → the block; HAVE → a HAVE presence (1.2.0); not found and
    ``send_dont_have`` → a DONT_HAVE presence (1.2.0). Peers on 1.0.0 and 1.1.0 get blocks
    only (1.0.0: bare data; 1.1.0 on: a CID prefix with each block), as those versions have no
    presences. Each message is at most ``max_response_bytes`` (a block is far smaller).
    """
    with_presences = protocol == PROTOCOL_V120
    out: list[bytes] = []
    msg, size = Message(), 0
    seen: set[bytes] = set()
    for want in wants:
        if want.cid in seen:
            continue
        seen.add(want.cid)
        data = found.get(want.cid)
        if data is not None and want.want_type is WantType.BLOCK:
            cost = len(data) + len(want.cid) + 16
        elif with_presences and (data is not None or want.send_dont_have):
            cost = len(want.cid) + 8
        else:
            continue
        if size and size + cost > max_response_bytes:
            out.append(encode_message(msg))
            msg, size = Message(), 0
        _add(msg, want, data, protocol)
        size += cost
    if size:
        out.append(encode_message(msg))
    return out


def _add(msg: Message, want: Want, data: bytes | None, protocol: str) -> None:
    if data is not None and want.want_type is WantType.BLOCK:
        if protocol == PROTOCOL_V100:
            msg.blocks.append(data)
        else:
            block = msg.payload.add()
            block.prefix = cid_prefix(want.cid)
            block.data = data
    else:
        presence = msg.blockPresences.add()
        presence.cid = want.cid
        presence.type = Message.Have if data is not None else Message.DontHave


def cid_prefix(cid: bytes) -> bytes:
    """A CIDv1's prefix as Bitswap 1.1.0 sends it: version, codec, hash function, digest length.

    Only for the CIDs we serve (`servable_cid`): 0x01, a one-byte codec, 0x12 0x20.
    """
    return cid[:4]
