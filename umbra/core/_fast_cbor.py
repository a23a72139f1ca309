"""A fast path for canonical DAG-CBOR on the hot messaging path (same bytes, same strictness).

`encode_canonical`/`decode_canonical` (dag_cbor, pure Python with runtime type checks) cost
~1 ms per small document; a messaging session encodes a wire message and a state record per
message. This module encodes the subset those use (maps with text keys, lists, bytes, text,
ints, bools, null: no CIDs, no floats) with a few lines of Python, and decodes with cbor2's C
decoder followed by the same rule as `decode_canonical`: re-encode and compare byte for byte,
so anything non-canonical (or outside the subset: tags, floats, duplicate keys, indefinite
lengths, non-text keys) is rejected. A test checks it against dag_cbor.
"""

from collections.abc import Callable
from typing import Any

import cbor2

from ._errors import InvalidDocument

_MAX_UINT = 2**64 - 1


def cbor_head(major: int, n: int) -> bytes:
    """The canonical (shortest) CBOR head of major type ``major`` (0-7) with argument ``n``."""
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
    raise InvalidDocument("unencodable", "integer out of range")


# Encodes one value outside the basic subset (e.g. a CID) and returns True, or returns False.
Extension = Callable[[Any, list[bytes]], bool]


def _no_extension(value: Any, out: list[bytes]) -> bool:
    return False


def encode_item(value: Any, out: list[bytes], extension: Extension = _no_extension) -> None:
    """Append the canonical encoding of ``value`` to ``out``; ``extension`` handles other types.

    Raises:
        InvalidDocument: the value (or a part of it) is outside the subset and the extension.
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
        raw = value.encode("utf-8")
        out.append(cbor_head(3, len(raw)))
        out.append(raw)
    elif type(value) is list or type(value) is tuple:
        out.append(cbor_head(4, len(value)))
        for item in value:
            encode_item(item, out, extension)
    elif type(value) is dict:
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
            encode_item(value[key], out, extension)
    elif not extension(value, out):
        raise InvalidDocument("unencodable", f"cannot encode {type(value).__name__}")


def encode_fast(value: Any) -> bytes:
    """Canonical DAG-CBOR of ``value`` (the subset above); equals `encode_canonical`."""
    out: list[bytes] = []
    encode_item(value, out)
    return b"".join(out)


def decode_fast(data: bytes, *, max_size: int) -> Any:
    """Like `decode_canonical` for the subset above.

    Raises:
        InvalidDocument: oversize, malformed, non-canonical, or outside the subset.
    """
    if len(data) > max_size:
        raise InvalidDocument("oversize", f"{len(data)} bytes is more than the limit of {max_size}")
    try:
        value = cbor2.loads(data)
    # Third-party decoder fed hostile bytes: anything it raises means "malformed".
    except Exception as exc:
        raise InvalidDocument("malformed-encoding", "the bytes are not valid CBOR") from exc
    try:
        canonical = encode_fast(value)
    except (InvalidDocument, RecursionError) as exc:
        raise InvalidDocument("non-canonical", "unsupported CBOR item") from exc
    if canonical != data:
        raise InvalidDocument("non-canonical", "the bytes are not the canonical DAG-CBOR encoding")
    return value
