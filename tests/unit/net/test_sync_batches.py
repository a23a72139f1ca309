"""A large sync commits listings in batches (`_sync_batches`, `NetState.apply_listings`): they
are searchable at once, and a sync stopped part-way keeps them, so the next attempt asks only
for the rest. Real profiles, no network: the blocks are handed over as the swarm would."""

from pathlib import Path
from typing import Any

import trio

from umbra.core import CatalogHeadBody, sign_catalog_head
from umbra.core.crypto import Argon2Params
from umbra.market import ListingDraft, SellerCatalog, sample_image
from umbra.net import CatalogUpdate, NetState
from umbra.net._ingest import new_listing_cids, plan_update
from umbra.net._sync_batches import ListingBatches
from umbra.store import SearchQuery, create_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
NOW = 1_900_000_000


def _draft(i: int) -> ListingDraft:
    return ListingDraft(
        title=f"Batch lantern {i}",
        description="Brass.",
        price=10**12,
        quantity=1,
        category="other",
        condition="used-good",
        ships_from="DE",
        images=(sample_image(i, f"lantern {i}", (200, 150)),),
    )


async def _db(fn: Any, *args: Any) -> Any:
    return fn(*args)


def test_batches_survive_a_stop_and_the_next_sync_fetches_only_the_rest(tmp_path: Path) -> None:
    with (
        create_profile(tmp_path, "seller", "pw", params=CHEAP) as seller,
        create_profile(tmp_path, "reader", "pw", params=CHEAP) as reader,
    ):
        catalog = SellerCatalog(seller, clock=lambda: NOW - 100)
        listings = [catalog.create(_draft(i)) for i in range(3)]
        current = catalog.current_catalog()
        assert current is not None
        key = seller.identity.signing_public
        state = NetState(reader)
        wanted_thumbs: list[Any] = []

        def batches_for(cids: list[Any]) -> ListingBatches:
            return ListingBatches(
                seller=key,
                seq=current.body.seq,
                listing_cids=cids,
                now=NOW,
                want=wanted_thumbs.extend,
                db=_db,
                apply_listings=state.apply_listings,
                has_block=lambda cid: state.has_block(str(cid)),
                thumbnails=True,
            )

        def block(cid: Any) -> dict[Any, bytes]:
            data = seller.blocks.get(cid)
            assert data is not None
            return {cid: data}

        def found() -> int:
            return len(reader.search.search(SearchQuery(text="lantern", now=NOW)).hits)

        async def first_attempt() -> None:
            batches = batches_for(new_listing_cids(current, state.synced_listings(key)))
            for item in listings[:2]:
                await batches.deliver(block(item.cid))
            assert [c for c in wanted_thumbs] == [i.body.images[0].thumb for i in listings[:2]]
            await batches.deliver(block(listings[0].body.images[0].thumb))
            await batches.flush()  # a batch is committed; then the node is killed

        trio.run(first_attempt)
        assert found() == 2
        assert reader.blocks.has(listings[0].body.images[0].thumb)
        assert state.summary().catalogs == 0  # the catalog row comes last

        # The next attempt asks only for the third listing (and the missing thumbnail).
        rest = new_listing_cids(current, state.synced_listings(key))
        assert rest == [listings[2].cid]

        async def second_attempt() -> None:
            batches = batches_for(rest)
            await batches.deliver(block(listings[2].cid))
            await batches.deliver(block(listings[2].body.images[0].thumb))
            await batches.flush()
            batches.check_complete()

        trio.run(second_attempt)
        head = sign_catalog_head(
            seller.identity.signing,
            CatalogHeadBody(
                v=1,
                kind="catalog-head",
                seller=key,
                seq=current.body.seq,
                catalog=current.cid,
                published_at=NOW - 100,
            ),
        )
        _, kept, removed = plan_update(head, current, state.synced_listings(key), [], now=NOW)
        assert len(kept) == 3 and removed == []
        state.apply(
            CatalogUpdate(
                head=head,
                catalog=current,
                added=(),
                kept=tuple(kept),
                removed=(),
                blocks=((current.cid, current.data),),
                synced_at=NOW,
            )
        )
        assert found() == 3 and state.summary().listings == 3
        # Every stored block has a reason to stay (the batches wrote the listings' rows).
        assert state.collect_garbage(NOW) == 0
        # A batch of a catalog that is no longer newer than the synced one is refused.
        assert not state.apply_listings(key, current.body.seq, listings[:1], [])


def test_a_listing_that_names_another_seller_fails_the_sync(tmp_path: Path) -> None:
    with (
        create_profile(tmp_path, "seller", "pw", params=CHEAP) as seller,
        create_profile(tmp_path, "other", "pw", params=CHEAP) as other,
        create_profile(tmp_path, "reader", "pw", params=CHEAP) as reader,
    ):
        foreign = SellerCatalog(other, clock=lambda: NOW - 100).create(_draft(1))
        state = NetState(reader)
        batches = ListingBatches(
            seller=seller.identity.signing_public,
            seq=1,
            listing_cids=[foreign.cid],
            now=NOW,
            want=lambda cids: None,
            db=_db,
            apply_listings=state.apply_listings,
            has_block=lambda cid: False,
            thumbnails=False,
        )

        async def main() -> None:
            await batches.deliver({foreign.cid: foreign.data})
            await batches.flush()

        trio.run(main)
        assert batches.error == "a listing names another seller"
        assert state.synced_listings(seller.identity.signing_public) == {}
