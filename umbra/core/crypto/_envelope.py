"""Sealed envelopes and mailbox ids: what a mailbox peer holds and how it is addressed.

A *sealed envelope* is a libsodium sealed box (X25519 + XSalsa20-Poly1305 with a fresh
ephemeral key) to the recipient's envelope key. Inside, ``SEALED_ENVELOPE ‖ 0x00`` precedes
the payload, so a box made for another purpose never opens as an envelope. A mailbox peer
sees only its length (message plaintexts are padded inside the ratchet layer).

Mailbox ids name DHT positions; the mailbox peers closest to an id hold its envelopes.

- `intro_mailbox_id(envelope_key, epoch)`: where first contacts (messages still carrying the
  X3DH header) go. It is computable from the recipient's *public* envelope key, which is in
  its prekey bundle. So it hides the recipient only from a mailbox peer that does not hold
  that bundle. Bundles are public in the DHT: a peer that collects them can link an intro
  mailbox to its persona. It changes every epoch, so ids of two epochs look unrelated to
  anyone without the bundle.
- `session_mailbox_id(mailbox_secret, recipient_identity_key, epoch)`: where messages of an
  established session go. Keyed by a secret only the two parties derive from X3DH, so
  nobody else (mailbox peers included, even holding both bundles) can compute it or link it
  to a persona, to the other direction of the conversation, or to another epoch.

What mailbox ids do not hide: which node stores or polls an id (use Tor), envelope sizes
and timing, and that the same poller asks for several ids together.
"""

import functools
import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.public

from .._errors import InvalidDocument
from . import _tags

MAILBOX_ID_BYTES = 32
MAILBOX_EPOCH_S = 24 * 3600
ENVELOPE_OVERHEAD = nacl.bindings.crypto_box_SEALBYTES + len(_tags.SEALED_ENVELOPE) + 1
MAX_ENVELOPE_BYTES = 128 * 1024
_PREFIX = _tags.SEALED_ENVELOPE + b"\x00"


def mailbox_epoch(now: int) -> int:
    """The mailbox epoch of a unix time (receivers poll this one and the one before)."""
    return now // MAILBOX_EPOCH_S


def seal_envelope(recipient_envelope_key: bytes, payload: bytes) -> bytes:
    """Seal ``payload`` so that only the holder of the envelope secret can open it."""
    if len(recipient_envelope_key) != nacl.bindings.crypto_box_PUBLICKEYBYTES:
        raise ValueError("an envelope key is 32 bytes")
    return nacl.bindings.crypto_box_seal(_PREFIX + payload, recipient_envelope_key)


@functools.lru_cache(maxsize=16)
def _envelope_public(envelope_secret: bytes) -> bytes:
    # Opening needs the public key too; deriving it costs a scalar multiplication per
    # envelope, and a node opens every envelope with the same one or two secrets.
    return nacl.bindings.crypto_scalarmult_base(envelope_secret)


def open_envelope(envelope_secret: bytes, data: bytes) -> bytes:
    """Open a sealed envelope.

    Raises:
        InvalidDocument: (reason ``"undecryptable"``) not for us, damaged, or oversize.
    """
    if len(data) > MAX_ENVELOPE_BYTES:
        raise InvalidDocument("oversize", f"an envelope is at most {MAX_ENVELOPE_BYTES} bytes")
    try:
        if len(envelope_secret) != nacl.bindings.crypto_box_SECRETKEYBYTES:
            raise ValueError("an envelope secret is 32 bytes")
        inner = nacl.bindings.crypto_box_seal_open(
            data, _envelope_public(envelope_secret), envelope_secret
        )
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, ValueError) as exc:
        raise InvalidDocument("undecryptable", "the envelope could not be opened") from exc
    if not inner.startswith(_PREFIX):
        raise InvalidDocument("undecryptable", "the envelope could not be opened")
    return inner[len(_PREFIX) :]


def intro_mailbox_id(recipient_envelope_key: bytes, epoch: int) -> bytes:
    """Mailbox for first contacts; public to anyone holding the recipient's bundle."""
    h = hashlib.blake2b(digest_size=MAILBOX_ID_BYTES, key=_tags.MAILBOX_INTRO_ID)
    h.update(recipient_envelope_key + epoch.to_bytes(8, "big"))
    return h.digest()


def session_mailbox_id(mailbox_secret: bytes, recipient_identity_key: bytes, epoch: int) -> bytes:
    """Mailbox for one direction of one session; known to its two parties only."""
    h = hashlib.blake2b(digest_size=MAILBOX_ID_BYTES, key=mailbox_secret)
    h.update(_tags.MAILBOX_SESSION_ID + b"\x00" + recipient_identity_key + epoch.to_bytes(8, "big"))
    return h.digest()
