"""Bitswap's decoding of hostile bytes, at every limit, and the answers it builds (sans-IO).

Messages are built with the IPFS schema's generated classes, as Helia and Kubo send them.
"""

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.bitswap.pb.bitswap_pb2 import Message
from multiformats import CID

from tests.unit.core.hostile_cbor import run_measured
from umbra.core import compute_cid
from umbra.net import ProtocolViolation
from umbra.net._bitswap_wire import (
    PROTOCOL_V100,
    PROTOCOL_V110,
    PROTOCOL_V120,
    BitswapLimits,
    MessageDecoder,
    Want,
    Wants,
    WantType,
    answer,
    encode_message,
    encode_uvarint,
    servable_cid,
)

LIMITS = BitswapLimits()
RAW = compute_cid(b"an image", "raw")
DOC = compute_cid(b"a listing", "dag-cbor")


def wantlist(*entries: tuple[bytes, int, bool, bool], full: bool = False) -> Message:
    """A message of (cid bytes, want type, cancel, send_dont_have) entries."""
    msg = Message()
    for cid, want_type, cancel, dont_have in entries:
        entry = msg.wantlist.entries.add()
        entry.block, entry.cancel, entry.sendDontHave = cid, cancel, dont_have
        entry.wantType = want_type  # type: ignore[assignment]
        entry.priority = 1
    msg.wantlist.full = full
    return msg


def decode_all(
    data: bytes, limits: BitswapLimits = LIMITS, out: list[Wants] | None = None
) -> list[Wants]:
    """Feed ``data`` the way the server reads a stream: at most `wanted` bytes at a time.
    Messages go to ``out`` as they come (those before a violation stay there)."""
    decoder = MessageDecoder(limits)
    out = [] if out is None else out
    pos = 0
    while True:
        msg = decoder.next_message()
        if msg is not None:
            out.append(msg)
            continue
        if pos >= len(data):
            return out
        chunk = data[pos : pos + decoder.wanted()]
        pos += len(chunk)
        decoder.feed(chunk)
        assert decoder.buffered <= limits.max_message_bytes + 20


def reason(data: bytes, limits: BitswapLimits = LIMITS) -> str:
    with pytest.raises(ProtocolViolation) as info:
        decode_all(data, limits)
    return info.value.reason


def test_a_helia_style_wantlist_decodes_to_its_wants_and_cancels_are_dropped() -> None:
    msg = wantlist((bytes(DOC), 0, False, True), (bytes(RAW), 1, False, False), (b"x", 0, True, 0))
    ((wants,),) = [decode_all(encode_message(msg))]
    assert wants == Wants(
        (Want(bytes(DOC), WantType.BLOCK, True), Want(bytes(RAW), WantType.HAVE, False))
    )


def test_several_messages_on_one_stream_come_out_in_order() -> None:
    first, second = wantlist((bytes(DOC), 0, False, False)), wantlist((bytes(RAW), 0, False, 0))
    got = decode_all(encode_message(first) + encode_message(second) + encode_message(Message()))
    assert [[w.cid for w in m.wants] for m in got] == [[bytes(DOC)], [bytes(RAW)], []]


def test_a_message_at_the_size_limit_is_read_and_one_byte_more_is_refused_before_its_body() -> None:
    msg = wantlist((bytes(DOC), 0, False, False))
    size = len(msg.SerializeToString())
    assert decode_all(encode_message(msg), BitswapLimits(max_message_bytes=size))
    decoder = MessageDecoder(BitswapLimits(max_message_bytes=size - 1))
    with pytest.raises(ProtocolViolation) as info:
        decoder.feed(encode_uvarint(size))  # the prefix alone is refused: no body is buffered
    assert info.value.reason == "oversize-message"
    # A 4 GiB announcement costs the same: a few bytes read, then a refusal.
    assert reason(encode_uvarint(1 << 32)) == "oversize-message"


def test_the_wants_limit_holds_at_its_boundary() -> None:
    entries = [(bytes(compute_cid(bytes([i]), "raw")), 0, False, False) for i in range(8)]
    limits = BitswapLimits(max_wants_per_message=8)
    (got,) = decode_all(encode_message(wantlist(*entries)), limits)
    assert len(got.wants) == 8
    extra = (bytes(RAW), 0, False, False)
    assert reason(encode_message(wantlist(*entries, extra)), limits) == "too-many-wants"
    # Cancels count too: each is an entry the parser had to build.
    cancels = [(cid, 0, True, False) for cid, *_ in entries]
    assert reason(encode_message(wantlist(*cancels, extra)), limits) == "too-many-wants"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff" * 11, "bad-length"),  # a varint longer than a uint64
        (b"\x80\x00", "bad-length"),  # a redundant zero byte
        (b"\x03\x0a\x05\x0a", "bad-protobuf"),  # a field that runs past the body
        (b"\x02\xff\xff", "bad-protobuf"),
        (encode_message(wantlist((b"c" * 129, 0, False, False))), "oversize-cid"),
        (encode_message(wantlist((bytes(RAW), 7, False, False))), "bad-want-type"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(data: bytes, why: str) -> None:
    assert reason(data) == why


def test_deeply_nested_unknown_fields_are_refused_not_a_crash() -> None:
    nested = b""
    for _ in range(200):  # groups of unknown fields nested past protobuf's recursion limit
        nested = b"\x7a" + encode_uvarint(len(nested)) + nested  # field 15, length-delimited
    body = b"\x0b" * 200 + b"\x0c" * 200  # start-group/end-group of field 1, 200 deep
    assert reason(encode_uvarint(len(body)) + body) == "bad-protobuf"
    decode_all(encode_uvarint(len(nested)) + nested)  # unknown bytes fields: skipped


def test_only_cids_of_blocks_we_can_hold_are_looked_up_in_base32() -> None:
    assert str(servable_cid(Want(bytes(RAW), WantType.BLOCK, False))) == str(RAW)
    assert str(servable_cid(Want(bytes(DOC), WantType.BLOCK, False))).startswith("bafyrei")
    v0 = CID.decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
    sha512 = CID("base32", 1, "raw", ("sha2-512", b"\x00" * 64))
    for other in (bytes(v0), bytes(sha512), b"", b"\x01\x55\x12\x20short"):
        assert servable_cid(Want(other, WantType.BLOCK, False)) is None


def _decoded(frames: Sequence[bytes]) -> list[Message]:
    """Each length-prefixed frame back into its message (checking the prefix)."""
    out = []
    for frame in frames:
        prefix = next(i for i, byte in enumerate(frame) if not byte & 0x80) + 1
        assert frame[:prefix] == encode_uvarint(len(frame) - prefix)
        msg = Message()
        msg.ParseFromString(frame[prefix:])
        out.append(msg)
    return out


def test_answers_on_1_2_0_send_blocks_haves_and_dont_haves_as_asked() -> None:
    other = compute_cid(b"not here", "raw")
    quiet = compute_cid(b"not here either", "raw")
    wants = [
        Want(bytes(DOC), WantType.BLOCK, False),
        Want(bytes(RAW), WantType.HAVE, False),
        Want(bytes(other), WantType.BLOCK, True),
        Want(bytes(quiet), WantType.BLOCK, False),  # no DONT_HAVE asked: no answer
        Want(bytes(DOC), WantType.BLOCK, False),  # a repeat is answered once
    ]
    found = {bytes(DOC): b"a listing", bytes(RAW): b"an image"}
    (msg,) = _decoded(answer(wants, found, protocol=PROTOCOL_V120, max_response_bytes=1 << 20))
    assert [(b.prefix, b.data) for b in msg.payload] == [(bytes(DOC)[:4], b"a listing")]
    # What the receiver does with a payload: prefix + hash of data = the CID it wanted.
    assert compute_cid(msg.payload[0].data, "dag-cbor") == DOC
    assert [(p.cid, p.type) for p in msg.blockPresences] == [
        (bytes(RAW), Message.Have),
        (bytes(other), Message.DontHave),
    ]
    assert not msg.blocks


def test_answers_on_1_0_0_and_1_1_0_carry_blocks_only() -> None:
    wants = [Want(bytes(RAW), WantType.BLOCK, True), Want(bytes(DOC), WantType.HAVE, True)]
    found = {bytes(RAW): b"an image"}
    (old,) = _decoded(answer(wants, found, protocol=PROTOCOL_V100, max_response_bytes=1 << 20))
    assert list(old.blocks) == [b"an image"] and not old.payload and not old.blockPresences
    (mid,) = _decoded(answer(wants, found, protocol=PROTOCOL_V110, max_response_bytes=1 << 20))
    assert [b.data for b in mid.payload] == [b"an image"] and not mid.blockPresences
    assert answer(wants[1:], {}, protocol=PROTOCOL_V110, max_response_bytes=1 << 20) == []


def test_answers_are_split_so_no_message_passes_the_response_limit() -> None:
    cids = [compute_cid(bytes([i]) * 1000, "raw") for i in range(10)]
    found = {bytes(c): bytes([i]) * 1000 for i, c in enumerate(cids)}
    wants = [Want(bytes(c), WantType.BLOCK, False) for c in cids]
    frames = answer(wants, found, protocol=PROTOCOL_V120, max_response_bytes=3000)
    assert len(frames) == 5  # two 1,000-byte blocks (plus overhead) per message
    assert all(len(f) <= 3000 for f in frames)
    got = [b.data for msg in _decoded(frames) for b in msg.payload]
    assert got == [found[bytes(c)] for c in cids]


# -- work is bounded by the input ---------------------------------------------------------------

_entry = st.tuples(
    st.one_of(st.just(bytes(RAW)), st.just(bytes(DOC)), st.binary(max_size=140)),
    st.integers(0, 3),
    st.booleans(),
    st.booleans(),
)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Valid messages, damaged ones and noise, back to back."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["valid", "flipped", "noise"]))
        frame = encode_message(wantlist(*draw(st.lists(_entry, max_size=40))))
        if kind == "flipped" and len(frame) > 1:
            pos = draw(st.integers(0, len(frame) - 1))
            frame = frame[:pos] + bytes([frame[pos] ^ draw(st.integers(1, 255))]) + frame[pos + 1 :]
        elif kind == "noise":
            frame = draw(st.binary(max_size=300))
        parts.append(frame)
    return b"".join(parts)


@settings(max_examples=400, deadline=None)
@given(data=streams(), max_message=st.integers(16, 4096), max_wants=st.integers(1, 50))
def test_any_bytes_give_wants_or_a_violation_and_work_grows_with_the_input_only(
    data: bytes, max_message: int, max_wants: int
) -> None:
    limits = BitswapLimits(max_message_bytes=max_message, max_wants_per_message=max_wants)
    got: list[Wants] = []
    result, calls, peak = run_measured(lambda d: decode_all(d, limits, got), data)
    # It checks the buffer never outgrows one message; any failure is a violation.
    assert not isinstance(result, Exception) or isinstance(result, ProtocolViolation), result
    # Function calls (Python and C, independent of the machine's load) and memory at most
    # linear in the input, as for every other decoder of peer bytes (test_decoder_fuzz.py).
    assert calls <= 20 * len(data) + 3000, (len(data), calls)
    assert peak <= 200 * len(data) + 128 * 1024, (len(data), peak)
    wants = [w for m in got for w in m.wants]
    # Each want is an entry of at least two bytes (tag, length) inside a wantlist, and no
    # message yields more than the limit: the lookups a peer buys are paid for in bytes.
    assert len(wants) <= len(data) // 2
    assert all(len(m.wants) <= max_wants for m in got)
    assert all(len(w.cid) <= 128 for w in wants)
    # Answering costs as little: at most one block or presence per distinct want.
    frames = answer(wants, {}, protocol=PROTOCOL_V120, max_response_bytes=1 << 20)
    assert sum(len(f) for f in frames) <= sum(len(w.cid) + 8 for w in wants)


@pytest.mark.parametrize(
    "body",
    [
        # The most wants per byte: 1,024 empty entries (two bytes each) in one wantlist.
        b"\x0a" + encode_uvarint(2048) + b"\x0a\x00" * 1024,
        # A message at the size cap of unknown fields, and one of pushed blocks (ignored).
        (b"\x7a" + encode_uvarint(1000) + b"u" * 1000) * 250,
        b"\x12" + encode_uvarint(250_000) + b"b" * 250_000,
    ],
)
def test_the_worst_messages_at_the_caps_cost_work_and_memory_linear_in_their_size(
    body: bytes,
) -> None:
    data = encode_uvarint(len(body)) + body
    decode_all(data)  # warm up: the bound measures this input only
    result, calls, peak = run_measured(decode_all, data)
    assert not isinstance(result, Exception), result
    assert calls <= 20 * len(data) + 3000, (len(data), calls)
    assert peak <= 200 * len(data) + 128 * 1024, (len(data), peak)
