"""Every limit of the delivery protocol ``/umbra/msg/1.0.0``, at its boundary and one past it.

The numbers are the ones docs/specifications/messaging.md gives (frames of at most
128 KiB + 4 KiB, envelopes of 1..131072 bytes, at most 64 ids, 32-byte ids, reasons of at most
64 characters, a TTL that fits 32 bits), written out so that a changed constant fails here.
"""

from typing import Any

import pytest

from umbra.core import encode_canonical
from umbra.net import ProtocolViolation
from umbra.net.messaging._delivery_wire import (
    MAX_FRAME_BYTES,
    MAX_IDS,
    Ack,
    Acked,
    Deliver,
    Fetch,
    FrameReader,
    Put,
    Refused,
    decode_message,
    encode_frame,
)

ID = b"\x11" * 32
BOX = b"\x22" * 32
ENVELOPE_MAX = 128 * 1024


def wire(t: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "t": t, **fields}


def reason(value: Any) -> str:
    with pytest.raises(ProtocolViolation) as info:
        decode_message(encode_canonical(value))
    return info.value.reason


def test_limit_values() -> None:
    assert MAX_FRAME_BYTES == ENVELOPE_MAX + 4096
    assert MAX_IDS == 64


def test_frame_at_the_size_limit_is_read_and_one_byte_more_is_refused() -> None:
    reader = FrameReader()
    reader.feed(MAX_FRAME_BYTES.to_bytes(4, "big"))
    assert reader.wanted() == MAX_FRAME_BYTES
    assert reader.next_message() is None
    with pytest.raises(ProtocolViolation) as info:
        FrameReader().feed((MAX_FRAME_BYTES + 1).to_bytes(4, "big"))
    assert info.value.reason == "oversize-frame"


def test_the_largest_envelope_fits_in_a_frame() -> None:
    put = Put(BOX, b"e" * ENVELOPE_MAX, 2**32 - 1)
    frame = encode_frame(put)
    assert len(frame) - 4 <= MAX_FRAME_BYTES
    reader = FrameReader()
    reader.feed(frame)
    assert reader.next_message() == put
    assert reader.wanted() == 4


def test_a_decoder_refuses_a_body_over_the_frame_limit() -> None:
    big = encode_canonical(wire("deliver", env=b"e" * MAX_FRAME_BYTES))
    assert len(big) > MAX_FRAME_BYTES
    assert reason(wire("deliver", env=b"e" * MAX_FRAME_BYTES)) == "malformed"


def test_wanted_counts_the_rest_of_the_prefix_then_of_the_body() -> None:
    frame = encode_frame(Acked(3))
    reader = FrameReader()
    assert reader.wanted() == 4
    reader.feed(frame[:2])
    assert reader.wanted() == 2
    reader.feed(frame[2:-1])
    assert reader.wanted() == 1
    reader.feed(frame[-1:])
    assert reader.wanted() == 1
    assert reader.next_message() == Acked(3)


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        (wire("deliver", env=b"e"), wire("deliver", env=b"")),
        (wire("deliver", env=b"e" * ENVELOPE_MAX), wire("deliver", env=b"e" * (ENVELOPE_MAX + 1))),
        (wire("put", mbox=BOX, env=b"e", ttl=0), wire("put", mbox=BOX, env=b"e", ttl=-1)),
        (
            wire("put", mbox=BOX, env=b"e", ttl=2**32 - 1),
            wire("put", mbox=BOX, env=b"e", ttl=2**32),
        ),
        (wire("put", mbox=BOX, env=b"e", ttl=1), wire("put", mbox=BOX[:31], env=b"e", ttl=1)),
        (wire("put", mbox=BOX, env=b"e", ttl=1), wire("put", mbox=BOX + b"x", env=b"e", ttl=1)),
        (wire("fetch", mbox=BOX, limit=1), wire("fetch", mbox=BOX, limit=0)),
        (wire("fetch", mbox=BOX, limit=64), wire("fetch", mbox=BOX, limit=65)),
        (wire("ack", mbox=BOX, ids=[ID]), wire("ack", mbox=BOX, ids=[])),
        (wire("ack", mbox=BOX, ids=[ID] * 64), wire("ack", mbox=BOX, ids=[ID] * 65)),
        (wire("ack", mbox=BOX, ids=[ID]), wire("ack", mbox=BOX, ids=ID)),
        (wire("ack", mbox=BOX, ids=[ID]), wire("ack", mbox=BOX, ids=["x" * 32])),
        (wire("acked", n=0), wire("acked", n=-1)),
        (wire("acked", n=64), wire("acked", n=65)),
        (wire("delivered", id=ID), wire("delivered", id=ID[:31])),
        (wire("stored", id=ID), wire("stored", id=ID + b"x")),
        (wire("envelope", id=ID, env=b"e"), wire("envelope", id=ID, env=b"")),
        (wire("refused", reason="r" * 64), wire("refused", reason="r" * 65)),
        (wire("refused", reason=""), wire("refused", reason=b"r")),
    ],
)
def test_at_the_limit_and_one_past(good: dict[str, Any], bad: dict[str, Any]) -> None:
    message = decode_message(encode_canonical(good))
    assert encode_frame(message)[4:] == encode_canonical(good)
    assert reason(bad) == "bad-field"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (wire("end", extra=1), "bad-message"),
        (wire("fetch", mbox=BOX), "bad-message"),
        ({"t": "end"}, "bad-version"),
        ({"v": 0, "t": "end"}, "bad-version"),
        ({"v": 2, "t": "end"}, "bad-version"),
        ({"v": "1", "t": "end"}, "bad-version"),
        (wire("nope"), "unknown-type"),
        (wire(5), "unknown-type"),  # type: ignore[arg-type]
    ],
)
def test_refusal_reasons(value: dict[str, Any], expected: str) -> None:
    assert reason(value) == expected


def test_each_request_decodes_to_its_type() -> None:
    for message in (Deliver(b"e"), Put(BOX, b"e", 5), Fetch(BOX, 3), Ack(BOX, (ID,))):
        assert decode_message(encode_frame(message)[4:]) == message
    assert decode_message(encode_frame(Refused("full"))[4:]) == Refused("full")


def test_a_message_type_is_named_in_at_most_32_characters() -> None:
    with pytest.raises(ProtocolViolation) as info:
        decode_message(encode_canonical(wire("x" * 40)))
    assert str(info.value).endswith(repr("x" * 32))
    # A known type with wrong fields: the type is quoted the same way.
    with pytest.raises(ProtocolViolation) as info:
        decode_message(encode_canonical(wire("end", extra=1)))
    assert repr("end") in str(info.value)


def test_only_delivery_messages_are_encoded() -> None:
    with pytest.raises(TypeError, match="not a delivery message"):
        encode_frame(b"bytes")  # type: ignore[arg-type]


def test_messages_are_frozen() -> None:
    import dataclasses

    from umbra.net.messaging._delivery_wire import Delivered, End, Envelope, Stored

    for message in (
        Deliver(b"e"),
        Put(BOX, b"e", 1),
        Fetch(BOX, 1),
        Ack(BOX, (ID,)),
        Delivered(ID),
        Stored(ID),
        Envelope(ID, b"e"),
        End(),
        Acked(1),
        Refused("r"),
    ):
        field = next(iter(message.__dataclass_fields__), "x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(message, field, None)
