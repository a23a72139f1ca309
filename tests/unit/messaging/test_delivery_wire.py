"""The ``/umbra/msg/1.0.0`` codec: round trips, strictness, random bytes never crash."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umbra.core import encode_canonical
from umbra.net import ProtocolViolation
from umbra.net.messaging._delivery_wire import (
    MAX_FRAME_BYTES,
    Ack,
    Acked,
    Deliver,
    Delivered,
    End,
    Envelope,
    Fetch,
    FrameReader,
    Message,
    Put,
    Refused,
    Stored,
    decode_message,
    encode_frame,
)

ID = b"\x11" * 32
BOX = b"\x22" * 32
SAMPLES: list[Message] = [
    Deliver(b"sealed"),
    Put(BOX, b"sealed", 604800),
    Fetch(BOX, 64),
    Ack(BOX, (ID, b"\x33" * 32)),
    Delivered(ID),
    Stored(ID),
    Envelope(ID, b"sealed"),
    End(),
    Acked(2),
    Refused("mailbox-full"),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(msg: Message) -> None:
    reader = FrameReader()
    frame = encode_frame(msg)
    for i in range(len(frame)):  # one byte at a time
        assert reader.next_message() is None
        reader.feed(frame[i : i + 1])
    assert reader.next_message() == msg
    assert reader.next_message() is None


def test_several_frames_in_one_chunk() -> None:
    reader = FrameReader()
    reader.feed(b"".join(encode_frame(m) for m in SAMPLES))
    assert [reader.next_message() for _ in SAMPLES] == SAMPLES


@pytest.mark.parametrize(
    "wire",
    [
        {"v": 1, "t": "deliver"},
        {"v": 1, "t": "deliver", "env": b""},
        {"v": 1, "t": "deliver", "env": b"x" * (128 * 1024 + 1)},
        {"v": 1, "t": "deliver", "env": b"x", "extra": 1},
        {"v": 2, "t": "deliver", "env": b"x"},
        {"v": True, "t": "deliver", "env": b"x"},
        {"v": 1, "t": "put", "mbox": b"short", "env": b"x", "ttl": 1},
        {"v": 1, "t": "put", "mbox": BOX, "env": b"x", "ttl": -1},
        {"v": 1, "t": "put", "mbox": BOX, "env": b"x", "ttl": True},
        {"v": 1, "t": "fetch", "mbox": BOX, "limit": 0},
        {"v": 1, "t": "fetch", "mbox": BOX, "limit": 65},
        {"v": 1, "t": "ack", "mbox": BOX, "ids": []},
        {"v": 1, "t": "ack", "mbox": BOX, "ids": [ID] * 65},
        {"v": 1, "t": "ack", "mbox": BOX, "ids": [b"x"]},
        {"v": 1, "t": "acked", "n": 65},
        {"v": 1, "t": "refused", "reason": "x" * 65},
        {"v": 1, "t": "who-knows"},
        [1, 2, 3],
    ],
)
def test_invalid_messages(wire: object) -> None:
    with pytest.raises(ProtocolViolation):
        decode_message(encode_canonical(wire))


def test_non_canonical_is_refused() -> None:
    body = encode_canonical({"v": 1, "t": "end"})
    # A map with the same content but keys in the wrong order (not length-first sorted).
    swapped = b"\xa2\x61v\x01\x61t\x63end"
    assert swapped != body
    with pytest.raises(ProtocolViolation):
        decode_message(swapped)


def test_oversize_length_prefix_refused_before_buffering() -> None:
    reader = FrameReader()
    with pytest.raises(ProtocolViolation):
        reader.feed((MAX_FRAME_BYTES + 1).to_bytes(4, "big"))


def test_unencodable_message_type() -> None:
    with pytest.raises(TypeError):
        encode_frame("nope")  # type: ignore[arg-type]


@given(st.binary(max_size=4096))
def test_random_bodies_never_crash(data: bytes) -> None:
    with contextlib.suppress(ProtocolViolation):
        decode_message(data)


@given(st.lists(st.binary(max_size=64), max_size=16))
def test_random_streams_never_crash(chunks: list[bytes]) -> None:
    reader = FrameReader()
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while reader.next_message() is not None:
                pass
    except ProtocolViolation:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["v", "t", "env", "mbox", "ttl", "limit", "ids", "id", "n", "reason"]),
        st.one_of(
            st.integers(-5, 2**33),
            st.binary(max_size=40),
            st.text(max_size=10),
            st.sampled_from(["deliver", "put", "fetch", "ack", "end", "envelope", "refused"]),
            st.lists(st.binary(max_size=33), max_size=3),
            st.none(),
        ),
    )
)
def test_structured_garbage_never_crashes(wire: dict[str, object]) -> None:
    with contextlib.suppress(ProtocolViolation):
        decode_message(encode_canonical(wire))
