"""Each refusal of the strict decoder says what it refused and where (the byte offset), so a
person reading the one-line error can tell a float from a 'break' or a bad key. Written for the
mutants of `bench/mutation.py` that turned one refusal into the next one down (same reason,
another message), shifted an offset, or moved a boundary by one."""

import pytest

from umbra.core import InvalidDocument, decode_canonical, decode_fast

CASES = [
    # (input, reason, text the error must contain)
    (b"", "malformed-encoding", "the input is empty (at byte 0)"),
    (b"\x1f", "malformed-encoding", "cannot have an indefinite length (at byte 0)"),
    (b"\x82\x00\x3f", "malformed-encoding", "cannot have an indefinite length (at byte 2)"),
    (b"\x82\x00\x5f", "non-canonical", "indefinite-length items are not canonical (at byte 2)"),
    (b"\x82\x00\x9f", "non-canonical", "indefinite-length items are not canonical (at byte 2)"),
    (b"\x82\x00\xbf", "non-canonical", "indefinite-length items are not canonical (at byte 2)"),
    (b"\x82\x00\x1c", "malformed-encoding", "reserved additional information 28 (at byte 2)"),
    (b"\x82\x00\x1e", "malformed-encoding", "reserved additional information 30 (at byte 2)"),
    (b"\x82\x00\x1b" + b"\x01" * 7, "malformed-encoding", "ends inside an item's head (at byte 3)"),
    (b"\x82\x00\x18\x17", "non-canonical", "longer than needed (at byte 2)"),
    (b"\xf7", "malformed-encoding", "'undefined' is not accepted (at byte 0)"),
    (b"\xf8\x20", "malformed-encoding", "simple value 24 is not accepted (at byte 0)"),
    (b"\xf9\x00\x00", "malformed-encoding", "floating-point numbers are not accepted"),
    (b"\xfa" + b"\x00" * 4, "malformed-encoding", "floating-point numbers are not accepted"),
    (b"\xfb" + b"\x00" * 8, "malformed-encoding", "floating-point numbers are not accepted"),
    (b"\xfc", "malformed-encoding", "simple value 28 is not accepted"),
    (b"\xfd", "malformed-encoding", "simple value 29 is not accepted"),
    (b"\xfe", "malformed-encoding", "simple value 30 is not accepted"),
    (b"\xe1", "malformed-encoding", "simple value 1 is not accepted"),
    (b"\xff", "malformed-encoding", "a 'break' outside an indefinite-length item (at byte 0)"),
    (b"\xe0", "malformed-encoding", "simple value 0 is not accepted"),
    (b"\x81\x61\xff", "malformed-encoding", "a text string is not valid UTF-8 (at byte 1)"),
    (b"\xa1\x61\xff\x00", "malformed-encoding", "a map key is not valid UTF-8 (at byte 1)"),
    # A map must have two bytes per declared entry left: 2 entries in 2 bytes is refused at once.
    (b"\xa2\x60\x00", "malformed-encoding", "a map declares 2 entries, only 2 bytes remain"),
    # The first entry's value takes the bytes the second key needed.
    (b"\xa2\x60\x82\x00\x00", "malformed-encoding", "where a map key should start (at byte 5)"),
    # A key may fill the input exactly; its value then is missing.
    (b"\xa1\x61\x61", "malformed-encoding", "the input ends where an item should start"),
    (b"\xa1\x62\x61", "malformed-encoding", "a map key declares 2 bytes, only 1 remain"),
    (b"\xd8\x2a", "malformed-encoding", "tag 42 (a CID) must hold a byte string"),
    (b"\xd8\x2a\x00", "malformed-encoding", "tag 42 (a CID) must hold a byte string"),
    (b"\xd8\x2a\x41\x01", "malformed-encoding", "must start with the identity multibase byte 00"),
]


@pytest.mark.parametrize(("data", "reason", "text"), CASES, ids=[c[0].hex() for c in CASES])
def test_each_refusal_names_what_and_where(data: bytes, reason: str, text: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        decode_canonical(data, max_size=1024)
    assert info.value.reason == reason
    assert text in info.value.detail, info.value.detail


@pytest.mark.parametrize("value", [123, "text", None, [b"\x00"]])
def test_only_bytes_are_decoded(value: object) -> None:
    for decode in (decode_canonical, decode_fast):
        with pytest.raises(InvalidDocument) as info:
            decode(value, max_size=1024)  # type: ignore[arg-type]
        assert info.value.reason == "malformed-encoding"
        assert f"expected bytes, not {type(value).__name__}" in info.value.detail


def test_nesting_sixteen_deep_is_accepted_and_seventeen_is_refused() -> None:
    # Literal numbers, not MAX_DEPTH: the documented limit itself is pinned.
    sixteen = b"\x81" * 15 + b"\x80"
    value = decode_fast(sixteen, max_size=64)
    for _ in range(15):
        value = value[0]
    assert value == []
    with pytest.raises(InvalidDocument) as info:
        decode_fast(b"\x81" * 16 + b"\x80", max_size=64)
    assert "nesting deeper than 16 levels (at byte 16)" in info.value.detail
