"""Full-size photos fetched on demand, with real nodes on 127.0.0.12x.

A sync brings in each listing's first thumbnail only; the full image comes when a page shows
it. Pinned here: a buyer's node fetches a full image it never synced, from the seller's node;
a node set to fetch thumbnails when shown (`StoragePolicy`) syncs none and fetches the one a
page shows;
with the seller offline, from a node that synced the catalog and fetched the photo before; it
asks nobody for a CID that no listing on the device names; and a fetched image is collected
like any synced block once its listing is gone.
"""

import dataclasses
import io
import random
import time
from pathlib import Path

import pytest
import trio
from multiformats import CID
from PIL import Image

from umbra.market import ListingDraft, SellerCatalog
from umbra.net import (
    CLEARNET,
    ImageNotReferenced,
    ImageUnavailable,
    NodeConfig,
    StoragePolicy,
    open_node,
)
from umbra.store import create_profile

from .conftest import CHEAP, draft, hits, nodes

pytestmark = pytest.mark.network


def _photo(seed: int) -> bytes:
    """A noisy 900 × 600 picture: its full image is far larger than its thumbnail."""
    rng = random.Random(seed)
    image = Image.new("RGB", (900, 600))
    image.putdata([(rng.randrange(256), rng.randrange(256), 90) for _ in range(900 * 600)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _wait(what: str, check: object, timeout: float = 60) -> None:
    with trio.fail_after(timeout):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.2)
    assert check(), what  # type: ignore[operator]


def test_full_image_is_fetched_from_the_seller_then_from_a_node_that_synced_it(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        # The reader fetches thumbnails only when a page shows them (as a node holding the
        # catalogs of 10,000 sellers does); the buyer prefetches them (default, few listings).
        when_shown = StoragePolicy(thumbnails="when-shown")

        def reader_when_shown(i: int, config: NodeConfig) -> NodeConfig:
            return dataclasses.replace(config, storage=when_shown) if i == 0 else config

        async with nodes(tmp_path, 2, first_ip=121, adjust=reader_when_shown) as group:
            (reader, reader_profile, _), (buyer, buyer_profile, _) = group
            seller_profile = create_profile(tmp_path, "seller", "pw", params=CHEAP)
            catalog = SellerCatalog(seller_profile)
            config = NodeConfig(
                network=CLEARNET,
                listen=("/ip4/127.0.0.123/tcp/0",),
                bootstrap=(reader.addrs[0],),
                status_interval=0.5,
            )
            try:
                async with open_node(seller_profile, config, catalog) as seller:
                    base = draft("Walnut writing desk")
                    desk = ListingDraft(**{**base.__dict__, "images": (_photo(1), _photo(2))})
                    signed = await trio.to_thread.run_sync(
                        catalog.create, desk, limiter=seller.db_limiter
                    )
                    first, second = signed.body.images
                    await _wait(
                        "both nodes synced the desk",
                        lambda: hits(reader_profile, "walnut") and hits(buyer_profile, "walnut"),
                    )
                    # The sync brought the first thumbnail only.
                    assert buyer_profile.blocks.has(first.thumb)
                    assert not buyer_profile.blocks.has(first.full)
                    assert not buyer_profile.blocks.has(second.full)
                    # The reader synced no thumbnail; a page showing the desk fetches it.
                    assert not reader_profile.blocks.has(first.thumb)
                    with trio.fail_after(60):
                        thumb = await reader.fetch_image(first.thumb)
                    assert thumb == seller_profile.blocks.get(first.thumb)
                    assert reader_profile.blocks.has(first.thumb)

                    with trio.fail_after(60):
                        data = await buyer.fetch_image(first.full)
                    assert data == seller_profile.blocks.get(first.full)
                    assert len(data) > len(seller_profile.blocks.get(first.thumb) or b"")
                    assert buyer_profile.blocks.get(first.full) == data  # kept for next time

                    # A block the seller holds but no listing names: not even asked for.
                    stray: CID = await trio.to_thread.run_sync(
                        seller_profile.blocks.put, _photo_block(), "raw", limiter=seller.db_limiter
                    )
                    asked = buyer.statistics().sync_requests
                    with pytest.raises(ImageNotReferenced):
                        await buyer.fetch_image(stray)
                    assert buyer.statistics().sync_requests == asked
                    assert not buyer_profile.blocks.has(stray)

                    # The reader looks at the second photo while the seller is online.
                    with trio.fail_after(60):
                        second_data = await reader.fetch_image(second.full)
                # The seller's node is gone: the buyer gets the photo from the reader.
                with trio.fail_after(60):
                    assert await buyer.fetch_image(second.full) == second_data

                # Nobody has the second thumbnail (only first thumbnails are synced): a clear
                # refusal, after asking, and nothing stored.
                with trio.fail_after(60), pytest.raises(ImageUnavailable, match="no peer sent"):
                    await buyer.fetch_image(second.thumb)
                assert not buyer_profile.blocks.has(second.thumb)

                # Once the listing has expired, its fetched photos go with its other blocks.
                later = int(time.time()) + 400 * 86400
                await buyer.collect_garbage(now=later)
                assert not buyer_profile.blocks.has(first.full)
                assert not buyer_profile.blocks.has(second.full)
            finally:
                seller_profile.close()

    trio.run(main)


def _photo_block() -> bytes:
    return b"not referenced by any listing " + bytes(range(64))
