"""Arbiter-profile records in the DHT.

Record rules (checked by every DHT node that stores or returns a record, and by readers):

- The key is ``/umbra-arbiter/<arbiter persona key, 64 lowercase hex digits>``.
- The value is a signed arbiter profile (``umbra.core.parse_arbiter_profile``) whose
  ``arbiter`` field equals the key's hex; ``created_at`` is at most `MAX_CLOCK_SKEW_S` ahead of
  the checker's clock and ``expires_at`` is still ahead of it.
- Of two valid records the later ``created_at`` wins, then the larger byte string, so every
  node picks the same one and a replayed older profile cannot roll the key back.
"""

import time
from collections.abc import Callable, Sequence

from umbra.core import SignedArbiterProfile, limits, parse_arbiter_profile

from ._records import MAX_CLOCK_SKEW_S, InvalidRecord, RecordValidator, persona_from_key

ARBITER_NAMESPACE = "umbra-arbiter"


def arbiter_key(persona: bytes) -> str:
    """The DHT key under which the arbiter ``persona`` publishes its profile."""
    return f"/{ARBITER_NAMESPACE}/{persona.hex()}"


def check_arbiter_record_at(key: str, value: bytes, now: float) -> SignedArbiterProfile:
    """Validate an arbiter-profile record as of ``now``; return the verified profile.

    Raises:
        InvalidRecord: the record must not be stored or used (treat every failure alike).
    """
    persona = persona_from_key(key, ARBITER_NAMESPACE)
    try:
        profile = parse_arbiter_profile(value)
    except Exception as exc:  # noqa: BLE001 - InvalidDocument, or whatever hostile bytes cause
        raise InvalidRecord(f"invalid arbiter profile: {exc}") from None
    if profile.body.arbiter != persona:
        raise InvalidRecord("the profile is signed by another persona than the key names")
    if profile.body.created_at > now + MAX_CLOCK_SKEW_S:
        raise InvalidRecord("the profile is dated in the future")
    if profile.body.is_expired_at(int(now)):
        raise InvalidRecord("the profile has expired")
    return profile


def select_arbiter_record(values: Sequence[bytes]) -> int:
    """Index of the best of several profiles of one arbiter; invalid ones never win."""
    best, best_rank = 0, None
    for index, value in enumerate(values):
        try:
            profile = parse_arbiter_profile(value)
        except Exception:  # noqa: BLE001, S112 - an invalid value simply loses
            continue
        rank = (profile.body.created_at, value)
        if best_rank is None or rank > best_rank:
            best, best_rank = index, rank
    return best


class ArbiterProfileValidator(RecordValidator):
    """The libp2p adapter, registered for the ``umbra-arbiter`` namespace on every node."""

    max_bytes = limits.MAX_ARBITER_PROFILE_BYTES

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def validate(self, key: str, value: bytes) -> None:
        check_arbiter_record_at(key, value, self._clock())

    def select(self, key: str, values: list[bytes]) -> int:
        return select_arbiter_record(values)
