"""Every domain-separation tag Umbra uses, in one place and versioned.

A key is used for one purpose only; where one secret feeds several purposes, HKDF with a
distinct tag from this file derives a separate key for each.
"""

# Signatures (ed25519): the tag is prefixed to the signed bytes.
LISTING_SIG = b"umbra:listing-sig:v1"
CATALOG_SIG = b"umbra:catalog-sig:v1"
CATALOG_HEAD_SIG = b"umbra:catalog-head-sig:v1"
# An arbiter's public profile (name, fee, terms), signed by the arbiter persona.
ARBITER_PROFILE_SIG = b"umbra:arbiter-profile-sig:v1"

# Local storage (HKDF-SHA256 info strings over the Argon2id output).
DB_KEY = b"umbra:db-key:v1"
PASSPHRASE_CHECK = b"umbra:passphrase-check:v1"

# Network (hash prefixes, not keys): DHT provider keys for categories and tags.
PROVIDER_KEY = b"umbra:provider-key:v1"

# Messaging (X3DH + Double Ratchet, sealed envelopes, mailboxes). See
# docs/specifications/messaging.md. Ed25519 signatures by the persona's signing key:
MSG_IDENTITY_CERT_SIG = b"umbra:msg-identity-cert-sig:v1"
MSG_PREKEY_BUNDLE_SIG = b"umbra:msg-prekey-bundle-sig:v1"
# The DHT record that carries a prekey bundle and, optionally, the node to reach it at.
MSG_PREKEY_RECORD_SIG = b"umbra:msg-prekey-record-sig:v1"
# Prefix of every public key the x3dh package encodes (signed prekey signatures, X3DH AD).
MSG_X3DH_PUBLIC_KEY = b"umbra:msg-x3dh-public-key:v1"
# HKDF-SHA256 info strings.
MSG_X3DH = b"umbra:msg-x3dh:v1"
MSG_RATCHET_ROOT_KEY = b"umbra:msg-ratchet-root-key:v1"
MSG_MAILBOX_SECRET = b"umbra:msg-mailbox-secret:v1"
MSG_ROOT_CHAIN = b"umbra:msg-root-chain:v1"
MSG_AEAD = b"umbra:msg-aead:v1"
# BLAKE2b: the first two are the hash key of public ids, the third a prefix of the hashed data
# (keyed by the session's mailbox secret).
MSG_SESSION_ID = b"umbra:msg-session-id:v1"
MAILBOX_INTRO_ID = b"umbra:mailbox-intro-id:v1"
MAILBOX_SESSION_ID = b"umbra:mailbox-session-id:v1"
# Prefixed (tag || 0x00) to the plaintext inside a sealed envelope.
SEALED_ENVELOPE = b"umbra:sealed-envelope:v1"
