"""Every limit of the sync protocol's framing and messages, at its boundary and one past it."""

from typing import Any

import pytest

from umbra.core import compute_cid, encode_canonical
from umbra.net import FrameDecoder, ProtocolViolation, decode_message, encode_frame
from umbra.net._wire import Block, BlocksRequest, End, Heads, HeadsRequest, Missing, Refused

CID = compute_cid(b"block", "raw")


def body(t: str, **fields: Any) -> bytes:
    return encode_canonical({"v": 1, "t": t, **fields})


def reason(data: bytes, **limits: int) -> str:
    with pytest.raises(ProtocolViolation) as info:
        decode_message(data, **{"max_frame_bytes": 1 << 20, **limits})
    return info.value.reason


def test_frame_at_the_size_limit_is_read_and_one_byte_more_is_refused() -> None:
    frame = encode_frame(Block(CID, b"d" * 100))
    size = len(frame) - 4
    decoder = FrameDecoder(max_frame_bytes=size)
    decoder.feed(frame)
    assert decoder.next_message() == Block(CID, b"d" * 100)
    assert decoder.buffered == 0

    smaller = FrameDecoder(max_frame_bytes=size - 1)
    with pytest.raises(ProtocolViolation) as info:
        smaller.feed(frame[:4])
    assert info.value.reason == "oversize-frame"
    # A caller that goes on anyway gets the same refusal, never the frame.
    with pytest.raises(ProtocolViolation):
        smaller.next_message()


def test_an_oversize_frame_after_a_good_one_is_refused_when_the_first_is_taken() -> None:
    good = encode_frame(End())
    decoder = FrameDecoder(max_frame_bytes=len(good) - 4)
    decoder.feed(good[:3])  # the length prefix is not complete: nothing to judge yet
    assert decoder.next_message() is None
    assert decoder.wanted() == 1
    decoder.feed(good[3:] + (len(good) - 3).to_bytes(4, "big"))  # the next one is too big
    with pytest.raises(ProtocolViolation) as info:
        decoder.next_message()
    assert info.value.reason == "oversize-frame"


def test_wanted_counts_the_rest_of_the_prefix_then_of_the_body() -> None:
    frame = encode_frame(Refused("busy"))
    decoder = FrameDecoder(max_frame_bytes=1024)
    assert decoder.wanted() == 4
    decoder.feed(frame[:1])
    assert decoder.wanted() == 3
    decoder.feed(frame[1:4])
    assert decoder.wanted() == len(frame) - 4
    decoder.feed(frame[4:-1])
    assert decoder.wanted() == 1
    assert decoder.next_message() is None
    decoder.feed(frame[-1:])
    assert decoder.wanted() == 1  # a complete frame waits to be taken: still at least 1
    assert decoder.next_message() == Refused("busy")
    assert decoder.wanted() == 4


def test_body_size_limit_of_decode_message() -> None:
    data = body("end")
    assert decode_message(data, max_frame_bytes=len(data)) == End()
    assert reason(data, max_frame_bytes=len(data) - 1) == "malformed"


def test_item_limits() -> None:
    cids = [CID] * 4
    assert decode_message(body("get-blocks", cids=cids), max_frame_bytes=1 << 20, max_items=4) == (
        BlocksRequest(tuple(cids))
    )
    assert reason(body("get-blocks", cids=[*cids, CID]), max_items=4) == "bad-field"
    heads = [b"h"] * 4
    assert decode_message(body("heads", heads=heads), max_frame_bytes=1 << 20, max_items=4) == (
        Heads(tuple(heads))
    )
    assert reason(body("heads", heads=[*heads, b"h"]), max_items=4) == "bad-field"
    assert reason(body("heads", heads="h"), max_items=4) == "bad-field"


@pytest.mark.parametrize("limit", [1, 4])
def test_heads_request_limit_in_range(limit: int) -> None:
    got = decode_message(body("get-heads", limit=limit), max_frame_bytes=1024, max_items=4)
    assert got == HeadsRequest(limit)


@pytest.mark.parametrize("limit", [0, 5, -1, "1"])
def test_heads_request_limit_out_of_range(limit: object) -> None:
    assert reason(body("get-heads", limit=limit), max_items=4) == "bad-field"


def test_head_size_limit_is_one_kib() -> None:
    assert decode_message(body("heads", heads=[b"h" * 1024]), max_frame_bytes=1 << 20) == Heads(
        (b"h" * 1024,)
    )
    assert reason(body("heads", heads=[b"h" * 1025])) == "bad-field"
    assert reason(body("heads", heads=[b"h", "text"])) == "bad-field"


def test_refusal_reason_limit_is_64_characters() -> None:
    assert decode_message(body("refused", reason="r" * 64), max_frame_bytes=1024) == Refused(
        "r" * 64
    )
    assert reason(body("refused", reason="r" * 65)) == "bad-field"
    assert reason(body("refused", reason=b"r")) == "bad-field"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (body("block", cid=CID, data="text"), "bad-field"),
        (body("block", cid=b"not a cid", data=b""), "bad-field"),
        (body("missing", cid=CID, extra=1), "bad-message"),
        (body("end", extra=1), "bad-message"),
        (encode_canonical([1]), "bad-version"),
        (encode_canonical({"t": "end"}), "bad-version"),
        (encode_canonical({"v": 2, "t": "end"}), "bad-version"),
        (body("nope"), "unknown-type"),
    ],
)
def test_refusal_reasons(data: bytes, expected: str) -> None:
    assert reason(data) == expected


def test_every_message_decodes_as_encoded() -> None:
    for message in (Missing(CID), Block(CID, b""), End(), HeadsRequest(1)):
        frame = encode_frame(message)
        assert int.from_bytes(frame[:4], "big") == len(frame) - 4
        assert decode_message(frame[4:], max_frame_bytes=1024) == message


def test_default_item_limit_is_1024() -> None:
    cids = [CID] * 1024
    assert decode_message(body("get-blocks", cids=cids), max_frame_bytes=1 << 20) == (
        BlocksRequest(tuple(cids))
    )
    assert reason(body("get-blocks", cids=[*cids, CID])) == "bad-field"
    decoder = FrameDecoder(max_frame_bytes=1 << 20)
    decoder.feed(encode_frame(BlocksRequest(tuple(cids))))
    assert decoder.next_message() == BlocksRequest(tuple(cids))
    decoder.feed(encode_frame(BlocksRequest((*cids, CID))))
    with pytest.raises(ProtocolViolation):
        decoder.next_message()


def test_a_cid_we_do_not_produce_is_refused_as_such() -> None:
    import dag_cbor  # the reference encoder (tests only): ours refuses to write such a CID
    from multiformats import CID as AnyCID
    from multiformats import multihash

    foreign = AnyCID("base32", 1, "dag-json", multihash.digest(b"x", "sha2-256"))
    assert reason(bytes(dag_cbor.encode({"v": 1, "t": "missing", "cid": foreign}))) == "bad-cid"


def test_an_unknown_type_is_named_in_at_most_32_characters() -> None:
    with pytest.raises(ProtocolViolation) as info:
        decode_message(body("x" * 40), max_frame_bytes=1024)
    assert str(info.value).endswith(repr("x" * 32))


def test_messages_are_frozen() -> None:
    import dataclasses

    for message in (
        BlocksRequest((CID,)),
        HeadsRequest(1),
        Block(CID, b""),
        Missing(CID),
        Heads(()),
        End(),
        Refused("r"),
    ):
        field = next(iter(message.__dataclass_fields__), "x")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(message, field, None)
