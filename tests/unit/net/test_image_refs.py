"""Which images this device may fetch on demand, and keeping them (``net`` schema 3).

A sync records a reference row for every image a listing names, stored or not: the row is
what allows a page to have the node fetch the image (`NetState.image_origin`), and what keeps
the fetched block until the listing is gone. Profiles synced before schema 3 get the rows when
they are opened.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.core import CatalogHeadBody, SignedListing, sign_catalog_head
from umbra.core.crypto import Argon2Params
from umbra.market import ListingDraft, SellerCatalog, sample_image
from umbra.net import CatalogUpdate, NetState
from umbra.net._blockrefs import ImageOrigin
from umbra.store import Profile, create_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
NOW = 1_900_000_000


def _draft() -> ListingDraft:
    return ListingDraft(
        title="Walnut writing desk",
        description="Two drawers.",
        price=10**12,
        quantity=1,
        category="other",
        condition="used-good",
        ships_from="DE",
        images=(sample_image(1, "desk", (400, 300)), sample_image(2, "drawer", (400, 300))),
    )


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Profile, Profile, SignedListing]]:
    """A reader that synced a seller's one listing, as `Node._sync_catalog` writes it."""
    with (
        create_profile(tmp_path, "seller", "pw", params=CHEAP) as seller,
        create_profile(tmp_path, "reader", "pw", params=CHEAP) as reader,
    ):
        catalog = SellerCatalog(seller, clock=lambda: NOW - 100)
        listing = catalog.create(_draft())
        current = catalog.current_catalog()
        assert current is not None
        head = sign_catalog_head(
            seller.identity.signing,
            CatalogHeadBody(
                v=1,
                kind="catalog-head",
                seller=seller.identity.signing_public,
                seq=current.body.seq,
                catalog=current.cid,
                published_at=NOW - 100,
            ),
        )
        first_thumb = listing.body.images[0].thumb
        thumb = seller.blocks.get(first_thumb)
        assert thumb is not None
        NetState(reader).apply(
            CatalogUpdate(
                head=head,
                catalog=current,
                added=(listing,),
                kept=(),
                removed=(),
                blocks=(
                    (current.cid, current.data),
                    (listing.cid, listing.data),
                    (first_thumb, thumb),
                ),
                synced_at=NOW,
                sources=("12D3KooWSeller", "12D3KooWRelay"),
            )
        )
        yield seller, reader, listing


def test_every_image_of_a_synced_listing_may_be_fetched_until_it_expires(
    synced: tuple[Profile, Profile, SignedListing],
) -> None:
    seller, reader, listing = synced
    state = NetState(reader)
    body = listing.body
    origin = ImageOrigin(body.seller, body.listing_id)
    for image in body.images:
        assert not reader.blocks.has(image.full)
        assert state.image_origin(str(image.full), NOW) == origin
        assert state.image_origin(str(image.thumb), NOW) == origin
    assert state.image_origin(str(listing.cid), NOW) == origin  # the document too
    stray = seller.blocks.put(b"a block no listing names", "raw")
    assert state.image_origin(str(stray), NOW) is None
    current = SellerCatalog(seller).current_catalog()
    assert current is not None
    assert state.image_origin(str(current.cid), NOW) is None  # the catalog is no image
    assert state.image_origin(str(body.images[0].full), body.expires_at) is None
    assert state.catalog_sources(body.seller) == ["12D3KooWSeller", "12D3KooWRelay"]


def test_a_fetched_image_is_kept_while_its_listing_lives(
    synced: tuple[Profile, Profile, SignedListing],
) -> None:
    seller, reader, listing = synced
    state = NetState(reader)
    full = listing.body.images[1].full
    data = seller.blocks.get(full)
    assert data is not None
    state.store_fetched_block(full, data)
    assert reader.blocks.get(full) == data
    assert state.collect_garbage(NOW) == 0
    assert reader.blocks.has(full)
    # Expired: the fetched image goes with the listing's synced blocks.
    assert state.collect_garbage(listing.body.expires_at) == 3  # document, thumbnail, photo
    assert not reader.blocks.has(full)


def test_opening_a_profile_synced_before_schema_3_adds_the_image_rows(
    synced: tuple[Profile, Profile, SignedListing],
) -> None:
    _seller, reader, listing = synced
    full = str(listing.body.images[1].full)
    db = reader.db
    # Back to what schema 2 wrote: rows only for stored blocks, no sources column.
    with db.transaction():
        db.execute("DELETE FROM net_block_refs WHERE cid = ?", (full,))
        db.execute("ALTER TABLE net_catalogs DROP COLUMN sources")
        db.execute("DROP TABLE net_tor")  # schema 4's
        db.execute("UPDATE schema_versions SET version = 2 WHERE namespace = 'net'")
    state = NetState(reader)
    assert db.schema_version("net") == 4
    assert state.image_origin(full, NOW) == ImageOrigin(
        listing.body.seller, listing.body.listing_id
    )
    assert state.catalog_sources(listing.body.seller) == []
