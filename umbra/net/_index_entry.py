"""Verified listing → search index row.

The store layer will provide ``umbra.store.index_entry_for``; until it lands this module holds
the same conversion (TEMPORARY: delete `_fallback_index_entry` once the store exports it).
"""

from collections.abc import Callable
from typing import cast

import umbra.store as store
from umbra.core import SignedListing
from umbra.store import IndexEntry


def _fallback_index_entry(listing: SignedListing) -> IndexEntry:
    body = listing.body
    return IndexEntry(
        cid=str(listing.cid),
        seller=body.seller,
        listing_id=body.listing_id,
        revision=body.revision,
        title=body.title,
        description=body.description,
        tags=tuple(body.tags),
        category=body.category,
        price=body.price,
        ship_regions=body.ship_regions(),
        ships_from=body.ships_from,
        created_at=body.created_at,
        expires_at=body.expires_at,
        thumbnail=str(body.images[0].thumb) if body.images else None,
    )


index_entry_for = cast(
    Callable[[SignedListing], IndexEntry],
    getattr(store, "index_entry_for", _fallback_index_entry),
)
