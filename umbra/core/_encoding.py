"""Canonical deterministic encoding (DAG-CBOR) with strict decoding.

Every signed document is DAG-CBOR: map keys sorted length-first, minimal integer encoding, no
floats we need, CIDs as tag 42. Decoding from outside is strict: size-capped first, then
decoded, then re-encoded and compared byte for byte, so a document has exactly one valid
encoding and a signature can never be "moved" to an equivalent but different byte string.
"""

from typing import Any

import dag_cbor

from ._errors import InvalidDocument


def encode_canonical(value: Any) -> bytes:
    """Encode a value (dicts, lists, str, bytes, int, bool, None, CID) as canonical DAG-CBOR."""
    try:
        return bytes(dag_cbor.encode(value))
    # dag_cbor raises several unrelated types (its own errors, TypeError, out-of-range
    # integers as CBOR errors): any of them means the value has no DAG-CBOR encoding.
    except Exception as exc:
        raise InvalidDocument("unencodable", str(exc).splitlines()[0]) from exc


def decode_canonical(data: bytes, *, max_size: int) -> Any:
    """Decode bytes from outside, accepting only the canonical DAG-CBOR encoding.

    Raises:
        InvalidDocument: oversize, malformed or non-canonical input.
    """
    if len(data) > max_size:
        raise InvalidDocument("oversize", f"{len(data)} bytes is more than the limit of {max_size}")
    try:
        value = dag_cbor.decode(data)
    # The decoder is third-party code fed hostile bytes: whatever it raises (its own error
    # types, RecursionError on deep nesting, ...) means "malformed", never a crash.
    except Exception as exc:
        first_line = next((ln for ln in str(exc).splitlines()[::-1] if ln.strip()), "malformed")
        raise InvalidDocument("malformed-encoding", first_line.strip()) from exc
    if encode_canonical(value) != data:
        raise InvalidDocument("non-canonical", "the bytes are not the canonical DAG-CBOR encoding")
    return value
