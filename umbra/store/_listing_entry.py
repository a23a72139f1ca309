"""Turning a verified listing into a search-index row (shared by own and synced listings)."""

from umbra.core import SignedListing, cid_text

from ._search_types import IndexEntry


def index_entry_for(signed: SignedListing) -> IndexEntry:
    """The index row for a listing that has already been parsed and verified."""
    b = signed.body
    return IndexEntry(
        cid=cid_text(signed.cid),
        seller=b.seller,
        listing_id=b.listing_id,
        revision=b.revision,
        title=b.title,
        description=b.description,
        tags=tuple(b.tags),
        category=b.category,
        price=b.price,
        ship_regions=b.ship_regions(),
        ships_from=b.ships_from,
        created_at=b.created_at,
        expires_at=b.expires_at,
        thumbnail=cid_text(b.images[0].thumb) if b.images else None,
        quantity=b.quantity,
    )
