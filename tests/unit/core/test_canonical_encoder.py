"""The canonical encoder's limits and refusals, each at and just past its boundary.

`encode_canonical` (and `encode_fast`, the same without CIDs) writes only what the strict
decoder accepts: whatever Umbra writes, it and its peers can read back. It has no cap on the
size of its output: it encodes local values, and every caller that sends or stores bytes
checks its own size limit (documents at signing, trade and escrow messages, wire frames).
"""

from enum import IntEnum
from typing import Any

import dag_cbor
import pytest
from multiformats import CID, multihash

from umbra.core import (
    InvalidDocument,
    cbor_head,
    compute_cid,
    decode_canonical,
    encode_canonical,
    encode_fast,
)
from umbra.core._cbor_decode import MAX_DEPTH


def _refused(value: Any) -> str:
    for encode in (encode_canonical, encode_fast):
        with pytest.raises(InvalidDocument) as info:
            encode(value)
        assert info.value.reason == "unencodable"
    return info.value.detail


def _round_trip(value: Any) -> bytes:
    data = encode_canonical(value)
    assert data == bytes(dag_cbor.encode(value))
    assert decode_canonical(data, max_size=1 << 20) == value
    return data


@pytest.mark.parametrize("value", [2**64 - 1, -(2**64), 0, -1, 23, 24, -24, -25])
def test_integers_up_to_64_bits_are_encoded(value: int) -> None:
    _round_trip(value)


@pytest.mark.parametrize("value", [2**64, -(2**64) - 1, 2**100, -(2**100)])
def test_integers_past_64_bits_are_refused(value: int) -> None:
    assert "out of range" in _refused(value)
    assert "out of range" in _refused({"n": [value]})


@pytest.mark.parametrize(
    ("n", "size"),
    [
        *((23, 1), (24, 2), (255, 2), (256, 3), (65535, 3), (65536, 5)),
        *((2**32 - 1, 5), (2**32, 9), (2**64 - 1, 9)),
    ],
)
def test_heads_are_the_shortest_for_their_argument(n: int, size: int) -> None:
    assert len(cbor_head(0, n)) == size
    assert cbor_head(0, n) == bytes(dag_cbor.encode(n))


def test_head_arguments_past_64_bits_or_negative_are_refused() -> None:
    for n in (2**64, -1):
        with pytest.raises(InvalidDocument) as info:
            cbor_head(2, n)
        assert info.value.reason == "unencodable"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (1.5, "float"),
        (0.0, "float"),
        (float("nan"), "float"),
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (bytearray(b"x"), "bytearray"),
        (memoryview(b"x"), "memoryview"),
        (object(), "object"),
        (IntEnum("Color", "RED")(1), "Color"),  # an int subclass is not an int on the wire
        (complex(1, 1), "complex"),
    ],
)
def test_values_outside_umbras_types_are_refused(value: Any, why: str) -> None:
    assert why in _refused(value)
    assert why in _refused([{"deep": value}])


@pytest.mark.parametrize("key", [1, b"k", None, True, (1, 2)])
def test_map_keys_other_than_text_are_refused(key: Any) -> None:
    assert "keys must be text" in _refused({key: 1})


def test_text_that_is_not_valid_unicode_is_refused() -> None:
    assert "not valid Unicode" in _refused("\ud800")  # a lone surrogate
    assert "not valid Unicode" in _refused({"\udfff": 1})


def test_nesting_up_to_the_decoders_limit_is_encoded_and_one_more_is_refused() -> None:
    value: Any = 0
    for _ in range(MAX_DEPTH):
        value = [value]
    _round_trip(value)
    _round_trip({"a": value[0]})
    assert "nesting deeper" in _refused([value])
    assert "nesting deeper" in _refused({"a": value})


def test_cids_other_than_ours_are_refused() -> None:
    ours = compute_cid(b"x", "dag-cbor")
    assert decode_canonical(encode_canonical([ours]), max_size=1 << 20) == [ours]
    for other in (
        CID("base32", 1, "dag-pb", multihash.digest(b"x", "sha2-256")),
        CID("base32", 1, "raw", multihash.digest(b"x", "sha2-512")),
        CID("base58btc", 0, "dag-pb", multihash.digest(b"x", "sha2-256")),
    ):
        with pytest.raises(InvalidDocument, match="unsupported CID") as info:
            encode_canonical({"link": other})
        assert info.value.reason == "unencodable"


def test_encode_fast_refuses_cids() -> None:
    with pytest.raises(InvalidDocument, match="cannot encode CID") as info:
        encode_fast(compute_cid(b"x", "raw"))
    assert info.value.reason == "unencodable"


def test_tuples_encode_as_arrays() -> None:
    assert encode_canonical((1, "a")) == encode_canonical([1, "a"])
