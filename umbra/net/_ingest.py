"""Deciding what a newer catalog changes in the local index. Pure: no I/O, no clock.

Rules:
- A catalog is applied only if its head is newer (higher ``seq``) than the one we hold.
- The catalog, its head and every listing must name the same seller.
- One listing id appears once; if a catalog lists two revisions of one id, the higher wins.
- Listings we indexed for that seller and that the new catalog no longer names are removed.
- Expired listings are not indexed (search hides them anyway; this keeps the index small).
- A thumbnail is stored only if its header is one still WebP image of bounded size: the
  browser decodes it, the node never does (`umbra.core.still_webp_size`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from multiformats import CID

from umbra.core import (
    SignedCatalog,
    SignedCatalogHead,
    SignedListing,
    cid_text,
    is_still_webp,
)

from ._errors import ProtocolViolation


@dataclass(frozen=True)
class CatalogUpdate:
    """Everything one sync of one seller's catalog writes, applied in one transaction."""

    head: SignedCatalogHead
    catalog: SignedCatalog
    added: tuple[SignedListing, ...]  # new or changed listings to index
    kept: tuple[tuple[bytes, str], ...]  # (listing_id, cid) unchanged since the last sync
    removed: tuple[bytes, ...]  # listing ids to drop from the index
    blocks: tuple[tuple[CID, bytes], ...]  # verified blocks to store (docs, thumbnails)
    synced_at: int
    # Peer ids the catalog came from, the seller's node first when known: asked later for
    # the images a page needs (only first thumbnails are fetched with the sync).
    sources: tuple[str, ...] = ()


def check_catalog_matches_head(head: SignedCatalogHead, catalog: SignedCatalog) -> None:
    """The catalog must be the one the head points at (CID was verified on fetch).

    Raises:
        ProtocolViolation: seller or sequence number differ.
    """
    if catalog.body.seller != head.body.seller or catalog.body.seq != head.body.seq:
        raise ProtocolViolation("head-mismatch", "the catalog does not match its head")


def new_listing_cids(catalog: SignedCatalog, previous: Mapping[bytes, str]) -> list[CID]:
    """CIDs in ``catalog`` that were not part of the previous sync (``listing_id → cid``)."""
    known = set(previous.values())
    return [cid for cid in catalog.body.listings if cid_text(cid) not in known]


def usable_thumbnails(fetched: Mapping[CID, bytes]) -> list[tuple[CID, bytes]]:
    """The fetched thumbnail blocks (CIDs already verified) that are still, bounded WebP."""
    return [(cid, data) for cid, data in fetched.items() if is_still_webp(data)]


def plan_update(
    head: SignedCatalogHead,
    catalog: SignedCatalog,
    previous: Mapping[bytes, str],
    fetched: Iterable[SignedListing],
    *,
    now: int,
) -> tuple[list[SignedListing], list[tuple[bytes, str]], list[bytes]]:
    """Split a catalog into listings to index, listings kept as they were, and removals.

    Args:
        previous: ``listing_id → cid`` from the last sync of this seller.
        fetched: the verified listings for `new_listing_cids`.

    Raises:
        ProtocolViolation: a listing names another seller than the catalog.
    """
    seller = head.body.seller
    wanted = {cid_text(c) for c in catalog.body.listings}
    by_id: dict[bytes, SignedListing] = {}
    for listing in fetched:
        if listing.body.seller != seller:
            raise ProtocolViolation("wrong-seller", "a listing names another seller")
        if cid_text(listing.cid) not in wanted:
            continue
        other = by_id.get(listing.body.listing_id)
        if other is None or listing.body.revision > other.body.revision:
            by_id[listing.body.listing_id] = listing
    kept = [
        (listing_id, cid)
        for listing_id, cid in previous.items()
        if cid in wanted and listing_id not in by_id
    ]
    added = [item for item in by_id.values() if not item.body.is_expired_at(now)]
    present = {item.body.listing_id for item in added} | {listing_id for listing_id, _ in kept}
    removed = [listing_id for listing_id in previous if listing_id not in present]
    return added, kept, removed
