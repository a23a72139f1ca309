"""Which stored blocks the Bitswap server may hand to any peer: those a known catalog names.

The seller's own catalog, listing and images are public; so are a synced catalog and the
blocks of its listings until they expire. A block in the store that no catalog names (what a
private one would be) is not, and neither is anything past the byte budget.
"""

from pathlib import Path

from umbra.core import CatalogHeadBody, sign_catalog_head
from umbra.core.crypto import Argon2Params
from umbra.market import ListingDraft, SellerCatalog, sample_image
from umbra.net import CatalogUpdate, NetState
from umbra.net._public_blocks import PublicBlocks
from umbra.store import create_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
NOW = 1_900_000_000
BIG = 1 << 30


def _draft() -> ListingDraft:
    return ListingDraft(
        title="Walnut writing desk",
        description="Two drawers.",
        price=10**12,
        quantity=1,
        category="other",
        condition="used-good",
        ships_from="DE",
        images=(sample_image(1, "desk", (400, 300)),),
    )


def test_own_and_synced_catalog_blocks_are_public_and_nothing_else(tmp_path: Path) -> None:
    with (
        create_profile(tmp_path, "seller", "pw", params=CHEAP) as seller,
        create_profile(tmp_path, "reader", "pw", params=CHEAP) as reader,
    ):
        NetState(seller)  # the node opens it before serving: the ``net`` tables exist
        shop = SellerCatalog(seller, clock=lambda: NOW - 100)
        listing = shop.create(_draft())
        catalog = shop.current_catalog()
        assert catalog is not None
        (image,) = listing.body.images
        public = [str(c) for c in (catalog.cid, listing.cid, image.thumb, image.full)]
        private = str(seller.blocks.put(b"evidence for the arbiter", "raw"))
        absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

        own = PublicBlocks(seller, shop)
        got = own.get([*public, private, absent], BIG, NOW)
        assert got[:4] == [seller.blocks.get(c) for c in public]
        assert got[4:] == [None, None]
        # The budget: a block past it is withheld (the peer asks again).
        full_size = len(seller.blocks.get(image.full) or b"")
        assert own.get([str(image.full)], full_size - 1, NOW) == [None]
        # A new catalog (the listing deleted): its blocks are gone from the store at once, and
        # the own set follows the key the node gives (its published catalog's CID).
        shop.delete(listing.body.listing_id.hex())
        assert own.get(public[1:], BIG, NOW) == [None, None, None]
        assert str(catalog.cid) in own.own(None)  # the same key: the remembered set
        after = shop.current_catalog()
        assert after is not None and own.own("next") == {str(after.cid)}

        # The reader synced the listing (document and thumbnail) from the seller.
        head = sign_catalog_head(
            seller.identity.signing,
            CatalogHeadBody(
                v=1,
                kind="catalog-head",
                seller=seller.identity.signing_public,
                seq=catalog.body.seq,
                catalog=catalog.cid,
                published_at=NOW - 100,
            ),
        )
        NetState(reader).apply(
            CatalogUpdate(
                head=head,
                catalog=catalog,
                added=(listing,),
                kept=(),
                removed=(),
                blocks=(
                    (catalog.cid, catalog.data),
                    (listing.cid, listing.data),
                    (image.thumb, got[2] or b""),
                ),
                synced_at=NOW,
                sources=("12D3KooWSeller",),
            )
        )
        reader_private = str(reader.blocks.put(b"a draft's photo", "raw"))
        synced = PublicBlocks(reader, None)
        wanted = [str(catalog.cid), str(listing.cid), str(image.thumb), reader_private]
        assert synced.get(wanted, BIG, NOW) == [catalog.data, listing.data, got[2], None]
        # Past the listing's expiry its blocks are no longer served; the catalog still is.
        expired = (listing.body.expires_at or NOW) + 1
        assert synced.get(wanted, BIG, expired) == [catalog.data, None, None, None]
