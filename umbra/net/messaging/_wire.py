"""Wire format of one message between two personas (inside a sealed envelope).

Canonical DAG-CBOR map, size-capped, strictly parsed (exact key set, types, lengths)::

    {"v": 1, "from": <32 B persona key>, "sid": <16 B session id>,
     "x3dh": null | {"cert": {...}, "ek": 32 B, "spk": 32 B, "opk": 32 B | null},
     "dh": <32 B ratchet key>, "pn": uint, "n": uint, "ct": bytes}

`parse_message` raises only `InvalidDocument`, whatever the bytes. See
docs/specifications/messaging.md.

Both directions are on the per-message hot path: `to_bytes` assembles the canonical bytes
directly (`_cbor`), and `parse_message` decodes with Umbra's strict decoder (`decode_fast`:
canonical DAG-CBOR only, no tags, work bounded by the input's size), checks the structure and
exact types, then requires the input to equal `to_bytes` of what it parsed (so the fields
parsed are exactly the fields on the wire).
"""

import functools
from dataclasses import dataclass
from typing import Any

from umbra.core import InvalidDocument, decode_fast, encode_fast
from umbra.core.crypto import SESSION_ID_BYTES, RatchetMessage, X3dhHeader

from ._cbor import NULL, cbor_bytes, cbor_key, cbor_map_head, cbor_uint

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
_KEYS = {"v", "from", "sid", "x3dh", "dh", "pn", "n", "ct"}
# Canonical key order: shorter keys first, then bytewise.
_HEAD = cbor_map_head(len(_KEYS))
_K_N, _K_V, _K_CT, _K_DH = cbor_key("n"), cbor_key("v"), cbor_key("ct"), cbor_key("dh")
_K_PN, _K_SID, _K_FROM, _K_X3DH = (
    cbor_key("pn"),
    cbor_key("sid"),
    cbor_key("from"),
    cbor_key("x3dh"),
)
_VERSION = cbor_uint(WIRE_VERSION)


@dataclass(frozen=True)
class WireMessage:
    sender: bytes  # the sender persona's ed25519 key
    session_id: bytes
    x3dh: X3dhHeader | None  # present until the initiator saw a reply
    ratchet: RatchetMessage

    def to_bytes(self) -> bytes:
        r = self.ratchet
        return b"".join(
            (
                _HEAD,
                _K_N, cbor_uint(r.index),
                _K_V, _VERSION,
                _K_CT, cbor_bytes(r.ciphertext),
                _K_DH, cbor_bytes(r.ratchet_public),
                _K_PN, cbor_uint(r.previous_chain_length),
                _K_SID, cbor_bytes(self.session_id),
                _K_FROM, cbor_bytes(self.sender),
                _K_X3DH, NULL if self.x3dh is None else _x3dh_cbor(self.x3dh),
            )
        )  # fmt: skip


@functools.lru_cache(maxsize=64)
def _x3dh_cbor(header: X3dhHeader) -> bytes:
    """The header's encoding. It rides on every message until the first reply, unchanged,
    and both sides encode it per message (the receiver for the canonical check); equal
    headers (a frozen dataclass of bytes) have equal encodings. Public data only."""
    return encode_fast(header.to_obj())


def _bytes(obj: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = obj[name]
    if type(value) is not bytes or (size is not None and len(value) != size):
        raise InvalidDocument("bad-message", f"field {name!r} has the wrong type or length")
    return value


def _uint(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if type(value) is not int or value < 0:
        raise InvalidDocument("bad-message", f"field {name!r} must be an unsigned integer")
    return value


def parse_message(data: bytes) -> WireMessage:
    """Parse a message from outside (structure only; nothing is decrypted or verified).

    Raises:
        InvalidDocument: oversize, malformed, non-canonical, unknown version, bad fields.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidDocument("oversize", f"a message is at most {MAX_MESSAGE_BYTES} bytes")
    obj = decode_fast(data, max_size=MAX_MESSAGE_BYTES)
    if type(obj) is not dict or set(obj) != _KEYS:
        raise InvalidDocument("bad-message", f"a message has exactly the fields {sorted(_KEYS)}")
    if type(obj["v"]) is not int or obj["v"] != WIRE_VERSION:
        raise InvalidDocument("unknown-version", f"message version {obj['v']!r} is not supported")
    x3dh = None if obj["x3dh"] is None else X3dhHeader.from_obj(obj["x3dh"])
    ratchet = RatchetMessage(
        _bytes(obj, "dh", 32), _uint(obj, "pn"), _uint(obj, "n"), _bytes(obj, "ct")
    )
    sid = _bytes(obj, "sid", SESSION_ID_BYTES)
    if x3dh is not None and x3dh.session_id != sid:
        raise InvalidDocument("bad-message", "the session id does not match the X3DH header")
    message = WireMessage(_bytes(obj, "from", 32), sid, x3dh, ratchet)
    try:
        canonical = message.to_bytes()
    except (InvalidDocument, ValueError) as exc:
        raise InvalidDocument("non-canonical", "a field is outside the encodable range") from exc
    if canonical != data:
        raise InvalidDocument("non-canonical", "the bytes are not the canonical DAG-CBOR encoding")
    return message
