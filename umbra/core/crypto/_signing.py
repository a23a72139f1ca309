"""Ed25519 signing with domain separation (PyNaCl / libsodium)."""

from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from .._errors import BadSignature, UsageError

SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
_SEED_BYTES = 32


def _signed_message(tag: bytes, message: bytes) -> bytes:
    # tag || 0x00 || message: the NUL makes the tag boundary unambiguous.
    return tag + b"\x00" + message


@dataclass(frozen=True, repr=False)
class SigningKey:
    """An ed25519 signing key. ``repr`` never shows the secret."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != _SEED_BYTES:
            raise UsageError("an ed25519 seed is 32 bytes")

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def public_key(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    def sign(self, tag: bytes, message: bytes) -> bytes:
        """Sign ``message`` for the purpose named by ``tag`` (see ``_tags``)."""
        signed = nacl.signing.SigningKey(self.seed).sign(_signed_message(tag, message))
        return bytes(signed.signature)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_key.hex()[:16]}…)"


def verify_signature(public_key: bytes, tag: bytes, message: bytes, signature: bytes) -> None:
    """Verify an ed25519 signature made with :meth:`SigningKey.sign`.

    Raises:
        BadSignature: for any failure (wrong key length, bad point, wrong signature).
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise BadSignature()
    try:
        nacl.signing.VerifyKey(public_key).verify(_signed_message(tag, message), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as exc:
        raise BadSignature() from exc
