"""The sync protocol's messages and framing, without any I/O (``/umbra/sync/1.0.0``).

A stream carries one request from the dialer, then the listener's response frames, then the
listener closes. A frame is a 4-byte big-endian length followed by that many bytes of
canonical DAG-CBOR: a map with ``"v": 1`` and ``"t"`` naming the message type. Decoding is
strict (canonical encoding, exact key sets, types, caps) and fails only with
`ProtocolViolation`, whatever the bytes.

`FrameDecoder` is the sans-IO half: feed it bytes as they arrive, take complete messages out.
"""

from dataclasses import dataclass
from typing import Any

from multiformats import CID

from umbra.core import InvalidDocument, decode_canonical, encode_canonical, normalize_cid

from ._errors import ProtocolViolation

WIRE_VERSION = 1
_LENGTH_BYTES = 4


@dataclass(frozen=True)
class BlocksRequest:
    """Ask for blocks by CID; the answer has one `Block` or `Missing` per CID, in order."""

    cids: tuple[CID, ...]


@dataclass(frozen=True)
class HeadsRequest:
    """Ask for the signed catalog heads the peer knows (its own and those it synced)."""

    limit: int


@dataclass(frozen=True)
class Block:
    cid: CID
    data: bytes


@dataclass(frozen=True)
class Missing:
    cid: CID


@dataclass(frozen=True)
class Heads:
    heads: tuple[bytes, ...]


@dataclass(frozen=True)
class End:
    """The response is complete."""


@dataclass(frozen=True)
class Refused:
    """The peer will not answer (rate limited, busy, bad request); ``reason`` is a short code."""

    reason: str


Request = BlocksRequest | HeadsRequest
Response = Block | Missing | Heads | End | Refused
Message = Request | Response

_MAX_REASON_CHARS = 64
_MAX_HEAD_BYTES = 1024


def _to_wire(msg: Message) -> dict[str, Any]:
    if isinstance(msg, BlocksRequest):
        return {"t": "get-blocks", "cids": list(msg.cids)}
    if isinstance(msg, HeadsRequest):
        return {"t": "get-heads", "limit": msg.limit}
    if isinstance(msg, Block):
        return {"t": "block", "cid": msg.cid, "data": msg.data}
    if isinstance(msg, Missing):
        return {"t": "missing", "cid": msg.cid}
    if isinstance(msg, Heads):
        return {"t": "heads", "heads": list(msg.heads)}
    if isinstance(msg, End):
        return {"t": "end"}
    return {"t": "refused", "reason": msg.reason}


def encode_frame(msg: Message) -> bytes:
    """The frame (length prefix and body) for one message."""
    body = encode_canonical({"v": WIRE_VERSION, **_to_wire(msg)})
    return len(body).to_bytes(_LENGTH_BYTES, "big") + body


def _cid(value: Any) -> CID:
    if not isinstance(value, CID):
        raise ProtocolViolation("bad-field", "expected a CID")
    try:
        return normalize_cid(value)
    except InvalidDocument as exc:
        raise ProtocolViolation("bad-cid", exc.detail) from None


def _int(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ProtocolViolation("bad-field", f"expected an integer in [{low}, {high}]")
    return value


def _list(value: Any, cap: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > cap:
        raise ProtocolViolation("bad-field", f"expected a list of at most {cap} items")
    return value


def _keys(wire: dict[str, Any], *names: str) -> None:
    if set(wire) != {"v", "t", *names}:
        raise ProtocolViolation("bad-message", f"{wire.get('t')!r} has unexpected fields")


def decode_message(body: bytes, *, max_frame_bytes: int, max_items: int = 1024) -> Message:
    """Decode one frame body (without its length prefix).

    Raises:
        ProtocolViolation: for anything that is not exactly a valid message.
    """
    try:
        wire = decode_canonical(body, max_size=max_frame_bytes)
    except InvalidDocument as exc:
        # A CID of a kind Umbra does not use is refused by the decoder itself; it keeps the
        # reason the message checks give it.
        why = "bad-cid" if exc.reason == "bad-cid" else "malformed"
        raise ProtocolViolation(why, exc.reason) from None
    if not isinstance(wire, dict) or wire.get("v") != WIRE_VERSION:
        raise ProtocolViolation("bad-version", "not a version 1 message")
    kind = wire.get("t")
    if kind == "get-blocks":
        _keys(wire, "cids")
        return BlocksRequest(tuple(_cid(c) for c in _list(wire["cids"], max_items)))
    if kind == "get-heads":
        _keys(wire, "limit")
        return HeadsRequest(_int(wire["limit"], 1, max_items))
    if kind == "block":
        _keys(wire, "cid", "data")
        if not isinstance(wire["data"], bytes):
            raise ProtocolViolation("bad-field", "block data must be bytes")
        return Block(_cid(wire["cid"]), wire["data"])
    if kind == "missing":
        _keys(wire, "cid")
        return Missing(_cid(wire["cid"]))
    if kind == "heads":
        _keys(wire, "heads")
        heads = _list(wire["heads"], max_items)
        if not all(isinstance(h, bytes) and len(h) <= _MAX_HEAD_BYTES for h in heads):
            raise ProtocolViolation("bad-field", "heads must be byte strings of ≤ 1 KiB")
        return Heads(tuple(heads))
    if kind == "end":
        _keys(wire)
        return End()
    if kind == "refused":
        _keys(wire, "reason")
        reason = wire["reason"]
        if not isinstance(reason, str) or len(reason) > _MAX_REASON_CHARS:
            raise ProtocolViolation("bad-field", "reason must be a short string")
        return Refused(reason)
    raise ProtocolViolation("unknown-type", f"unknown message type {str(kind)[:32]!r}")


class FrameDecoder:
    """Turns a byte stream into messages. Sans-IO: no reading, no clock.

    Raises `ProtocolViolation` (from `feed` or `next_message`) as soon as a length prefix
    announces more than ``max_frame_bytes``, before any of that body is buffered.
    """

    def __init__(self, *, max_frame_bytes: int, max_items: int = 1024) -> None:
        self._buffer = bytearray()
        self._max = max_frame_bytes
        self._max_items = max_items

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._check_length()

    def _check_length(self) -> None:
        if len(self._buffer) >= _LENGTH_BYTES:
            size = int.from_bytes(self._buffer[:_LENGTH_BYTES], "big")
            if size > self._max:
                raise ProtocolViolation("oversize-frame", f"{size} > {self._max} bytes")

    def wanted(self) -> int:
        """How many more bytes complete the current frame (at least 1)."""
        if len(self._buffer) < _LENGTH_BYTES:
            return _LENGTH_BYTES - len(self._buffer)
        size = int.from_bytes(self._buffer[:_LENGTH_BYTES], "big")
        return max(1, _LENGTH_BYTES + size - len(self._buffer))

    def next_message(self) -> Message | None:
        """The next complete message, or None if more bytes are needed."""
        if len(self._buffer) < _LENGTH_BYTES:
            return None
        size = int.from_bytes(self._buffer[:_LENGTH_BYTES], "big")
        if size > self._max:
            raise ProtocolViolation("oversize-frame", f"{size} > {self._max} bytes")
        end = _LENGTH_BYTES + size
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[_LENGTH_BYTES:end])
        del self._buffer[:end]
        self._check_length()
        return decode_message(body, max_frame_bytes=self._max, max_items=self._max_items)

    @property
    def buffered(self) -> int:
        return len(self._buffer)
