"""The canonical DAG-CBOR encoder, and `decode_fast` for records without CIDs.

One encoder for every document, wire message and state record Umbra writes (`encode_item`;
`encode_canonical` adds CIDs as tag 42): maps with text keys (sorted length-first, then
bytewise), lists, bytes, text, integers of at most 64 bits, booleans and null, nested at most
`MAX_DEPTH` deep: exactly what `decode_strict` accepts, so whatever Umbra writes it can read
back. Anything else (floats, sets, tuples as keys, integers out of range, other objects) is
refused as ``unencodable`` rather than written in a form a peer would refuse.

`decode_fast` is `decode_canonical` without CIDs, for the messaging records and payloads
that never hold one. Both decode with `decode_strict` (see `_cbor_decode`).
"""

from collections.abc import Callable
from typing import Any

from ._cbor_decode import MAX_DEPTH, decode_strict
from ._errors import InvalidDocument

_MAX_UINT = 2**64 - 1


def cbor_head(major: int, n: int) -> bytes:
    """The canonical (shortest) CBOR head of major type ``major`` (0-7) with argument ``n``.

    Raises:
        InvalidDocument: ``n`` is negative or needs more than 64 bits (``unencodable``).
    """
    if n < 0:
        raise InvalidDocument("unencodable", "a CBOR head's argument cannot be negative")
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + n.to_bytes(4, "big")
    if n <= _MAX_UINT:
        return bytes([major << 5 | 27]) + n.to_bytes(8, "big")
    raise InvalidDocument("unencodable", "integer out of range (CBOR has at most 64 bits)")


# Encodes one value outside the basic subset (e.g. a CID) and returns True, or returns False.
Extension = Callable[[Any, list[bytes]], bool]


def _no_extension(value: Any, out: list[bytes]) -> bool:
    return False


def encode_item(
    value: Any, out: list[bytes], extension: Extension = _no_extension, depth: int = 0
) -> None:
    """Append the canonical encoding of ``value`` to ``out``; ``extension`` handles other types.

    Raises:
        InvalidDocument: (``unencodable``) the value or a part of it is outside the subset and
            the extension, or nests deeper than the decoder accepts.
    """
    if value is None:
        out.append(b"\xf6")
    elif value is True:
        out.append(b"\xf5")
    elif value is False:
        out.append(b"\xf4")
    elif type(value) is int:
        out.append(cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value))
    elif type(value) is bytes:
        out.append(cbor_head(2, len(value)))
        out.append(value)
    elif type(value) is str:
        raw = value.encode("utf-8")  # raises on lone surrogates, which UTF-8 cannot hold
        out.append(cbor_head(3, len(raw)))
        out.append(raw)
    elif type(value) is list or type(value) is tuple or type(value) is dict:
        if depth >= MAX_DEPTH:
            raise InvalidDocument("unencodable", f"nesting deeper than {MAX_DEPTH} levels")
        if type(value) is dict:
            _encode_map(value, out, extension, depth + 1)
        else:
            out.append(cbor_head(4, len(value)))
            for item in value:
                encode_item(item, out, extension, depth + 1)
    elif not extension(value, out):
        raise InvalidDocument("unencodable", f"cannot encode {type(value).__name__}")


def _encode_map(value: dict[Any, Any], out: list[bytes], extension: Extension, depth: int) -> None:
    keys = []
    for key in value:
        if type(key) is not str:
            raise InvalidDocument("unencodable", "map keys must be text")
        keys.append((len(raw := key.encode("utf-8")), raw, key))
    keys.sort()
    out.append(cbor_head(5, len(keys)))
    for length, raw, key in keys:
        out.append(cbor_head(3, length))
        out.append(raw)
        encode_item(value[key], out, extension, depth)


def encode_fast(value: Any) -> bytes:
    """Canonical DAG-CBOR of ``value`` (no CIDs); equals `encode_canonical` of it.

    Raises:
        InvalidDocument: (``unencodable``) see `encode_item`.
    """
    out: list[bytes] = []
    try:
        encode_item(value, out)
    except UnicodeEncodeError as exc:
        raise InvalidDocument("unencodable", "a text string is not valid Unicode") from exc
    return b"".join(out)


def decode_fast(data: bytes, *, max_size: int) -> Any:
    """Decode bytes from outside that hold no CIDs, accepting only canonical DAG-CBOR.

    Raises:
        InvalidDocument: oversize, malformed, non-canonical, or outside the subset (any tag).
    """
    return decode_strict(data, max_size=max_size, allow_cids=False)
