"""Wire format of one message between two personas (inside a sealed envelope).

Canonical DAG-CBOR map, size-capped, strictly parsed (exact key set, types, lengths)::

    {"v": 1, "from": <32 B persona key>, "sid": <16 B session id>,
     "x3dh": null | {"cert": {...}, "ek": 32 B, "spk": 32 B, "opk": 32 B | null},
     "dh": <32 B ratchet key>, "pn": uint, "n": uint, "ct": bytes}

`parse_message` raises only `InvalidDocument`, whatever the bytes. See
docs/specifications/messaging.md.
"""

from dataclasses import dataclass
from typing import Any

from umbra.core import InvalidDocument, decode_fast, encode_fast
from umbra.core.crypto import SESSION_ID_BYTES, RatchetMessage, X3dhHeader

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
_KEYS = {"v", "from", "sid", "x3dh", "dh", "pn", "n", "ct"}


@dataclass(frozen=True)
class WireMessage:
    sender: bytes  # the sender persona's ed25519 key
    session_id: bytes
    x3dh: X3dhHeader | None  # present until the initiator saw a reply
    ratchet: RatchetMessage

    def to_bytes(self) -> bytes:
        r = self.ratchet
        return encode_fast(
            {
                "v": WIRE_VERSION,
                "from": self.sender,
                "sid": self.session_id,
                "x3dh": None if self.x3dh is None else self.x3dh.to_obj(),
                "dh": r.ratchet_public,
                "pn": r.previous_chain_length,
                "n": r.index,
                "ct": r.ciphertext,
            }
        )


def _bytes(obj: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = obj[name]
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise InvalidDocument("bad-message", f"field {name!r} has the wrong type or length")
    return value


def _uint(obj: dict[str, Any], name: str) -> int:
    value = obj[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidDocument("bad-message", f"field {name!r} must be an unsigned integer")
    return value


def parse_message(data: bytes) -> WireMessage:
    """Parse a message from outside (structure only; nothing is decrypted or verified).

    Raises:
        InvalidDocument: oversize, malformed, non-canonical, unknown version, bad fields.
    """
    obj = decode_fast(data, max_size=MAX_MESSAGE_BYTES)
    if not isinstance(obj, dict) or set(obj) != _KEYS:
        raise InvalidDocument("bad-message", f"a message has exactly the fields {sorted(_KEYS)}")
    if obj["v"] != WIRE_VERSION or isinstance(obj["v"], bool):
        raise InvalidDocument("unknown-version", f"message version {obj['v']!r} is not supported")
    x3dh = None if obj["x3dh"] is None else X3dhHeader.from_obj(obj["x3dh"])
    ratchet = RatchetMessage(
        _bytes(obj, "dh", 32), _uint(obj, "pn"), _uint(obj, "n"), _bytes(obj, "ct")
    )
    sid = _bytes(obj, "sid", SESSION_ID_BYTES)
    if x3dh is not None and x3dh.session_id != sid:
        raise InvalidDocument("bad-message", "the session id does not match the X3DH header")
    return WireMessage(_bytes(obj, "from", 32), sid, x3dh, ratchet)
