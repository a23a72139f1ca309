"""Crypto recipes. The only place in Umbra that imports crypto libraries.

Layout: ``_tags`` (every domain-separation tag), ``_signing`` (ed25519), ``_keys`` (identity
keys and their text forms), ``_kdf`` (passphrase → store keys).
"""

from . import _tags as tags
from ._kdf import (
    Argon2Params,
    StoreKeys,
    check_values_equal,
    derive_store_keys,
    new_salt,
)
from ._keys import IdentityKeys, decode_public_key, encode_public_key, short_id
from ._signing import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SigningKey, verify_signature

__all__ = [
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "Argon2Params",
    "IdentityKeys",
    "SigningKey",
    "StoreKeys",
    "check_values_equal",
    "decode_public_key",
    "derive_store_keys",
    "encode_public_key",
    "new_salt",
    "short_id",
    "tags",
    "verify_signature",
]
