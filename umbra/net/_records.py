"""Catalog-head records in the DHT, and category/tag provider keys.

Record rules (checked by every DHT node that stores or returns a record, and by readers):

- The key is ``/umbra-catalog/<seller public key, 64 lowercase hex digits>``.
- The value is a signed catalog head (``umbra.core.parse_catalog_head``): canonical, signed by
  the seller key, and its ``seller`` field equals the key's hex. A head for another seller,
  a forged signature or a malformed value is rejected.
- ``published_at`` may not be more than `MAX_CLOCK_SKEW_S` ahead of the checker's clock.
- Of two valid records, the higher ``seq`` wins; ties go to the later ``published_at``, then to
  the larger byte string, so every node picks the same one. A node holding a record refuses a
  PUT that does not win over it, so stale and replayed heads cannot roll a key back.
"""

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from libp2p.records.validator import Validator

from umbra.core import SignedCatalogHead, compute_cid, limits, parse_catalog_head
from umbra.core.crypto import tags

from ._config import DHT_NAMESPACE

MAX_CLOCK_SKEW_S = 3600
_PERSONA_HEX_CHARS = 64


class InvalidRecord(ValueError):
    """A DHT record failed validation (a ValueError, as libp2p expects from validators)."""


class RecordValidator(Validator):
    """The libp2p validator of one Umbra record type, registered for its key namespace.

    Only these are accepted by Umbra's DHT (`_dht_guard.UmbraRecords`), which refuses any
    value longer than ``max_bytes`` before ``validate`` parses it.
    """

    max_bytes: ClassVar[int]


def head_key(seller: bytes) -> str:
    """The DHT key under which ``seller`` publishes its catalog head."""
    return f"/{DHT_NAMESPACE}/{seller.hex()}"


def persona_from_key(key: str, namespace: str) -> bytes:
    """The 32-byte persona key named by a ``/<namespace>/<lowercase hex>`` DHT key."""
    prefix = f"/{namespace}/"
    text = key[len(prefix) :] if key.startswith(prefix) else ""
    if len(text) != _PERSONA_HEX_CHARS or text != text.lower():
        raise InvalidRecord(f"malformed {namespace} key")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidRecord(f"malformed {namespace} key") from None


def check_head_record_at(key: str, value: bytes, now: float) -> SignedCatalogHead:
    """Validate a DHT record as of time ``now`` and return the verified head.

    Raises:
        InvalidRecord: the record must not be stored or used. Which check failed is in the
            message (for the log) but callers must treat every failure alike.
    """
    seller = persona_from_key(key, DHT_NAMESPACE)
    try:
        head = parse_catalog_head(value)
    except Exception as exc:  # noqa: BLE001 - InvalidDocument, or whatever hostile bytes cause
        raise InvalidRecord(f"invalid catalog head: {exc}") from None
    if head.body.seller != seller:
        raise InvalidRecord("the head is signed by another seller than the key names")
    if head.body.published_at > now + MAX_CLOCK_SKEW_S:
        raise InvalidRecord("the head is dated in the future")
    return head


def head_rank(head: SignedCatalogHead) -> tuple[int, int, bytes]:
    """Order of preference between two valid heads of one seller (higher wins)."""
    return (head.body.seq, head.body.published_at, head.data)


def select_head(values: Sequence[bytes]) -> int:
    """Index of the best of several heads; invalid ones never win."""
    best, best_rank = 0, None
    for index, value in enumerate(values):
        try:
            rank = head_rank(parse_catalog_head(value))
        except Exception:  # noqa: BLE001, S112 - an invalid value simply loses
            continue
        if best_rank is None or rank > best_rank:
            best, best_rank = index, rank
    return best


class CatalogHeadValidator(RecordValidator):
    """The libp2p adapter: registered for the ``umbra-catalog`` namespace on every node."""

    max_bytes = limits.MAX_CATALOG_HEAD_BYTES

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def validate(self, key: str, value: bytes) -> None:
        check_head_record_at(key, value, self._clock())

    def select(self, key: str, values: list[bytes]) -> int:
        return select_head(values)


def provider_key(kind: str, value: str) -> str:
    """The DHT provider key for a category (``kind="category"``) or a tag (``"tag"``).

    It is the multihash (hex) of a raw CID over ``PROVIDER_KEY || 0 || kind || 0 || value``.
    Hashing hides nothing: the vocabularies are small and public, so anyone can compute the key
    of every category and list its providers (see docs/specifications/network.md).
    """
    text = tags.PROVIDER_KEY + b"\x00" + kind.encode() + b"\x00" + value.encode()
    return bytes(compute_cid(text, "raw").digest).hex()


def keyword_keys(categories: Sequence[str], tag_words: Sequence[str], cap: int) -> list[str]:
    """Provider keys for a catalog: categories (with their parents) first, then tags."""
    keys: list[str] = []
    for category in categories:
        parts = category.split("/")
        for depth in range(1, len(parts) + 1):
            keys.append(provider_key("category", "/".join(parts[:depth])))
    keys.extend(provider_key("tag", word) for word in tag_words)
    return list(dict.fromkeys(keys))[:cap]
