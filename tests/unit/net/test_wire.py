"""The sync protocol's framing and messages (sans-IO)."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import compute_cid
from umbra.net import FrameDecoder, ProtocolViolation, decode_message, encode_frame
from umbra.net._wire import Block, BlocksRequest, End, Heads, HeadsRequest, Missing, Refused

MAX = 300 * 1024

cids = st.binary(max_size=64).map(lambda b: compute_cid(b, "raw"))
messages = st.one_of(
    st.lists(cids, max_size=64).map(lambda c: BlocksRequest(tuple(c))),
    st.integers(1, 1024).map(HeadsRequest),
    st.builds(Block, cids, st.binary(max_size=4096)),
    st.builds(Missing, cids),
    st.lists(st.binary(max_size=600), max_size=20).map(lambda h: Heads(tuple(h))),
    st.just(End()),
    st.text(max_size=64).map(Refused),
)


@settings(deadline=None, max_examples=60)
@given(st.lists(messages, max_size=8), st.integers(1, 97))
def test_round_trip_in_any_chunking(msgs: list[object], chunk: int) -> None:
    stream = b"".join(encode_frame(m) for m in msgs)  # type: ignore[arg-type]
    decoder = FrameDecoder(max_frame_bytes=MAX)
    out = []
    for start in range(0, len(stream), chunk):
        decoder.feed(stream[start : start + chunk])
        while (msg := decoder.next_message()) is not None:
            out.append(msg)
    assert out == msgs
    assert decoder.buffered == 0


@settings(deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    try:
        decoder.feed(data)
        while decoder.next_message() is not None:
            pass
    except ProtocolViolation:
        pass


@settings(deadline=None)
@given(st.binary(max_size=512))
def test_random_bodies_only_raise_protocol_violation(body: bytes) -> None:
    with contextlib.suppress(ProtocolViolation):
        decode_message(body, max_frame_bytes=MAX)


def test_oversize_length_prefix_is_refused_before_buffering() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    with pytest.raises(ProtocolViolation) as exc:
        decoder.feed((1001).to_bytes(4, "big"))
    assert exc.value.reason == "oversize-frame"


def test_unknown_fields_and_types_are_refused() -> None:
    from umbra.core import encode_canonical

    for wire in (
        {"v": 1, "t": "end", "extra": 1},
        {"v": 2, "t": "end"},
        {"v": 1, "t": "nope"},
        {"v": 1, "t": "get-heads", "limit": True},
        {"v": 1, "t": "block", "cid": "not a cid", "data": b""},
    ):
        with pytest.raises(ProtocolViolation):
            decode_message(encode_canonical(wire), max_frame_bytes=MAX)
