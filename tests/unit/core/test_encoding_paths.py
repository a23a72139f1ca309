"""Umbra's DAG-CBOR encoder and strict decoder, held to the ``dag_cbor`` reference.

`encode_canonical` must write exactly what ``dag_cbor.encode`` writes, and `decode_canonical`
(Umbra's own strict decoder) must accept a subset of what ``dag_cbor`` accepts canonically:
everything Umbra's types can hold (no floats, no CIDs but ours), with the same values.
The fast CIDs are held to ``CID(...)``.
"""

from typing import Any

import dag_cbor
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from umbra.core import (
    InvalidDocument,
    cid_text,
    compute_cid,
    decode_canonical,
    encode_canonical,
    parse_cid,
)
from umbra.core._cbor_decode import MAX_DEPTH
from umbra.core._cid import cid_from_binary, cid_to_binary, normalize_cid

from .hostile_cbor import hostile_cbor

_cids = st.builds(compute_cid, st.binary(max_size=40), st.sampled_from(["raw", "dag-cbor"]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=70),
    st.text(max_size=30),
    _cids,
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


def _reference_decode(data: bytes) -> object:
    try:
        value = dag_cbor.decode(data)
    except Exception:
        return "rejected"
    return ("ok", value) if bytes(dag_cbor.encode(value)) == data else "rejected"


def _decode(data: bytes) -> object:
    try:
        return ("ok", decode_canonical(data, max_size=1 << 20))
    except InvalidDocument:
        return "rejected"


def _outside_umbra_types(value: Any, depth: int = 0) -> bool:
    """Floats, CIDs other than ours and nesting past the limit: canonical DAG-CBOR that
    Umbra refuses on purpose."""
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:
        return True
    if isinstance(value, float):
        return True
    if isinstance(value, CID):
        return cid_from_binary(bytes(value)) is None
    if isinstance(value, list):
        return any(_outside_umbra_types(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_outside_umbra_types(v, depth + 1) for v in value.values())
    return False


@settings(max_examples=300, deadline=None)
@given(_values)
def test_encoding_equals_dag_cbor(value: Any) -> None:
    data = encode_canonical(value)
    assert data == bytes(dag_cbor.encode(value))
    assert decode_canonical(data, max_size=1 << 20) == dag_cbor.decode(data)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=80), _values.map(encode_canonical), hostile_cbor()), st.data())
def test_decoding_accepts_what_dag_cbor_accepts_within_umbras_types(
    data: bytes, draw: st.DataObject
) -> None:
    if data and draw.draw(st.booleans()):  # mutate valid documents too
        i = draw.draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw.draw(st.integers(1, 255))]) + data[i + 1 :]
    ours, reference = _decode(data), _reference_decode(data)
    if ours != "rejected":
        assert ours == reference  # never more than the reference, and the same value
    elif reference != "rejected":
        assert isinstance(reference, tuple) and _outside_umbra_types(reference[1])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xd8\x2a\x45\x00\x01\x02\x03\x04", "bad-cid"),  # tag 42 with a short CID
        (b"\xd8\x2a\x41\x00", "bad-cid"),  # tag 42, only the multibase prefix
        (b"\xd8\x2a\x63abc", "malformed-encoding"),  # tag 42 around text
        (b"\xc2\x41\x01", "malformed-encoding"),  # bignum tag (cbor2 would make it an int)
        (b"\xf9\x3c\x00", "malformed-encoding"),  # half float
        (b"\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00", "malformed-encoding"),  # float64 1.5
        (b"\xa2\x61a\x01\x61a\x02", "non-canonical"),  # duplicate key
        (b"\x9f\x01\xff", "non-canonical"),  # indefinite list
        (b"\x81" * 5000, "malformed-encoding"),  # deep nesting
        (b"\x01\x01", "malformed-encoding"),  # trailing byte
        (b"\x62\xc3\x28", "malformed-encoding"),  # invalid UTF-8
    ],
)
def test_edge_cases_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        decode_canonical(data, max_size=1 << 20)
    assert info.value.reason == reason


def test_cids_outside_our_set_are_refused_though_dag_cbor_takes_them() -> None:
    for other in (
        CID("base32", 1, "dag-pb", multihash.digest(b"x", "sha2-256")),
        CID("base32", 1, "raw", multihash.digest(b"x", "sha2-512")),
    ):
        data = bytes(dag_cbor.encode({"link": other}))
        assert dag_cbor.decode(data) == {"link": other}
        with pytest.raises(InvalidDocument) as info:
            decode_canonical(data, max_size=1 << 20)
        assert info.value.reason == "bad-cid"
        with pytest.raises(InvalidDocument, match="unsupported CID"):
            encode_canonical({"link": other})


@given(st.binary(max_size=100), st.sampled_from(["raw", "dag-cbor"]))
def test_fast_cid_equals_multiformats_cid(data: bytes, codec: str) -> None:
    fast = compute_cid(data, codec)  # type: ignore[arg-type]
    slow = CID("base32", 1, codec, multihash.digest(data, "sha2-256"))
    assert fast == slow and hash(fast) == hash(slow) and str(fast) == str(slow)
    assert (fast.base, fast.version, fast.codec, fast.hashfun, fast.digest) == (
        slow.base,
        slow.version,
        slow.codec,
        slow.hashfun,
        slow.digest,
    )
    assert cid_to_binary(fast) == bytes(slow)
    decoded = CID.decode(bytes(slow))
    again = cid_from_binary(bytes(slow))
    assert again is not None and again == decoded and str(again) == str(decoded)
    assert normalize_cid(decoded) == slow and str(normalize_cid(decoded)) == str(slow)


def test_cid_from_binary_takes_only_our_cids() -> None:
    sha512 = CID("base32", 1, "raw", multihash.digest(b"x", "sha2-512"))
    dag_pb = CID("base32", 1, "dag-pb", multihash.digest(b"x", "sha2-256"))
    v0 = CID("base58btc", 0, "dag-pb", multihash.digest(b"x", "sha2-256"))
    for cid in (sha512, dag_pb, v0):
        assert cid_from_binary(bytes(cid)) is None
    assert cid_from_binary(b"") is None


@given(st.binary(max_size=100), st.sampled_from(["raw", "dag-cbor"]))
def test_fast_cid_text_equals_multiformats_text(data: bytes, codec: str) -> None:
    slow = CID("base32", 1, codec, multihash.digest(data, "sha2-256"))
    text = str(slow)
    assert cid_text(slow) == text
    assert cid_text(CID.decode(bytes(slow))) == text  # base58btc in, base32 out
    parsed = parse_cid(text)
    assert parsed == slow and parsed.base == slow.base and str(parsed) == text
    assert parse_cid(str(slow.encode("base58btc"))) == slow  # other bases: multiformats' path


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567ABZ=!", min_size=1, max_size=70))
def test_cid_text_parsing_agrees_with_multiformats_on_any_text(text: str) -> None:
    try:
        expected = normalize_cid(CID.decode(text))
    except (ValueError, KeyError, TypeError, IndexError, InvalidDocument):
        expected = None
    try:
        got = parse_cid(text)
    except InvalidDocument:
        got = None
    assert got == expected


def test_cid_text_refuses_near_misses() -> None:
    good = str(compute_cid(b"x", "raw"))
    for bad in (good[:-1], good + "a", good[:-2], "b" + good):
        with pytest.raises(InvalidDocument):
            parse_cid(bad)
    assert parse_cid("B" + good[1:].upper()) == parse_cid(good)  # base32upper: multiformats
    other = CID("base32", 1, "raw", multihash.digest(b"x", "sha2-512"))
    with pytest.raises(InvalidDocument):
        parse_cid(str(other))
    with pytest.raises(InvalidDocument):
        cid_text(other)  # not one of ours: refused, as `normalize_cid` does
