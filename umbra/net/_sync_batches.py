"""A catalog's new listings as they arrive from the swarm: parsed, indexed in batches.

Listings become searchable batch by batch while a large catalog syncs, and a sync stopped
part-way (killed node, failed peers) keeps what it committed: those listings count as synced
(`NetState.apply_listings`) and the next attempt asks only for the rest. The catalog row is
written last (`NetState.apply`), with the removals.

Rules (as `_ingest.plan_update`, applied per batch):
- A listing must parse, match its CID and name the catalog's seller; one that does not fails
  the sync (the seller signed the catalog that names it), after the batches before it.
- Expired listings are not indexed.
- One listing id twice in a catalog: the higher revision wins, whichever arrives first.
- With ``thumbnails`` on, each new listing's first thumbnail is fetched too (only a still,
  bounded WebP is kept) and stored in the same transaction as, or after, its listing.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from multiformats import CID

from umbra.core import SignedListing, is_still_webp, parse_listing

from ._errors import NetError

# Listings (or thumbnails) per transaction: large enough that a commit's fixed cost is
# shared, small enough that a 1,000-listing catalog shows up in a few steps.
BATCH = 128

Db = Callable[..., Awaitable[Any]]


class ListingBatches:
    """Collects one sync's fetched blocks and commits them in batches."""

    def __init__(
        self,
        *,
        seller: bytes,
        seq: int,
        listing_cids: Sequence[CID],
        now: int,
        want: Callable[[list[CID]], None],
        db: Db,
        apply_listings: Callable[..., bool],
        has_block: Callable[[CID], bool],
        thumbnails: bool,
    ) -> None:
        self._seller = seller
        self._seq = seq
        self._listing_cids = set(listing_cids)
        self._now = now
        self._want = want
        self._db = db
        self._apply = apply_listings
        self._has_block = has_block
        self._thumbnails = thumbnails
        self._thumb_cids: set[CID] = set()
        self._listings: list[SignedListing] = []
        self._thumbs: list[tuple[CID, bytes]] = []
        self._revisions: dict[bytes, int] = {}  # listing id → revision taken in this sync
        self.received: set[CID] = set()  # listing documents that arrived
        self.committed: list[SignedListing] = []
        self.error: str | None = None
        self.stale = False  # a newer catalog was applied meanwhile

    async def deliver(self, blocks: dict[CID, bytes]) -> None:
        """Blocks that arrived (verified against their CIDs by the sync client)."""
        thumbs: list[CID] = []
        for cid, data in blocks.items():
            if cid in self._listing_cids:
                self.received.add(cid)
                listing = self._parse(cid, data)
                if listing is not None and self._take(listing):
                    self._listings.append(listing)
                    if self._thumbnails:
                        thumbs += [img.thumb for img in listing.body.images[:1]]
            elif cid in self._thumb_cids and is_still_webp(data):
                self._thumbs.append((cid, data))
        if thumbs:
            need = await self._db(lambda: [c for c in thumbs if not self._has_block(c)])
            self._thumb_cids.update(need)
            self._want(need)
        if len(self._listings) >= BATCH or len(self._thumbs) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self.stale or not (self._listings or self._thumbs):
            return
        listings, thumbs = self._listings, self._thumbs
        self._listings, self._thumbs = [], []
        if await self._db(self._apply, self._seller, self._seq, listings, thumbs):
            self.committed += listings
        else:
            self.stale = True

    def _parse(self, cid: CID, data: bytes) -> SignedListing | None:
        try:
            listing = parse_listing(data, expected_cid=cid)
        except Exception as exc:  # noqa: BLE001 - signed by the seller, so the seller is wrong
            self.error = self.error or f"listing {cid} is invalid: {exc}"
            return None
        if listing.body.seller != self._seller:
            self.error = self.error or "a listing names another seller"
            return None
        return listing

    def _take(self, listing: SignedListing) -> bool:
        body = listing.body
        if body.is_expired_at(self._now):
            return False
        taken = self._revisions.get(body.listing_id)
        if taken is not None and taken >= body.revision:
            return False
        self._revisions[body.listing_id] = body.revision
        return True

    def check_complete(self) -> None:
        """Raises NetError if a listing failed or did not arrive."""
        if self.error is not None:
            raise NetError(self.error)
        missing = len(self._listing_cids - self.received)
        if missing:
            raise NetError(f"{missing} listings could not be fetched")
