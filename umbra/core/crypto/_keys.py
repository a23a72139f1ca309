"""Identity keys of a persona and their text forms.

A persona has an ed25519 key for signing (listings, catalogs) and a separate X25519 key for
encryption (sealed messages, shipping addresses): never one key for both purposes.
Text forms carry a type and version prefix so a key can never be read as another kind.
"""

import base64
from dataclasses import dataclass

import nacl.public

from .._errors import InvalidDocument
from ._signing import SigningKey

SELLER_ID_PREFIX = "umbra-pk-ed25519-v1:"


def encode_public_key(public_key: bytes) -> str:
    """Text form of a persona's ed25519 public key (its seller id)."""
    return SELLER_ID_PREFIX + base64.b32encode(public_key).decode().rstrip("=").lower()


def decode_public_key(text: str) -> bytes:
    """Parse :func:`encode_public_key` output."""
    if not text.startswith(SELLER_ID_PREFIX):
        raise InvalidDocument("bad-key", f"a seller id starts with {SELLER_ID_PREFIX!r}")
    body = text[len(SELLER_ID_PREFIX) :].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as exc:
        raise InvalidDocument("bad-key", "seller id is not valid base32") from exc
    if len(raw) != 32:
        raise InvalidDocument("bad-key", "seller id must encode 32 bytes")
    return raw


def short_id(public_key: bytes) -> str:
    """A short, human-friendly fingerprint for display (not for security decisions)."""
    return base64.b32encode(public_key).decode()[:10].lower()


@dataclass(frozen=True, repr=False)
class IdentityKeys:
    """The secret keys of one persona."""

    signing: SigningKey
    encryption_secret: bytes  # X25519 private key, 32 bytes

    @classmethod
    def generate(cls) -> "IdentityKeys":
        return cls(SigningKey.generate(), bytes(nacl.public.PrivateKey.generate()))

    @property
    def signing_public(self) -> bytes:
        return self.signing.public_key

    @property
    def encryption_public(self) -> bytes:
        return bytes(nacl.public.PrivateKey(self.encryption_secret).public_key)

    def __repr__(self) -> str:
        return f"IdentityKeys({short_id(self.signing_public)})"
