"""Messages and framing of the delivery protocol ``/umbra/msg/1.0.0``, without any I/O.

One request per stream: the dialer sends one request frame, the listener answers with one or
more response frames and closes. A frame is a 4-byte big-endian length and that many bytes of
canonical DAG-CBOR, a map with ``"v": 1`` and ``"t"``. Decoding is strict (canonical encoding,
exact key sets, types, sizes) and fails only with `ProtocolViolation`, whatever the bytes.

Requests: ``deliver`` (an envelope for the listener's own persona), ``put`` / ``fetch`` /
``ack`` (the listener as mailbox peer). Responses: ``delivered`` (committed to disk),
``stored``, ``envelope`` (then ``end``), ``acked``, ``refused``.
"""

from dataclasses import dataclass
from typing import Any

from umbra.core import InvalidDocument, decode_canonical, encode_canonical
from umbra.core.crypto import MAX_ENVELOPE_BYTES

from .._errors import ProtocolViolation

MSG_PROTOCOL_ID = "/umbra/msg/1.0.0"
WIRE_VERSION = 1
MAX_FRAME_BYTES = MAX_ENVELOPE_BYTES + 4096
MAX_IDS = 64
_LENGTH = 4
_ID = 32
_MAX_REASON = 64
_MAX_TTL = 2**32 - 1


@dataclass(frozen=True)
class Deliver:
    envelope: bytes


@dataclass(frozen=True)
class Put:
    mailbox: bytes
    envelope: bytes
    ttl: int


@dataclass(frozen=True)
class Fetch:
    mailbox: bytes
    limit: int


@dataclass(frozen=True)
class Ack:
    mailbox: bytes
    ids: tuple[bytes, ...]


@dataclass(frozen=True)
class Delivered:
    """The recipient committed the message (or already had it)."""

    id: bytes


@dataclass(frozen=True)
class Stored:
    id: bytes


@dataclass(frozen=True)
class Envelope:
    id: bytes
    envelope: bytes


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class Acked:
    count: int


@dataclass(frozen=True)
class Refused:
    reason: str


Request = Deliver | Put | Fetch | Ack
Response = Delivered | Stored | Envelope | End | Acked | Refused
Message = Request | Response


def _to_wire(msg: Message) -> dict[str, Any]:
    match msg:
        case Deliver(envelope):
            return {"t": "deliver", "env": envelope}
        case Put(mailbox, envelope, ttl):
            return {"t": "put", "mbox": mailbox, "env": envelope, "ttl": ttl}
        case Fetch(mailbox, limit):
            return {"t": "fetch", "mbox": mailbox, "limit": limit}
        case Ack(mailbox, ids):
            return {"t": "ack", "mbox": mailbox, "ids": list(ids)}
        case Delivered(eid):
            return {"t": "delivered", "id": eid}
        case Stored(eid):
            return {"t": "stored", "id": eid}
        case Envelope(eid, envelope):
            return {"t": "envelope", "id": eid, "env": envelope}
        case End():
            return {"t": "end"}
        case Acked(count):
            return {"t": "acked", "n": count}
        case Refused(reason):
            return {"t": "refused", "reason": reason}
    raise TypeError(f"not a delivery message: {msg!r}")


def encode_frame(msg: Message) -> bytes:
    body = encode_canonical({"v": WIRE_VERSION, **_to_wire(msg)})
    return len(body).to_bytes(_LENGTH, "big") + body


def _fields(wire: dict[str, Any], *names: str) -> list[Any]:
    if set(wire) != {"v", "t", *names}:
        raise ProtocolViolation("bad-message", f"{str(wire.get('t'))[:32]!r} has wrong fields")
    return [wire[n] for n in names]


def _id(value: Any) -> bytes:
    if not isinstance(value, bytes) or len(value) != _ID:
        raise ProtocolViolation("bad-field", "expected a 32-byte id")
    return value


def _envelope(value: Any) -> bytes:
    if not isinstance(value, bytes) or not 0 < len(value) <= MAX_ENVELOPE_BYTES:
        raise ProtocolViolation("bad-field", "expected an envelope of 1..131072 bytes")
    return value


def _uint(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ProtocolViolation("bad-field", f"expected an integer in [{low}, {high}]")
    return value


def decode_message(body: bytes) -> Message:
    """Decode one frame body (without its length prefix).

    Raises:
        ProtocolViolation: for anything that is not exactly a valid message.
    """
    try:
        wire = decode_canonical(body, max_size=MAX_FRAME_BYTES)
    except InvalidDocument as exc:
        raise ProtocolViolation("malformed", exc.reason) from None
    if not isinstance(wire, dict) or type(wire.get("v")) is not int or wire["v"] != WIRE_VERSION:
        raise ProtocolViolation("bad-version", "not a version 1 message")
    match wire.get("t"):
        case "deliver":
            (env,) = _fields(wire, "env")
            return Deliver(_envelope(env))
        case "put":
            mbox, env, ttl = _fields(wire, "mbox", "env", "ttl")
            return Put(_id(mbox), _envelope(env), _uint(ttl, 0, _MAX_TTL))
        case "fetch":
            mbox, limit = _fields(wire, "mbox", "limit")
            return Fetch(_id(mbox), _uint(limit, 1, MAX_IDS))
        case "ack":
            mbox, ids = _fields(wire, "mbox", "ids")
            if not isinstance(ids, list) or not 0 < len(ids) <= MAX_IDS:
                raise ProtocolViolation("bad-field", f"'ids' must list 1..{MAX_IDS} ids")
            return Ack(_id(mbox), tuple(_id(i) for i in ids))
        case "delivered":
            (eid,) = _fields(wire, "id")
            return Delivered(_id(eid))
        case "stored":
            (eid,) = _fields(wire, "id")
            return Stored(_id(eid))
        case "envelope":
            eid, env = _fields(wire, "id", "env")
            return Envelope(_id(eid), _envelope(env))
        case "end":
            _fields(wire)
            return End()
        case "acked":
            (count,) = _fields(wire, "n")
            return Acked(_uint(count, 0, MAX_IDS))
        case "refused":
            (reason,) = _fields(wire, "reason")
            if not isinstance(reason, str) or len(reason) > _MAX_REASON:
                raise ProtocolViolation("bad-field", "'reason' must be a short string")
            return Refused(reason)
        case other:
            raise ProtocolViolation("unknown-type", f"unknown message type {str(other)[:32]!r}")


class FrameReader:
    """Turns a byte stream into messages. Sans-IO; refuses an oversize length prefix at once."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def _size(self) -> int | None:
        if len(self._buffer) < _LENGTH:
            return None
        size = int.from_bytes(self._buffer[:_LENGTH], "big")
        if size > MAX_FRAME_BYTES:
            raise ProtocolViolation("oversize-frame", f"{size} > {MAX_FRAME_BYTES} bytes")
        return size

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._size()

    def wanted(self) -> int:
        """How many more bytes complete the current frame (at least 1)."""
        size = self._size()
        if size is None:
            return _LENGTH - len(self._buffer)
        return max(1, _LENGTH + size - len(self._buffer))

    def next_message(self) -> Message | None:
        size = self._size()
        if size is None or len(self._buffer) < _LENGTH + size:
            return None
        body = bytes(self._buffer[_LENGTH : _LENGTH + size])
        del self._buffer[: _LENGTH + size]
        self._size()
        return decode_message(body)
