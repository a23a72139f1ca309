"""Every refusal of the strict CBOR decoder, at and just past its boundary, and the bombs of
issue #14, each refused with a clear reason, little work and little memory.

`decode_strict` is reached through `decode_canonical` (CIDs allowed) and `decode_fast` (no
tags at all); the messaging wire parser uses `decode_fast`.
"""

from typing import Any

import cbor2
import pytest

from umbra.core import InvalidDocument, compute_cid, decode_canonical, decode_fast
from umbra.core._cbor_decode import MAX_DEPTH
from umbra.net.messaging._wire import parse_message

from .hostile_cbor import (
    deep_nesting,
    head,
    huge_length,
    run_measured,
    sharing_bomb,
    stringref_bomb,
)

_BIG = 1 << 20


def _reason(data: bytes, *, cids: bool = True) -> str:
    decode = decode_canonical if cids else decode_fast
    with pytest.raises(InvalidDocument) as info:
        decode(data, max_size=_BIG)
    return info.value.reason


def _ok(data: bytes) -> Any:
    value = decode_canonical(data, max_size=_BIG)
    assert decode_fast(data, max_size=_BIG) == value  # no CID in these: both agree
    return value


# -- integers and heads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minimal", "too_long"),
    [
        ("17", None),  # 23 fits in the initial byte
        ("1818", "1817"),  # 24 needs one byte; 23 in one byte is non-canonical
        ("190100", "1900ff"),
        ("1a00010000", "1a0000ffff"),
        ("1b0000000100000000", "1b00000000ffffffff"),
        ("1bffffffffffffffff", None),  # 2**64 - 1, the largest
        ("3bffffffffffffffff", None),  # -2**64, the smallest
    ],
)
def test_integer_heads_must_be_minimal(minimal: str, too_long: str | None) -> None:
    data = bytes.fromhex(minimal)
    assert _ok(data) == cbor2.loads(data)
    if too_long is not None:
        assert _reason(bytes.fromhex(too_long)) == "non-canonical"


@pytest.mark.parametrize("info", [28, 29, 30])
@pytest.mark.parametrize("major", range(7))
def test_reserved_additional_information_is_malformed(major: int, info: int) -> None:
    assert _reason(bytes([major << 5 | info])) == "malformed-encoding"


@pytest.mark.parametrize("data", ["1f", "3f", "df00"])
def test_indefinite_integers_and_tags_are_malformed(data: str) -> None:
    assert _reason(bytes.fromhex(data)) == "malformed-encoding"


@pytest.mark.parametrize("data", ["18", "1900", "1a000000", "1b00000000000000", "5a0000"])
def test_a_head_cut_short_is_malformed(data: str) -> None:
    assert _reason(bytes.fromhex(data)) == "malformed-encoding"


# -- strings -----------------------------------------------------------------------------------


def test_a_string_may_fill_the_input_but_not_exceed_it() -> None:
    assert _ok(b"\x43abc") == b"abc"
    assert _ok(b"\x63abc") == "abc"
    assert _reason(b"\x44abc") == "malformed-encoding"
    assert _reason(b"\x64abc") == "malformed-encoding"


@pytest.mark.parametrize("raw", [b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xff"])
def test_text_must_be_valid_utf8(raw: bytes) -> None:  # truncated, surrogate, overlong, 0xff
    assert _reason(head(3, len(raw)) + raw) == "malformed-encoding"
    assert _reason(b"\xa1" + head(3, len(raw)) + raw + b"\x00") == "malformed-encoding"  # key


@pytest.mark.parametrize("major", [2, 3])
def test_indefinite_strings_are_not_canonical(major: int) -> None:
    chunk = head(major, 1) + b"a"
    assert _reason(bytes([major << 5 | 31]) + chunk + chunk + b"\xff") == "non-canonical"


# -- arrays, maps, nesting ---------------------------------------------------------------------


def test_an_array_may_declare_as_many_items_as_bytes_remain_but_no_more() -> None:
    assert _ok(b"\x83\x01\x02\x03") == [1, 2, 3]
    assert _reason(b"\x84\x01\x02\x03") == "malformed-encoding"


def test_a_map_needs_two_bytes_per_declared_entry() -> None:
    assert _ok(b"\xa2\x60\x00\x61a\x01") == {"": 0, "a": 1}
    assert _reason(b"\xa3\x60\x00\x61a\x01") == "malformed-encoding"


@pytest.mark.parametrize("opener", [b"\x81", b"\xa1\x61a"])
def test_nesting_up_to_the_limit_is_accepted_and_one_more_is_refused(opener: bytes) -> None:
    _ok(deep_nesting(MAX_DEPTH, opener))
    with pytest.raises(InvalidDocument, match="nesting deeper") as info:
        decode_canonical(deep_nesting(MAX_DEPTH + 1, opener), max_size=_BIG)
    assert info.value.reason == "malformed-encoding"


@pytest.mark.parametrize("major", [4, 5])
def test_indefinite_containers_are_not_canonical(major: int) -> None:
    body = b"" if major == 4 else b"\x61a"
    assert _reason(bytes([major << 5 | 31]) + body + b"\x01\xff") == "non-canonical"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xa2\x61b\x00\x61a\x00", "out of canonical order"),  # bytewise
        (b"\xa2\x62aa\x00\x61b\x00", "out of canonical order"),  # length first
        (b"\xa2\x61a\x00\x61a\x00", "duplicate"),
        (b"\xa2\x60\x00\x60\x00", "duplicate"),  # the empty key twice
    ],
)
def test_map_keys_must_be_in_canonical_order_without_duplicates(data: bytes, why: str) -> None:
    with pytest.raises(InvalidDocument, match=why) as info:
        decode_canonical(data, max_size=_BIG)
    assert info.value.reason == "non-canonical"


def test_canonical_key_order_is_length_first_then_bytewise() -> None:
    keys = ["", "b", "z", "aa", "ab", "é", "bbb"]  # "é" is 2 UTF-8 bytes
    body = b"".join(head(3, len(k.encode())) + k.encode() + b"\x00" for k in keys)
    assert list(_ok(head(5, len(keys)) + body)) == keys


@pytest.mark.parametrize("key", [b"\x01", b"\x41a", b"\x80", b"\xf6", b"\xd8\x2a\x41\x00"])
def test_map_keys_must_be_text(key: bytes) -> None:
    with pytest.raises(InvalidDocument, match="keys must be text") as info:
        decode_canonical(b"\xa1" + key + b"\x00", max_size=_BIG)
    assert info.value.reason == "malformed-encoding"


# -- simple values and floats ------------------------------------------------------------------


def test_false_true_null_are_the_only_simple_values() -> None:
    assert _ok(b"\x83\xf4\xf5\xf6") == [False, True, None]


@pytest.mark.parametrize(
    "data",
    [
        *(b"\xf7", b"\xf8\x20", b"\xe0", b"\xf3", b"\xfc", b"\xfd", b"\xfe", b"\xff"),
        *(b"\xf9\x3c\x00", b"\xfa\x3f\x80\x00\x00", b"\xfb" + bytes(8)),  # floats
    ],
)
def test_undefined_other_simple_values_floats_and_break_are_refused(data: bytes) -> None:
    assert _reason(data) == "malformed-encoding"


# -- tags --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", [0, 1, 2, 3, 21, 24, 25, 28, 29, 32, 41, 43, 256, 258, 55799])
def test_every_tag_but_42_is_refused(tag: int) -> None:
    with pytest.raises(InvalidDocument, match=f"tag {tag} is not accepted") as info:
        decode_canonical(head(6, tag) + b"\x41\x00", max_size=_BIG)
    assert info.value.reason == "malformed-encoding"


def _cid_item(raw: bytes) -> bytes:
    return b"\xd8\x2a" + head(2, len(raw)) + raw


def test_tag_42_holds_one_of_our_cids_and_only_where_cids_are_allowed() -> None:
    cid = compute_cid(b"x", "raw")
    data = _cid_item(b"\0" + bytes(cid))
    assert decode_canonical(data, max_size=_BIG) == cid
    assert _reason(data, cids=False) == "malformed-encoding"
    assert _reason(b"\xd9\x00\x2a" + data[2:]) == "non-canonical"  # the tag's head too long


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x63abc", "malformed-encoding"),  # not a byte string
        (b"\x80", "malformed-encoding"),
        (b"\xd8\x2a\x41\x00", "malformed-encoding"),  # a tag inside the tag
        (b"\x41\x00", "bad-cid"),  # only the multibase prefix
        (b"\x58\x25\x01" + bytes(36), "malformed-encoding"),  # no 00 multibase prefix
        (b"\x58\x25\x00\x01\x70\x13\x40" + bytes(32), "bad-cid"),  # sha2-512
        (b"\x58\x24\x00\x01\x55\x12\x20" + bytes(31), "bad-cid"),  # digest one byte short
    ],
)
def test_tag_42_refuses_anything_but_our_cids(content: bytes, reason: str) -> None:
    assert _reason(b"\xd8\x2a" + content) == reason


# -- the whole input ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x80\x80", b"\x41a\x00"])
def test_exactly_one_item_fills_the_input(data: bytes) -> None:
    assert _reason(data) == "malformed-encoding"


@pytest.mark.parametrize("decode", [decode_canonical, decode_fast])
def test_size_limit_at_and_past_the_boundary(decode: Any) -> None:
    data = b"\x43abc"
    assert decode(data, max_size=len(data)) == b"abc"
    with pytest.raises(InvalidDocument) as info:
        decode(data, max_size=len(data) - 1)
    assert info.value.reason == "oversize"


def test_any_bytes_like_input_is_accepted() -> None:
    assert decode_canonical(memoryview(b"\x82\x01\x41a"), max_size=_BIG) == [1, b"a"]
    assert decode_fast(bytearray(b"\x82\x01\x41a"), max_size=_BIG) == [1, b"a"]  # type: ignore[arg-type]


# -- the bombs of issue #14 --------------------------------------------------------------------

_DECODERS = {
    "decode_canonical": lambda data: decode_canonical(data, max_size=_BIG),
    "decode_fast": lambda data: decode_fast(data, max_size=_BIG),
    "parse_message": parse_message,
}


def _refused_cheaply(data: bytes, why: str) -> None:
    for name, decode in _DECODERS.items():
        result, calls, peak = run_measured(decode, data)
        assert isinstance(result, InvalidDocument), (name, result)
        assert why in str(result), (name, result)
        # Work and memory of a refusal: a few dozen calls, far less than a MiB.
        assert calls < 200 + len(data), (name, calls)
        assert peak < 64 * 1024 + 2 * len(data), (name, peak)


def test_the_value_sharing_bomb_is_refused_at_its_first_tag() -> None:
    bomb = sharing_bomb(25)
    assert len(bomb) < 240
    # What made it a bomb: cbor2 shares one list between the two references of each level.
    levels = cbor2.loads(sharing_bomb(12))
    assert levels[-1][0] is levels[-1][1] and levels[-2][0] is levels[-2][1]
    _refused_cheaply(bomb, "tag 28 is not accepted")


def test_the_stringref_bomb_is_refused() -> None:
    bomb = stringref_bomb(4000, 15_000)  # 49 kB that stand for 60 MB of text
    decoded = cbor2.loads(stringref_bomb(100, 3))
    assert decoded[1] is decoded[2]  # the references are the string itself
    _refused_cheaply(bomb, "tag 256 is not accepted")


@pytest.mark.parametrize("major", [2, 3, 4, 5])
def test_a_declared_length_of_2_63_is_refused_before_any_allocation(major: int) -> None:
    _refused_cheaply(huge_length(major), "declares")


def test_a_map_key_of_declared_length_2_63_is_refused() -> None:
    _refused_cheaply(b"\xa1" + huge_length(3), "declares")


@pytest.mark.parametrize("opener", [b"\x81", b"\xa1\x61a", b"\xd8\x2a", b"\xd8\x1c", b"\x9f"])
def test_100k_deep_nesting_is_refused_at_the_limit(opener: bytes) -> None:
    data = deep_nesting(100_000, opener)
    for decode in _DECODERS.values():
        result, calls, peak = run_measured(decode, data)
        assert isinstance(result, InvalidDocument)
        assert calls < 50 * MAX_DEPTH and peak < 64 * 1024 + 2 * len(data)


@pytest.mark.parametrize(
    "item",
    [b"\x80", b"\xa0", b"\xa1\x60\xa0", b"\x19\x01\x01", b"\x42ab", b"\x62ab", b"\x81\x80"],
)
def test_the_densest_accepted_inputs_cost_memory_linear_in_their_size(item: bytes) -> None:
    """Empty containers are the most memory per input byte (a Python object for one byte)."""
    count = 20_000
    data = head(4, count) + item * count
    result, calls, peak = run_measured(_DECODERS["decode_fast"], data)
    assert isinstance(result, list) and len(result) == count
    assert peak <= 120 * len(data) and calls <= 6 * len(data)
