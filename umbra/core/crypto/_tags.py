"""Every domain-separation tag Umbra uses, in one place and versioned.

A key is used for one purpose only; where one secret feeds several purposes, HKDF with a
distinct tag from this file derives a separate key for each.
"""

# Signatures (ed25519): the tag is prefixed to the signed bytes.
LISTING_SIG = b"umbra:listing-sig:v1"
CATALOG_SIG = b"umbra:catalog-sig:v1"
CATALOG_HEAD_SIG = b"umbra:catalog-head-sig:v1"

# Local storage (HKDF-SHA256 info strings over the Argon2id output).
DB_KEY = b"umbra:db-key:v1"
PASSPHRASE_CHECK = b"umbra:passphrase-check:v1"
