"""`encode_fast`/`decode_fast` (no CIDs) must agree with `encode_canonical`/`decode_canonical`."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import (
    InvalidDocument,
    decode_canonical,
    decode_fast,
    encode_canonical,
    encode_fast,
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=70),
    st.text(max_size=30),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_same_bytes_as_dag_cbor(value: Any) -> None:
    data = encode_canonical(value)
    assert encode_fast(value) == data
    assert decode_fast(data, max_size=1 << 20) == decode_canonical(data, max_size=1 << 20)


def _outcome(fn: Any, data: bytes) -> object:
    try:
        return ("ok", fn(data, max_size=1 << 20))
    except InvalidDocument:
        return "rejected"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=64), _values.map(encode_canonical)), st.data())
def test_accepts_what_decode_canonical_accepts_but_cids(data: bytes, draw: st.DataObject) -> None:
    if data and draw.draw(st.booleans()):  # mutate valid documents too
        i = draw.draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw.draw(st.integers(1, 255))]) + data[i + 1 :]
    fast = _outcome(decode_fast, data)
    slow = _outcome(decode_canonical, data)
    # decode_canonical also accepts CIDs (tag 42), which the fast subset refuses on purpose.
    if fast == "rejected" and slow != "rejected":
        assert isinstance(slow, tuple) and _has_cid(slow[1])
    else:
        assert fast == slow


def _has_cid(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_cid(v) for v in value)
    if isinstance(value, dict):
        return any(_has_cid(v) for v in value.values())
    return type(value).__name__ == "CID"


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("a2616101616102"),  # duplicate key
        bytes.fromhex("c249010000000000000000"),  # bignum tag
        bytes.fromhex("1801"),  # non-minimal integer
        bytes.fromhex("5f41614162ff"),  # indefinite-length bytes
        bytes.fromhex("f7"),  # undefined
        bytes.fromhex("a1016161"),  # integer map key
        b"\x81" * 100_000,  # deep nesting
    ],
)
def test_rejects_non_canonical(data: bytes) -> None:
    with pytest.raises(InvalidDocument):
        decode_fast(data, max_size=1 << 20)
