"""Arbiters as buyers and sellers see them: sellers' accepted lists and arbiter profiles.

- A seller's accepted arbiters are the ``arbiters`` of its signed catalog (schema 2 on, first
  = default): our own from `SellerCatalog`, another seller's from the catalog we synced.
- An arbiter's profile (name, fee, terms) is a signed DHT record (``umbra-arbiter``). The
  node fetches the profiles of the arbiters that synced catalogs and our own list name,
  verifies them and keeps them in ``market_arbiters`` so the CLI, the API and the pages
  show them without the network; each read verifies the stored bytes again.
- `serve_arbiters` (in `umbra node`): publishes our own profile with ``--arbiter`` (signed
  for `PROFILE_LIFETIME_S`, re-signed daily, put in the DHT hourly) and fetches others'.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from pydantic import ValidationError

from umbra.core import (
    ArbiterProfileBody,
    InvalidDocument,
    SignedArbiterProfile,
    UmbraError,
    first_error,
    parse_arbiter_profile,
    parse_catalog,
    parse_cid,
    sign_arbiter_profile,
)
from umbra.core.crypto import encode_public_key
from umbra.net import NetState
from umbra.store import Profile

from ._listings import SellerCatalog

if TYPE_CHECKING:
    from umbra.net import Node

log = logging.getLogger(__name__)

PROFILE_LIFETIME_S = 7 * 24 * 3600
RESIGN_AFTER_S = 24 * 3600
REPUBLISH_S = 3600.0
REFETCH_AFTER_S = 3600
FETCH_POLL_S = 2.0
RETRY_MISSING_S = 20.0
_MAX_CATALOGS_SCANNED = 200
_MAX_FETCH_PER_ROUND = 16

_MIGRATIONS = [
    """
    CREATE TABLE market_arbiters (
        persona BLOB PRIMARY KEY CHECK (length(persona) = 32),
        profile BLOB NOT NULL,          -- the signed profile, as fetched from the DHT
        created_at INTEGER NOT NULL,
        fetched_at INTEGER NOT NULL
    );
    """,
]


@dataclass(frozen=True)
class ArbiterOffer:
    """What `umbra node --arbiter` publishes about itself."""

    name: str
    fee: str = ""
    terms: str = ""


def arbiter_json(persona: bytes, profile: SignedArbiterProfile | None) -> dict[str, Any]:
    """One arbiter for the CLI, the API and the pages (``known``: its profile was found)."""
    body = None if profile is None else profile.body
    return {
        "id": encode_public_key(persona),
        "known": body is not None,
        "name": None if body is None else body.name,
        "fee": None if body is None else body.fee,
        "terms": None if body is None else body.terms,
        "expires_at": None if body is None else body.expires_at,
    }


class ArbiterDirectory:
    """What this profile knows about arbiters. Synchronous; one database connection."""

    def __init__(self, profile: Profile, *, clock: Callable[[], float] = time.time) -> None:
        self._profile = profile
        self._db = profile.db
        self._clock = clock
        self._db.migrate("market.arbiters", _MIGRATIONS)
        self._net = NetState(profile)  # the synced catalogs (its tables exist from here on)

    def seller_arbiters(self, seller: bytes) -> list[bytes] | None:
        """The arbiters ``seller`` accepts, first = default; None if we hold no catalog of it."""
        if seller == self._profile.identity.signing_public:
            return SellerCatalog(self._profile).arbiters()
        cid = self._net.synced_catalog_cid(seller)
        return None if cid is None else self._catalog_arbiters(cid)

    def _catalog_arbiters(self, cid_text: str) -> list[bytes] | None:
        try:
            cid = parse_cid(cid_text)
            data = self._profile.blocks.get(cid)
            if data is None:
                return None
            return list(parse_catalog(data, expected_cid=cid).body.arbiters)
        except UmbraError:
            return None

    def profile(self, persona: bytes) -> SignedArbiterProfile | None:
        """The verified, unexpired profile we hold for ``persona``, if any."""
        data = self._db.scalar("SELECT profile FROM market_arbiters WHERE persona = ?", (persona,))
        if data is None:
            return None
        try:
            signed = parse_arbiter_profile(bytes(data))
        except InvalidDocument:
            return None
        if signed.body.arbiter != persona or signed.body.is_expired_at(int(self._clock())):
            return None
        return signed

    def remember(self, signed: SignedArbiterProfile) -> None:
        """Keep a verified profile (a newer one replaces an older one)."""
        now = int(self._clock())
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO market_arbiters (persona, profile, created_at, fetched_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (persona) DO UPDATE SET"
                " profile = CASE WHEN excluded.created_at >= market_arbiters.created_at"
                " THEN excluded.profile ELSE market_arbiters.profile END,"
                " created_at = max(excluded.created_at, market_arbiters.created_at),"
                " fetched_at = excluded.fetched_at",
                (signed.body.arbiter, signed.data, signed.body.created_at, now),
            )

    def wanted(self) -> list[bytes]:
        """Arbiters named by our own and the recently synced catalogs whose profile we lack
        or fetched more than `REFETCH_AFTER_S` ago."""
        names: list[bytes] = list(self.seller_arbiters(self._profile.identity.signing_public) or [])
        rows = self._db.query(
            "SELECT catalog_cid FROM net_catalogs ORDER BY synced_at DESC LIMIT ?",
            (_MAX_CATALOGS_SCANNED,),
        )
        for (cid,) in rows:
            names.extend(self._catalog_arbiters(str(cid)) or [])
        now = int(self._clock())
        out = []
        for persona in dict.fromkeys(names):
            fetched = self._db.scalar(
                "SELECT fetched_at FROM market_arbiters WHERE persona = ?", (persona,)
            )
            if fetched is None or now - int(fetched) > REFETCH_AFTER_S or not self.profile(persona):
                out.append(persona)
        return out

    def describe(self, persona: bytes) -> dict[str, Any]:
        return arbiter_json(persona, self.profile(persona))


def sign_own_profile(profile: Profile, offer: ArbiterOffer, now: int) -> SignedArbiterProfile:
    """Our arbiter profile, signed by the persona key, valid for `PROFILE_LIFETIME_S`."""
    try:
        body = ArbiterProfileBody(
            v=1, kind="arbiter-profile", arbiter=profile.identity.signing_public,
            name=offer.name.strip(), fee=offer.fee, terms=offer.terms, created_at=now,
            expires_at=now + PROFILE_LIFETIME_S,
        )  # fmt: skip
    except ValidationError as exc:
        raise InvalidDocument(
            "invalid-field", f"arbiter profile: {first_error(exc, 'profile')}"
        ) from None
    return sign_arbiter_profile(profile.identity.signing, body)


async def serve_arbiters(
    node: "Node",
    profile: Profile,
    offer: ArbiterOffer | None,
    *,
    clock: Callable[[], float] = time.time,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Publish our profile (``offer`` given) and fetch the profiles others name, until
    cancelled. ``profile`` is a connection used only on this trio thread (no transaction
    spans an await)."""
    directory = ArbiterDirectory(profile, clock=clock)
    async with trio.open_nursery() as nursery:
        if offer is not None:
            own = sign_own_profile(profile, offer, int(clock()))  # a bad offer fails at start
            directory.remember(own)
            nursery.start_soon(_publish_loop, node, profile, offer, own, clock)
        task_status.started(directory)
        await _fetch_loop(node, directory, clock)


async def _publish_loop(
    node: "Node",
    profile: Profile,
    offer: ArbiterOffer,
    own: SignedArbiterProfile,
    clock: Callable[[], float],
) -> None:
    while True:
        now = int(clock())
        if now - own.body.created_at > RESIGN_AFTER_S:
            own = sign_own_profile(profile, offer, now)
            ArbiterDirectory(profile, clock=clock).remember(own)
        try:
            await node.publish_arbiter_profile(own.data)
            log.info("published the arbiter profile %r", own.body.name)
            delay = REPUBLISH_S
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - a DHT put may fail while peers are few
            log.info("publishing the arbiter profile failed: %s", exc)
            delay = 10.0
        await trio.sleep(delay)


async def _fetch_loop(
    node: "Node", directory: ArbiterDirectory, clock: Callable[[], float]
) -> None:
    missing: dict[bytes, float] = {}  # persona -> when we last looked in vain
    while True:
        try:
            wanted = directory.wanted()
        except UmbraError as exc:  # e.g. the database busy for long: try again soon
            log.warning("listing wanted arbiter profiles failed: %s", exc)
            wanted = []
        now = clock()
        due = [p for p in wanted if now - missing.get(p, -RETRY_MISSING_S) >= RETRY_MISSING_S]
        for persona in due[:_MAX_FETCH_PER_ROUND]:
            found = await node.find_arbiter_profile(persona)
            if found is None:
                missing[persona] = clock()
                log.info("no arbiter profile found for %s yet", persona.hex()[:12])
                continue
            missing.pop(persona, None)
            directory.remember(found)
        await trio.sleep(FETCH_POLL_S)
