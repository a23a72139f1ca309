"""Messaging identity, prekey bundles and the X3DH key agreement (the `x3dh` package).

Keys (no key serves two purposes):

- The persona's ed25519 *signing* key (its seller id) never does DH. It signs an
  `IdentityCertificate` that vouches for the two messaging keys below, and each published
  `PrekeyBundle`.
- The *messaging identity key* (X3DH "IK", X25519, XEdDSA-signs the signed prekey) is
  dedicated to messaging: a leak of it does not let anyone sign listings, and a leak of the
  listing key does not decrypt messages (it could only certify a new, different IK).
- The *envelope key* (X25519) only opens sealed envelopes left in mailboxes.

We drive `x3dh.BaseState` (manual management) rather than `x3dh.State`, because `State`
reads the clock, publishes from inside the library and deletes a one-time prekey *before*
the first message has been authenticated (a forged first message would burn it). Here the
caller passes the time, publishing is the caller's job (`signed_bundle`), and a one-time
prekey is consumed only by `commit_acceptance`, after the ratchet authenticated the message.

Signed prekey rotation: every `SIGNED_PREKEY_ROTATION_S` (see `rotate_signed_prekey_at`).
The previous signed prekey is kept until the next rotation, so a bundle is usable for at least
`MAX_BUNDLE_AGE_S` after it was made (initiators refuse older bundles) and at most twice that.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Self

import nacl.bindings
import nacl.public
import x3dh
import xeddsa

from .._encoding import decode_canonical, encode_canonical
from .._errors import BadSignature, InvalidDocument, UsageError
from .._fast_cbor import decode_fast, encode_fast
from . import _tags
from ._ratchet import RatchetMessage, RatchetSession, UndecryptableMessage, run_sync
from ._ratchet import _hkdf_sha256 as _hkdf
from ._signing import SigningKey, verify_signature

SIGNED_PREKEY_ROTATION_S = 7 * 24 * 3600
MAX_BUNDLE_AGE_S = SIGNED_PREKEY_ROTATION_S
ONE_TIME_PREKEYS = 20  # published per bundle, refilled after each use
MAX_BUNDLE_PREKEYS = 100
MAX_BUNDLE_BYTES = 8 * 1024
BUNDLE_VERSION = 1
SESSION_ID_BYTES = 16
# Ephemeral keys of accepted X3DH initiations, kept to reject a replayed first message.
_MAX_SEEN_INITIATIONS = 10_000
_STATE_VERSION = 1
_KEY = 32
_SIG = 64
_FORMAT = x3dh.IdentityKeyFormat.CURVE_25519
_HASH = x3dh.HashFunction.SHA_256


class _X3dhState(x3dh.BaseState):
    @staticmethod
    def _encode_public_key(key_format: x3dh.IdentityKeyFormat, pub: bytes) -> bytes:
        marker = b"\x01" if key_format is x3dh.IdentityKeyFormat.CURVE_25519 else b"\x02"
        return _tags.MSG_X3DH_PUBLIC_KEY + b"\x00" + marker + pub


def _key(obj: Any, name: str, size: int = _KEY) -> bytes:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, bytes) or len(value) != size:
        raise InvalidDocument("bad-field", f"{name!r} must be {size} bytes")
    return value


def _exact_keys(obj: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != keys:
        raise InvalidDocument("bad-fields", f"{what} must have exactly the fields {sorted(keys)}")
    return obj


# -- identity certificate ----------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityCertificate:
    """The persona's signature over its messaging identity key and envelope key."""

    persona: bytes
    identity_key: bytes
    envelope_key: bytes
    signature: bytes

    @staticmethod
    def _signed_bytes(persona: bytes, identity_key: bytes, envelope_key: bytes) -> bytes:
        return encode_canonical({"persona": persona, "ik": identity_key, "env": envelope_key})

    @classmethod
    def issue(cls, persona: SigningKey, identity_key: bytes, envelope_key: bytes) -> Self:
        body = cls._signed_bytes(persona.public_key, identity_key, envelope_key)
        return cls(
            persona.public_key,
            identity_key,
            envelope_key,
            persona.sign(_tags.MSG_IDENTITY_CERT_SIG, body),
        )

    def verify(self) -> None:
        """Raises: BadSignature."""
        body = self._signed_bytes(self.persona, self.identity_key, self.envelope_key)
        verify_signature(self.persona, _tags.MSG_IDENTITY_CERT_SIG, body, self.signature)

    def to_obj(self) -> dict[str, Any]:
        return {
            "persona": self.persona,
            "ik": self.identity_key,
            "env": self.envelope_key,
            "sig": self.signature,
        }

    @classmethod
    def from_obj(cls, obj: Any) -> Self:
        """Structure only; call `verify`. Raises: InvalidDocument."""
        _exact_keys(obj, {"persona", "ik", "env", "sig"}, "an identity certificate")
        return cls(_key(obj, "persona"), _key(obj, "ik"), _key(obj, "env"), _key(obj, "sig", _SIG))


# -- X3DH header (on the wire until the first reply) --------------------------------------------


@dataclass(frozen=True)
class X3dhHeader:
    """What the initiator sends so the responder can run its half of X3DH."""

    certificate: IdentityCertificate
    ephemeral_key: bytes
    signed_prekey: bytes
    one_time_prekey: bytes | None

    @property
    def session_id(self) -> bytes:
        """A public, unique name for the session this header starts (hash of the ephemeral)."""
        return hashlib.blake2b(
            self.ephemeral_key, digest_size=SESSION_ID_BYTES, key=_tags.MSG_SESSION_ID
        ).digest()

    def to_obj(self) -> dict[str, Any]:
        return {
            "cert": self.certificate.to_obj(),
            "ek": self.ephemeral_key,
            "spk": self.signed_prekey,
            "opk": self.one_time_prekey,
        }

    @classmethod
    def from_obj(cls, obj: Any) -> Self:
        """Structure only (the certificate is not verified). Raises: InvalidDocument."""
        _exact_keys(obj, {"cert", "ek", "spk", "opk"}, "an X3DH header")
        opk = None if obj["opk"] is None else _key(obj, "opk")
        cert = IdentityCertificate.from_obj(obj["cert"])
        return cls(cert, _key(obj, "ek"), _key(obj, "spk"), opk)

    def _library_header(self) -> x3dh.Header:
        return x3dh.Header(
            self.certificate.identity_key,
            self.ephemeral_key,
            self.signed_prekey,
            self.one_time_prekey,
        )


# -- prekey bundle -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrekeyBundle:
    """A persona's published messaging keys, signed by the persona. See the spec for the format."""

    certificate: IdentityCertificate
    signed_prekey: bytes
    signed_prekey_signature: bytes  # XEdDSA by the identity key, checked by `parse`
    one_time_prekeys: tuple[bytes, ...]  # sorted, unique
    created_at: int
    signature: bytes

    @property
    def persona(self) -> bytes:
        return self.certificate.persona

    def _body(self) -> dict[str, Any]:
        return {
            "v": BUNDLE_VERSION,
            "cert": self.certificate.to_obj(),
            "spk": self.signed_prekey,
            "spk_sig": self.signed_prekey_signature,
            "opks": list(self.one_time_prekeys),
            "created": self.created_at,
        }

    def to_bytes(self) -> bytes:
        return encode_canonical({**self._body(), "sig": self.signature})

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Strictly parse and verify every signature in a bundle from outside.

        Raises:
            InvalidDocument: malformed, non-canonical, oversize, wrong version.
            BadSignature: any signature (persona over the bundle, persona over the identity
                certificate, identity key over the signed prekey) does not verify.
        """
        obj = _exact_keys(
            decode_canonical(data, max_size=MAX_BUNDLE_BYTES),
            {"v", "cert", "spk", "spk_sig", "opks", "created", "sig"},
            "a prekey bundle",
        )
        if obj["v"] != BUNDLE_VERSION:
            raise InvalidDocument("unknown-version", f"prekey bundle version {obj['v']!r}")
        opks = obj["opks"]
        if (
            not isinstance(opks, list)
            or len(opks) > MAX_BUNDLE_PREKEYS
            or not all(isinstance(k, bytes) and len(k) == _KEY for k in opks)
            or opks != sorted(set(opks))
        ):
            raise InvalidDocument("bad-field", "'opks' must be sorted unique 32-byte keys")
        created = obj["created"]
        if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < 2**40:
            raise InvalidDocument("bad-field", "'created' must be a timestamp")
        bundle = cls(
            IdentityCertificate.from_obj(obj["cert"]),
            _key(obj, "spk"),
            _key(obj, "spk_sig", _SIG),
            tuple(opks),
            created,
            _key(obj, "sig", _SIG),
        )
        verify_signature(
            bundle.persona,
            _tags.MSG_PREKEY_BUNDLE_SIG,
            encode_canonical(bundle._body()),
            bundle.signature,
        )
        bundle.certificate.verify()
        _verify_signed_prekey(
            bundle.certificate.identity_key, bundle.signed_prekey, bundle.signed_prekey_signature
        )
        return bundle

    def check_fresh_at(self, now: int) -> None:
        """Raises: InvalidDocument if the bundle is too old (or from the future) to use."""
        if not self.created_at - 300 <= now <= self.created_at + MAX_BUNDLE_AGE_S:
            raise InvalidDocument(
                "stale-bundle", "the prekey bundle is too old; fetch the current one"
            )


def _verify_signed_prekey(identity_key: bytes, signed_prekey: bytes, signature: bytes) -> None:
    try:
        ed_pub = xeddsa.curve25519_pub_to_ed25519_pub(identity_key, False)
        encoded = _X3dhState._encode_public_key(_FORMAT, signed_prekey)
        ok = xeddsa.ed25519_verify(signature, ed_pub, encoded)
    except Exception as exc:  # invalid points from outside
        raise BadSignature() from exc
    if not ok:
        raise BadSignature()


# -- the messaging identity --------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    """A session just made by X3DH, plus what the session layer keeps beside the ratchet."""

    ratchet: RatchetSession
    header: X3dhHeader
    mailbox_secret: bytes  # shared by both parties only; see `session_mailbox_id`


def _split_secret(shared_secret: bytes) -> tuple[bytes, bytes]:
    return (
        _hkdf(shared_secret, _tags.MSG_RATCHET_ROOT_KEY, 32),
        _hkdf(shared_secret, _tags.MSG_MAILBOX_SECRET, 32),
    )


def _appendix(initiator: bytes, responder: bytes) -> bytes:
    # Binds both personas into the associated data of every message of the session.
    return initiator + responder


class MessagingIdentity:
    """A persona's messaging keys: X3DH state, envelope key, certificate. Mutable; secret.

    Persist `to_bytes()` whenever a method says the state changed.
    """

    def __init__(
        self,
        state: _X3dhState,
        envelope_secret: bytes,
        certificate: IdentityCertificate,
        signed_prekey_at: int,
        seen: list[tuple[bytes, bytes]],
    ) -> None:
        self._state = state
        self._envelope_secret = envelope_secret
        self._certificate = certificate
        self._signed_prekey_at = signed_prekey_at
        self._seen = seen  # (signed prekey, ephemeral key) of accepted initiations
        self._seen_set = {ek for _, ek in seen}

    @classmethod
    def generate(cls, persona: SigningKey, *, now: int) -> Self:
        state = _X3dhState.create(_FORMAT, _HASH, _tags.MSG_X3DH)
        state.generate_pre_keys(ONE_TIME_PREKEYS)
        envelope = nacl.public.PrivateKey.generate()
        cert = IdentityCertificate.issue(
            persona, state.bundle.identity_key, bytes(envelope.public_key)
        )
        return cls(state, bytes(envelope), cert, now, [])

    @property
    def certificate(self) -> IdentityCertificate:
        return self._certificate

    @property
    def persona(self) -> bytes:
        return self._certificate.persona

    @property
    def identity_key(self) -> bytes:
        return self._certificate.identity_key

    @property
    def envelope_secret(self) -> bytes:
        return self._envelope_secret

    @property
    def one_time_prekey_count(self) -> int:
        return self._state.get_num_visible_pre_keys()

    def signed_bundle(self, persona: SigningKey, *, now: int) -> PrekeyBundle:
        """The bundle to publish now (call again after any change: rotation, a used prekey)."""
        if persona.public_key != self.persona:
            raise UsageError("this is not the persona that owns these messaging keys")
        b = self._state.bundle
        unsigned = PrekeyBundle(
            self._certificate,
            b.signed_pre_key,
            b.signed_pre_key_sig,
            tuple(sorted(b.pre_keys)),
            now,
            b"",
        )
        sig = persona.sign(_tags.MSG_PREKEY_BUNDLE_SIG, encode_canonical(unsigned._body()))
        return dataclasses.replace(unsigned, signature=sig)

    def rotate_signed_prekey_at(self, now: int, *, force: bool = False) -> bool:
        """Rotate the signed prekey if it is due; returns True if the state changed.

        The previous signed prekey stays usable until the next rotation; initiations made
        with the one before that fail ("expired prekey"), and their replay records go too.
        """
        if not force and now - self._signed_prekey_at < SIGNED_PREKEY_ROTATION_S:
            return False
        self._state.rotate_signed_pre_key()
        self._signed_prekey_at = now
        live = {self._state.bundle.signed_pre_key, self._state.old_signed_pre_key}
        self._seen = [(spk, ek) for spk, ek in self._seen if spk in live]
        self._seen_set = {ek for _, ek in self._seen}
        return True

    # -- X3DH ---------------------------------------------------------------------------------

    def initiate(self, bundle: PrekeyBundle, plaintext: bytes) -> tuple[NewSession, RatchetMessage]:
        """X3DH as initiator with a verified bundle, and the session's first message."""
        if bundle.certificate.identity_key == self.identity_key:
            raise UsageError("cannot open a session with ourselves")
        library_bundle = x3dh.Bundle(
            bundle.certificate.identity_key,
            bundle.signed_prekey,
            bundle.signed_prekey_signature,
            frozenset(bundle.one_time_prekeys),
        )
        appendix = _appendix(self.persona, bundle.persona)
        secret, ad, h = run_sync(
            self._state.get_shared_secret_active(library_bundle, appendix, require_pre_key=False)
        )
        root, mailbox = _split_secret(secret)
        ratchet, first = RatchetSession.initiate(root, bundle.signed_prekey, ad, plaintext)
        header = X3dhHeader(self._certificate, h.ephemeral_key, h.signed_pre_key, h.pre_key)
        return NewSession(ratchet, header, mailbox), first

    def has_accepted(self, header: X3dhHeader) -> bool:
        """Whether an initiation with this ephemeral key was already accepted (a replay)."""
        return header.ephemeral_key in self._seen_set

    def accept(self, header: X3dhHeader, message: RatchetMessage) -> tuple[NewSession, bytes]:
        """X3DH as responder plus the first message. Does NOT change this identity.

        Call `commit_acceptance` after the caller decided to keep the session; until then the
        one-time prekey stays, so a forged or damaged first message cannot burn it.

        Raises:
            UndecryptableMessage: bad certificate, unknown/expired prekey, failed decryption.
            SkippedKeyLimit
        """
        try:
            header.certificate.verify()
        except BadSignature:
            raise UndecryptableMessage() from None
        appendix = _appendix(header.certificate.persona, self.persona)
        try:
            secret, ad, spk = run_sync(
                self._state.get_shared_secret_passive(
                    header._library_header(), appendix, require_pre_key=False
                )
            )
        except x3dh.KeyAgreementException:
            raise UndecryptableMessage(
                "the sender used a prekey we no longer have (expired or already used)"
            ) from None
        except Exception as exc:  # invalid points from outside
            raise UndecryptableMessage() from exc
        root, mailbox = _split_secret(secret)
        ratchet, plaintext = RatchetSession.accept(root, spk.priv, ad, message)
        return NewSession(ratchet, header, mailbox), plaintext

    def commit_acceptance(self, header: X3dhHeader) -> None:
        """Consume the one-time prekey, remember the initiation, refill the prekeys."""
        if header.one_time_prekey is not None:
            self._state.delete_pre_key(header.one_time_prekey)
        missing = ONE_TIME_PREKEYS - self._state.get_num_visible_pre_keys()
        if missing > 0:
            self._state.generate_pre_keys(missing)
        self._seen.append((header.signed_prekey, header.ephemeral_key))
        self._seen_set.add(header.ephemeral_key)
        if len(self._seen) > _MAX_SEEN_INITIATIONS:
            dropped = self._seen[:-_MAX_SEEN_INITIATIONS]
            del self._seen[:-_MAX_SEEN_INITIATIONS]
            self._seen_set.difference_update(ek for _, ek in dropped)

    # -- state ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return encode_fast(
            {
                "v": _STATE_VERSION,
                "x3dh": self._state.model.model_dump_json(),
                "env": self._envelope_secret,
                "cert": self._certificate.to_obj(),
                "spk_at": self._signed_prekey_at,
                "seen": [[spk, ek] for spk, ek in self._seen],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Raises: InvalidDocument (damaged or unknown-version state)."""
        obj = _exact_keys(
            decode_fast(data, max_size=4 << 20),
            {"v", "x3dh", "env", "cert", "spk_at", "seen"},
            "a messaging identity state",
        )
        if obj["v"] != _STATE_VERSION:
            raise InvalidDocument("bad-identity-state", f"unknown version {obj['v']!r}")
        seen_pairs, spk_at = obj["seen"], obj["spk_at"]
        # Exact types: bytes(n) of an integer n would allocate n bytes.
        if (
            type(seen_pairs) is not list
            or not all(
                type(p) is list and len(p) == 2 and all(type(k) is bytes for k in p)
                for p in seen_pairs
            )
            or type(obj["x3dh"]) is not str
            or type(spk_at) is not int
        ):
            raise InvalidDocument("bad-identity-state", "the X3DH state is damaged")
        seen = [(spk, ek) for spk, ek in seen_pairs]
        try:
            state, _ = _X3dhState.from_json(json.loads(obj["x3dh"]), _FORMAT, _HASH, _tags.MSG_X3DH)
        except Exception as exc:
            raise InvalidDocument("bad-identity-state", "the X3DH state is damaged") from exc
        cert = IdentityCertificate.from_obj(obj["cert"])
        if nacl.bindings.crypto_scalarmult_base(_key(obj, "env")) != cert.envelope_key:
            raise InvalidDocument("bad-identity-state", "envelope key does not match")
        return cls(state, obj["env"], cert, spk_at, seen)
