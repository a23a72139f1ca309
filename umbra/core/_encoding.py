"""Canonical deterministic encoding (DAG-CBOR) with strict decoding.

Every signed document is DAG-CBOR: map keys sorted length-first, minimal integer encoding, no
floats we need, CIDs as tag 42. Decoding from outside is strict: size-capped first, then
decoded, then re-encoded and compared byte for byte, so a document has exactly one valid
encoding and a signature can never be "moved" to an equivalent but different byte string.

Two paths, one result. The reference is the ``dag_cbor`` package (pure Python, with runtime
type validation on every item: ~1 ms for a listing, ~10 ms for a catalog). The fast path covers
what our documents and wire messages contain (maps with text keys, lists, bytes, text, ints,
bools, null, and CIDs v1/sha2-256/raw|dag-cbor): it encodes with `_fast_cbor`'s few lines and
decodes with cbor2's C decoder. A fast decode is accepted only if re-encoding it gives back the
input byte for byte; anything else (floats, other tags, other CIDs, non-canonical or malformed
bytes) goes to the reference path, so errors and edge cases are exactly the reference's.
"""

from typing import Any

import cbor2
import dag_cbor
from multiformats import CID

from ._cid import cid_from_binary, cid_to_binary
from ._errors import InvalidDocument
from ._fast_cbor import encode_item

_CID_TAG = 42


class _NotInSubset(Exception):
    """The value or bytes are outside the fast path's subset: use the reference path."""


def _encode_cid(value: Any, out: list[bytes]) -> bool:
    if not isinstance(value, CID):
        return False
    raw = b"\0" + cid_to_binary(value)
    out.append(b"\xd8\x2a")  # tag 42
    out.append(bytes([0x40 | len(raw)]) if len(raw) < 24 else b"\x58" + bytes([len(raw)]))
    out.append(raw)
    return True


def _encode_fast(value: Any) -> bytes:
    out: list[bytes] = []
    try:
        encode_item(value, out, _encode_cid)
    except (InvalidDocument, RecursionError):
        raise _NotInSubset from None
    return b"".join(out)


class _Unsupported:
    """Stands in for a tag the fast path does not take; it makes re-encoding fail."""


def _tag_hook(*args: Any) -> Any:
    # cbor2 5.x calls hook(decoder, tag), 6.x hook(tag, immutable): find the tag either way.
    tag = next((a for a in args if isinstance(a, cbor2.CBORTag)), None)
    if tag is None or tag.tag != _CID_TAG or type(tag.value) is not bytes or tag.value[:1] != b"\0":
        return _Unsupported()
    cid = cid_from_binary(tag.value[1:])
    return _Unsupported() if cid is None else cid


def _decode_fast(data: bytes) -> Any:
    try:
        value = cbor2.loads(data, tag_hook=_tag_hook)
    # Third-party decoder fed hostile bytes: whatever it raises, let the reference path judge.
    except Exception:  # noqa: BLE001
        raise _NotInSubset from None
    if _encode_fast(value) != data:
        raise _NotInSubset
    return value


def encode_canonical(value: Any) -> bytes:
    """Encode a value (dicts, lists, str, bytes, int, bool, None, CID) as canonical DAG-CBOR."""
    try:
        return _encode_fast(value)
    except _NotInSubset:
        pass
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
        return _decode_fast(bytes(data))
    except _NotInSubset:
        pass
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
