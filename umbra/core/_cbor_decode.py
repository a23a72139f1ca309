"""The one decoder of CBOR from outside: strict DAG-CBOR, only what Umbra writes.

Every byte string from a peer or a file that holds CBOR is decoded here (through
`decode_canonical`, `decode_fast` and the messaging wire parser). It accepts exactly:

- unsigned and negative integers up to 64 bits (major types 0 and 1);
- byte strings, and text strings of valid UTF-8 (2, 3);
- arrays and maps of definite length (4, 5); map keys are text, in canonical order
  (shorter UTF-8 first, then bytewise), with no duplicates;
- ``false``, ``true`` and ``null``;
- tag 42 around a byte string ``00 || CIDv1(sha2-256, raw|dag-cbor)``, only where the caller
  allows CIDs.

Everything else is refused with `InvalidDocument`: every other tag (value sharing 28/29,
stringref 25/256, sets 258, bignums, ...), floats (no Umbra document has one), ``undefined``
and the other simple values, indefinite lengths, heads longer than needed, lengths or item
counts larger than the bytes left, nesting deeper than `MAX_DEPTH`, trailing bytes.

Why our own decoder: cbor2 (and dag_cbor's pure-Python decoder) resolve value-sharing and
stringref tags into a graph while decoding, so a few hundred bytes can stand for an
exponentially large tree; Umbra's old "re-encode and compare" check then walked that tree
(236 bytes froze a node for 27 s and took 5.8 GiB). Here nothing is ever shared, so the work
and memory are bounded by the input:

- every item consumes at least one input byte, and an array or map is refused before any
  allocation if it declares more items than bytes remain (2 per map entry);
- a string's declared length is checked against the bytes left before it is sliced;
- nesting of arrays and maps is capped at `MAX_DEPTH`, so recursion stays shallow (a tag
  holds only a byte string, so it cannot nest);
- canonical form (shortest heads, definite lengths, key order) is checked while decoding, so
  an accepted input is byte for byte the encoding of the value it gives: no re-encoding.

Reasons in the errors: ``malformed-encoding`` for bytes that are not CBOR or hold something
outside the set above, ``non-canonical`` for a value in the set written in a non-canonical
way, ``bad-cid`` for a tag 42 whose CID is not one Umbra uses.

Speed: pure Python on purpose (small enough to read whole, no C parser of hostile bytes).
A 392-byte messaging wire message decodes in ~6.4 µs of CPU (cbor2's C decoder: ~1.1 µs), so
`parse_message` went from ~5.6 to ~11 µs; the session layer still does ~6,000 messages/s
against a target of 3,000 (bench/messaging.py, see docs/operations.md), so a pre-scan in
front of a C decoder was not worth its second parser.
"""

from typing import Any

from ._cid import cid_from_binary
from ._errors import InvalidDocument

# Deepest nesting of arrays and maps. Umbra's records nest at most 6 levels (every unit test
# passes with a limit of 6); 16 leaves room for new formats and keeps recursion shallow.
MAX_DEPTH = 16

_CID_TAG = 42
_SIMPLE = {0xF4: False, 0xF5: True, 0xF6: None}


def _malformed(pos: int, what: str) -> InvalidDocument:
    return InvalidDocument("malformed-encoding", f"{what} (at byte {pos})")


def _non_canonical(pos: int, what: str) -> InvalidDocument:
    return InvalidDocument("non-canonical", f"{what} (at byte {pos})")


def decode_strict(data: bytes, *, max_size: int, allow_cids: bool) -> Any:
    """Decode one CBOR item that must fill ``data`` exactly (see the module docstring).

    Args:
        data: the bytes from outside (bytes, bytearray or memoryview).
        max_size: refuse larger inputs before reading them.
        allow_cids: accept tag 42 (CIDs); without it every tag is refused.

    Raises:
        InvalidDocument: reasons ``oversize``, ``malformed-encoding``, ``non-canonical`` or
            ``bad-cid``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):  # e.g. a field of a damaged record
        raise InvalidDocument("malformed-encoding", f"expected bytes, not {type(data).__name__}")
    if len(data) > max_size:
        raise InvalidDocument("oversize", f"{len(data)} bytes is more than the limit of {max_size}")
    data = bytes(data)
    if not data:
        raise _malformed(0, "no CBOR item: the input is empty")
    value, pos = _item(data, 0, 0, allow_cids)
    if pos != len(data):
        raise _malformed(pos, f"{len(data) - pos} trailing bytes after the CBOR item")
    return value


def _long_argument(data: bytes, pos: int, info: int) -> tuple[int, int]:
    """The argument of a head whose additional info is 24-31 (``pos`` is just after it)."""
    if info == 31:
        if 2 <= data[pos - 1] >> 5 <= 5:  # strings, arrays, maps
            raise _non_canonical(pos - 1, "indefinite-length items are not canonical")
        raise _malformed(pos - 1, "an integer or tag cannot have an indefinite length")
    if info > 27:
        raise _malformed(pos - 1, f"reserved additional information {info}")
    size = 1 << (info - 24)  # 1, 2, 4 or 8 bytes
    if pos + size > len(data):
        raise _malformed(pos, "the input ends inside an item's head")
    n = int.from_bytes(data[pos : pos + size], "big")
    if n < (24 if size == 1 else 1 << (4 * size)):
        raise _non_canonical(pos - 1, "an item's head is longer than needed")
    return n, pos + size


def _simple(data: bytes, pos: int) -> Any:
    """Major type 7 at ``pos``: only false, true and null are accepted."""
    ib = data[pos]
    if ib in _SIMPLE:
        return _SIMPLE[ib]
    if ib == 0xF7:
        raise _malformed(pos, "'undefined' is not accepted")
    if 0xF9 <= ib <= 0xFB:
        raise _malformed(pos, "floating-point numbers are not accepted")
    if ib == 0xFF:
        raise _malformed(pos, "a 'break' outside an indefinite-length item")
    raise _malformed(pos, f"simple value {ib & 0x1F} is not accepted")


def _item(data: bytes, pos: int, depth: int, allow_cids: bool) -> tuple[Any, int]:
    """Decode the item at ``pos``; returns it and the position after it.

    One function for every type (rather than one per type) because a Python call costs as
    much as decoding a small item; the hot cases (small ints, short strings) come first.
    """
    end = len(data)
    if pos >= end:
        raise _malformed(pos, "the input ends where an item should start")
    ib = data[pos]
    major = ib >> 5
    if major == 7:
        return _simple(data, pos), pos + 1
    start = pos
    n = ib & 0x1F
    pos += 1
    if n >= 24:
        n, pos = _long_argument(data, pos, n)
    if major == 0:
        return n, pos
    if major == 2 or major == 3:
        if n > end - pos:
            raise _malformed(start, f"a string declares {n} bytes, only {end - pos} remain")
        raw = data[pos : pos + n]
        if major == 2:
            return raw, pos + n
        try:
            return raw.decode("utf-8"), pos + n
        except UnicodeDecodeError:
            raise _malformed(start, "a text string is not valid UTF-8") from None
    if major == 1:
        return -1 - n, pos
    if major == 6:  # a tag: only ever around a byte string, so it adds no nesting
        return _tag(data, start, pos, n, allow_cids)
    if depth >= MAX_DEPTH:
        raise _malformed(start, f"nesting deeper than {MAX_DEPTH} levels")
    depth += 1
    if major == 4:
        if n > end - pos:
            raise _malformed(start, f"an array declares {n} items, only {end - pos} bytes remain")
        items: list[Any] = []
        append = items.append
        for _ in range(n):
            value, pos = _item(data, pos, depth, allow_cids)
            append(value)
        return items, pos
    return _map(data, start, pos, n, depth, allow_cids)  # major 5


def _map(
    data: bytes, start: int, pos: int, n: int, depth: int, allow_cids: bool
) -> tuple[dict[str, Any], int]:
    end = len(data)
    if n > (end - pos) // 2:
        raise _malformed(start, f"a map declares {n} entries, only {end - pos} bytes remain")
    out: dict[str, Any] = {}
    previous = b""
    for i in range(n):
        key_at = pos
        if pos >= end:
            raise _malformed(pos, "the input ends where a map key should start")
        kb = data[pos]
        if kb >> 5 != 3:
            raise _malformed(pos, "map keys must be text strings")
        length = kb & 0x1F
        pos += 1
        if length >= 24:
            length, pos = _long_argument(data, pos, length)
        if length > end - pos:
            raise _malformed(key_at, f"a map key declares {length} bytes, only {end - pos} remain")
        raw = data[pos : pos + length]
        pos += length
        # Canonical order: shorter keys first, then bytewise; equal means a duplicate.
        if i and (length < len(previous) or (length == len(previous) and raw <= previous)):
            what = "a duplicate map key" if raw == previous else "map keys out of canonical order"
            raise _non_canonical(key_at, what)
        previous = raw
        try:
            key = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(key_at, "a map key is not valid UTF-8") from None
        out[key], pos = _item(data, pos, depth, allow_cids)
    return out, pos


def _tag(data: bytes, start: int, pos: int, tag: int, allow_cids: bool) -> tuple[Any, int]:
    if tag != _CID_TAG or not allow_cids:
        raise _malformed(start, f"CBOR tag {tag} is not accepted")
    if pos >= len(data) or data[pos] >> 5 != 2:
        raise _malformed(start, "tag 42 (a CID) must hold a byte string")
    raw, pos = _item(data, pos, 0, allow_cids)
    if raw[:1] != b"\0":
        raise _malformed(start, "a tag 42 CID must start with the identity multibase byte 00")
    cid = cid_from_binary(raw[1:])
    if cid is None:
        raise InvalidDocument(
            "bad-cid", f"unsupported CID (at byte {start}): need CIDv1, sha2-256, raw|dag-cbor"
        )
    return cid, pos
