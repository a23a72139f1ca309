"""Prekey-bundle records in the DHT: how a persona is found to start a conversation.

Pure rules, no libp2p (the validator adapter lives with the service). Record rules, checked by
every DHT node that stores or returns one, and by readers:

- The key is ``/umbra-prekeys/<persona public key, 64 lowercase hex digits>``.
- The value is canonical DAG-CBOR ``{"v": 1, "bundle": bytes, "peer": str | null,
  "at": uint, "sig": 64 B}``; ``sig`` is the persona's ed25519 signature (tag
  `tags.MSG_PREKEY_RECORD_SIG`) over the record without ``sig``. ``bundle`` is a
  `PrekeyBundle` (which verifies its own three signatures) whose persona is the key's.
  ``peer`` is the libp2p peer id of the node that delivers directly to this persona, or null
  when the persona does not want to be reachable directly (mailboxes only).
- ``at`` may be at most `MAX_CLOCK_SKEW_S` ahead of the checker's clock.
- Of two valid records the larger ``at`` wins, then the larger byte string. A node holding a
  record refuses a PUT that does not win over it (no rollback to consumed one-time prekeys).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from umbra.core import InvalidDocument, decode_canonical, encode_canonical
from umbra.core.crypto import (
    MAX_BUNDLE_BYTES,
    PrekeyBundle,
    SigningKey,
    tags,
    verify_signature,
)

PREKEY_NAMESPACE = "umbra-prekeys"
RECORD_VERSION = 1
MAX_CLOCK_SKEW_S = 3600
MAX_RECORD_BYTES = MAX_BUNDLE_BYTES + 512
_MAX_PEER_CHARS = 128
_KEYS = {"v", "bundle", "peer", "at", "sig"}


class InvalidPrekeyRecord(ValueError):
    """A prekey record failed validation (a ValueError, as libp2p expects from validators).

    The message names the failed check for the log; callers treat every failure alike.
    """


@dataclass(frozen=True)
class PrekeyRecord:
    bundle: PrekeyBundle
    peer: str | None  # libp2p peer id to deliver to directly, if published
    published_at: int
    data: bytes  # the record's wire bytes

    @property
    def persona(self) -> bytes:
        return self.bundle.persona


def prekey_key(persona: bytes) -> str:
    """The DHT key under which ``persona`` publishes its prekey record."""
    return f"/{PREKEY_NAMESPACE}/{persona.hex()}"


def persona_from_key(key: str) -> bytes:
    prefix = f"/{PREKEY_NAMESPACE}/"
    text = key[len(prefix) :] if key.startswith(prefix) else ""
    if len(text) != 64 or text != text.lower():
        raise InvalidPrekeyRecord("malformed umbra-prekeys key")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidPrekeyRecord("malformed umbra-prekeys key") from None


def _body(bundle: bytes, peer: str | None, at: int) -> dict[str, Any]:
    return {"v": RECORD_VERSION, "bundle": bundle, "peer": peer, "at": at}


def sign_prekey_record(
    persona: SigningKey, bundle: PrekeyBundle, *, peer: str | None, now: int
) -> bytes:
    """The record's wire bytes for ``bundle``, reachable at ``peer`` (or mailboxes only)."""
    if bundle.persona != persona.public_key:
        raise ValueError("the bundle belongs to another persona")
    body = _body(bundle.to_bytes(), peer, now)
    sig = persona.sign(tags.MSG_PREKEY_RECORD_SIG, encode_canonical(body))
    return encode_canonical({**body, "sig": sig})


def parse_prekey_record(value: bytes) -> PrekeyRecord:
    """Parse and verify a record's bytes (all signatures), without key or clock checks.

    Raises:
        InvalidPrekeyRecord: for anything that is not exactly a valid record.
    """
    try:
        obj = decode_canonical(value, max_size=MAX_RECORD_BYTES)
        if not isinstance(obj, dict) or set(obj) != _KEYS:
            raise InvalidDocument("bad-record", "unexpected fields")
        if type(obj["v"]) is not int or obj["v"] != RECORD_VERSION:
            raise InvalidDocument("unknown-version", "unknown record version")
        peer, at, sig, raw = obj["peer"], obj["at"], obj["sig"], obj["bundle"]
        if peer is not None and (not isinstance(peer, str) or not 0 < len(peer) <= _MAX_PEER_CHARS):
            raise InvalidDocument("bad-field", "'peer' must be a peer id or null")
        if type(at) is not int or not 0 <= at < 2**40:
            raise InvalidDocument("bad-field", "'at' must be a timestamp")
        if not isinstance(sig, bytes) or not isinstance(raw, bytes):
            raise InvalidDocument("bad-field", "'sig' and 'bundle' must be bytes")
        bundle = PrekeyBundle.parse(raw)
        verify_signature(
            bundle.persona, tags.MSG_PREKEY_RECORD_SIG, encode_canonical(_body(raw, peer, at)), sig
        )
    except Exception as exc:  # noqa: BLE001 - InvalidDocument, BadSignature, hostile bytes
        raise InvalidPrekeyRecord(f"invalid prekey record: {exc}") from None
    return PrekeyRecord(bundle, peer, at, value)


def check_prekey_record_at(key: str, value: bytes, now: float) -> PrekeyRecord:
    """Validate a DHT record for ``key`` as of time ``now``.

    Raises:
        InvalidPrekeyRecord: the record must not be stored or used.
    """
    persona = persona_from_key(key)
    record = parse_prekey_record(value)
    if record.persona != persona:
        raise InvalidPrekeyRecord("the record is for another persona than the key names")
    if record.published_at > now + MAX_CLOCK_SKEW_S:
        raise InvalidPrekeyRecord("the record is dated in the future")
    return record


def select_prekey_record(values: Sequence[bytes]) -> int:
    """Index of the best of several records; invalid ones never win."""
    best, best_rank = 0, None
    for index, value in enumerate(values):
        try:
            rank = (parse_prekey_record(value).published_at, value)
        except InvalidPrekeyRecord:
            continue
        if best_rank is None or rank > best_rank:
            best, best_rank = index, rank
    return best
