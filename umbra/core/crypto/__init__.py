"""Crypto recipes. The only place in Umbra that imports crypto libraries.

Layout: ``_tags`` (every domain-separation tag), ``_signing`` (ed25519), ``_keys`` (identity
keys and their text forms), ``_kdf`` (passphrase → store keys), ``_ratchet`` (Double Ratchet
sessions), ``_x3dh`` (messaging identity, prekey bundles, X3DH), ``_envelope`` (sealed
envelopes, mailbox ids).
"""

from . import _tags as tags
from ._envelope import (
    MAILBOX_EPOCH_S,
    MAX_ENVELOPE_BYTES,
    intro_mailbox_id,
    mailbox_epoch,
    open_envelope,
    seal_envelope,
    session_mailbox_id,
)
from ._kdf import (
    Argon2Params,
    StoreKeys,
    check_values_equal,
    derive_store_keys,
    new_salt,
)
from ._keys import IdentityKeys, decode_public_key, encode_public_key, short_id
from ._ratchet import (
    MAX_PLAINTEXT_BYTES,
    MAX_SKIPPED_KEYS,
    RatchetMessage,
    RatchetSession,
    ReplayedMessage,
    SkippedKeyLimit,
    UndecryptableMessage,
)
from ._signing import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SigningKey, verify_signature
from ._x3dh import (
    MAX_BUNDLE_AGE_S,
    MAX_BUNDLE_BYTES,
    ONE_TIME_PREKEYS,
    SESSION_ID_BYTES,
    SIGNED_PREKEY_ROTATION_S,
    IdentityCertificate,
    MessagingIdentity,
    NewSession,
    PrekeyBundle,
    X3dhHeader,
)

__all__ = [
    "MAILBOX_EPOCH_S",
    "MAX_BUNDLE_AGE_S",
    "MAX_BUNDLE_BYTES",
    "MAX_ENVELOPE_BYTES",
    "MAX_PLAINTEXT_BYTES",
    "MAX_SKIPPED_KEYS",
    "ONE_TIME_PREKEYS",
    "PUBLIC_KEY_BYTES",
    "SESSION_ID_BYTES",
    "SIGNATURE_BYTES",
    "SIGNED_PREKEY_ROTATION_S",
    "Argon2Params",
    "IdentityCertificate",
    "IdentityKeys",
    "MessagingIdentity",
    "NewSession",
    "PrekeyBundle",
    "RatchetMessage",
    "RatchetSession",
    "ReplayedMessage",
    "SigningKey",
    "SkippedKeyLimit",
    "StoreKeys",
    "UndecryptableMessage",
    "X3dhHeader",
    "check_values_equal",
    "decode_public_key",
    "derive_store_keys",
    "encode_public_key",
    "intro_mailbox_id",
    "mailbox_epoch",
    "new_salt",
    "open_envelope",
    "seal_envelope",
    "session_mailbox_id",
    "short_id",
    "tags",
    "verify_signature",
]
