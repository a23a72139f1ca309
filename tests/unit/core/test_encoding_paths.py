"""The fast DAG-CBOR and CID paths must give exactly what the reference libraries give.

`encode_canonical`/`decode_canonical` take a fast path (cbor2 + a small encoder, CIDs built
without multiformats' runtime type checks) and fall back to ``dag_cbor`` for anything else;
these tests hold them to ``dag_cbor.encode``/``dag_cbor.decode`` and to ``CID(...)``.
"""

from typing import Any

import dag_cbor
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from umbra.core import InvalidDocument, compute_cid, decode_canonical, encode_canonical
from umbra.core._cid import cid_from_binary, cid_to_binary, normalize_cid

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


@settings(max_examples=300, deadline=None)
@given(_values)
def test_encoding_equals_dag_cbor(value: Any) -> None:
    data = encode_canonical(value)
    assert data == bytes(dag_cbor.encode(value))
    assert decode_canonical(data, max_size=1 << 20) == dag_cbor.decode(data)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=80), _values.map(encode_canonical)), st.data())
def test_decoding_accepts_exactly_what_dag_cbor_accepts(data: bytes, draw: st.DataObject) -> None:
    if data and draw.draw(st.booleans()):  # mutate valid documents too
        i = draw.draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw.draw(st.integers(1, 255))]) + data[i + 1 :]
    assert _decode(data) == _reference_decode(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\xd8\x2a\x45\x00\x01\x02\x03\x04",  # tag 42 with a short, invalid CID
        b"\xd8\x2a\x41\x00",  # tag 42, only the multibase prefix
        b"\xd8\x2a\x63abc",  # tag 42 around text
        b"\xc2\x41\x01",  # bignum tag (cbor2 would turn it into an int)
        b"\xf9\x3c\x00",  # half float
        b"\xa2\x61a\x01\x61a\x02",  # duplicate key
        b"\x9f\x01\xff",  # indefinite list
        b"\x81" * 5000,  # deep nesting
        b"\x01\x01",  # trailing byte
        b"\x62\xc3\x28",  # invalid UTF-8
    ],
)
def test_edge_cases_are_judged_by_the_reference(data: bytes) -> None:
    assert _decode(data) == _reference_decode(data)


def test_cids_outside_our_set_still_decode_like_the_reference() -> None:
    digest = multihash.digest(b"x", "sha2-512")
    other = CID("base32", 1, "dag-pb", digest)
    data = bytes(dag_cbor.encode({"link": other}))
    assert decode_canonical(data, max_size=1 << 20) == dag_cbor.decode(data)


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
