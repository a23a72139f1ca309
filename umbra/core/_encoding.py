"""Canonical deterministic encoding (DAG-CBOR) with strict decoding.

Every signed document is DAG-CBOR: map keys sorted length-first, minimal integer encoding, no
floats, CIDs as tag 42. A document has exactly one valid encoding, so a signature can never be
"moved" to an equivalent but different byte string.

Encoding is `_fast_cbor.encode_item` plus CIDs. Decoding from outside is size-capped first,
then done by `_cbor_decode.decode_strict`, which accepts only canonical DAG-CBOR of the types
Umbra writes and checks the canonical form while it reads, with work and memory bounded by the
input's size (see that module for why cbor2 and dag_cbor are no longer used at run time; the
tests still hold the encoder and the decoder to ``dag_cbor`` as the reference).
"""

from typing import Any

from multiformats import CID

from ._cbor_decode import decode_strict
from ._cid import cid_from_binary, cid_to_binary
from ._errors import InvalidDocument
from ._fast_cbor import encode_item


def _encode_cid(value: Any, out: list[bytes]) -> bool:
    if not isinstance(value, CID):
        return False
    binary = cid_to_binary(value)
    if cid_from_binary(binary) is None:  # the decoder would refuse it: never write it
        raise InvalidDocument("unencodable", f"unsupported CID {value}: need CIDv1, sha2-256")
    raw = b"\0" + binary
    out.append(b"\xd8\x2a")  # tag 42
    out.append(bytes([0x40 | len(raw)]) if len(raw) < 24 else b"\x58" + bytes([len(raw)]))
    out.append(raw)
    return True


def encode_canonical(value: Any) -> bytes:
    """Encode a value (dicts, lists, str, bytes, int, bool, None, CID) as canonical DAG-CBOR.

    Raises:
        InvalidDocument: (``unencodable``) a float, set, non-text key, integer beyond 64 bits,
            unsupported CID, nesting too deep, or any other type.
    """
    out: list[bytes] = []
    try:
        encode_item(value, out, _encode_cid)
    except UnicodeEncodeError as exc:
        raise InvalidDocument("unencodable", "a text string is not valid Unicode") from exc
    return b"".join(out)


def decode_canonical(data: bytes, *, max_size: int) -> Any:
    """Decode bytes from outside, accepting only the canonical DAG-CBOR encoding.

    Raises:
        InvalidDocument: ``oversize``, ``malformed-encoding``, ``non-canonical`` or ``bad-cid``.
    """
    return decode_strict(data, max_size=max_size, allow_cids=True)
