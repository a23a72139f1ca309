"""What a newer catalog changes (pure planning)."""

import io

import pytest
from PIL import Image

from umbra.core import (
    CatalogBody,
    CatalogHeadBody,
    ListingBody,
    compute_cid,
    sign_catalog,
    sign_catalog_head,
    sign_listing,
)
from umbra.core.crypto import SigningKey
from umbra.net import ProtocolViolation, plan_update
from umbra.net._ingest import check_catalog_matches_head, new_listing_cids, usable_thumbnails

KEY = SigningKey(bytes(range(32)))
NOW = 1_800_000_000


def listing(n: int, revision: int = 1, *, key: SigningKey = KEY, expires: int = NOW + 3600):
    return sign_listing(
        key,
        ListingBody(
            v=1,
            kind="listing",
            seller=key.public_key,
            listing_id=bytes([n]) * 16,
            revision=revision,
            created_at=NOW - 10,
            expires_at=expires,
            title=f"item {n}",
            description="",
            price=1,
            quantity=1,
            category="home",
            tags=[],
            condition="new",
            shipping=[],
            ships_from="DE",
            images=[],
        ),
    )


def catalog_and_head(seq: int, listings: list[object]):
    catalog = sign_catalog(
        KEY,
        CatalogBody(
            v=1,
            kind="catalog",
            seller=KEY.public_key,
            seq=seq,
            updated_at=NOW,
            listings=[item.cid for item in listings],
        ),  # type: ignore[attr-defined]
    )
    head = sign_catalog_head(
        KEY,
        CatalogHeadBody(
            v=1,
            kind="catalog-head",
            seller=KEY.public_key,
            seq=seq,
            catalog=catalog.cid,
            published_at=NOW,
        ),
    )
    return catalog, head


def test_add_keep_edit_remove() -> None:
    a, b, c = listing(1), listing(2), listing(3)
    previous = {a.body.listing_id: str(a.cid), b.body.listing_id: str(b.cid)}
    b2 = listing(2, revision=2)
    catalog, head = catalog_and_head(2, [a, b2, c])
    assert new_listing_cids(catalog, previous) == [b2.cid, c.cid]
    added, kept, removed = plan_update(head, catalog, previous, [b2, c], now=NOW)
    assert {x.cid for x in added} == {b2.cid, c.cid}
    assert kept == [(a.body.listing_id, str(a.cid))]
    assert removed == []

    catalog3, head3 = catalog_and_head(3, [c])
    current = {
        a.body.listing_id: str(a.cid),
        b.body.listing_id: str(b2.cid),
        c.body.listing_id: str(c.cid),
    }
    added, kept, removed = plan_update(head3, catalog3, current, [], now=NOW)
    assert added == [] and kept == [(c.body.listing_id, str(c.cid))]
    assert sorted(removed) == sorted([a.body.listing_id, b.body.listing_id])


def test_expired_listings_are_not_indexed() -> None:
    old = listing(4, expires=NOW - 1)
    catalog, head = catalog_and_head(1, [old])
    added, _kept, removed = plan_update(head, catalog, {}, [old], now=NOW)
    assert added == [] and removed == []


def test_listing_of_another_seller_is_a_violation() -> None:
    foreign = listing(5, key=SigningKey(bytes(32)))
    catalog, head = catalog_and_head(1, [])
    with pytest.raises(ProtocolViolation):
        plan_update(head, catalog, {}, [foreign], now=NOW)


def test_catalog_must_match_head() -> None:
    catalog, _ = catalog_and_head(1, [])
    _, head2 = catalog_and_head(2, [])
    with pytest.raises(ProtocolViolation):
        check_catalog_matches_head(head2, catalog)


def test_only_still_bounded_webp_thumbnails_are_kept() -> None:
    def webp(size: tuple[int, int], **options: object) -> bytes:
        out = io.BytesIO()
        Image.new("RGBA", size).save(out, "WEBP", **options)
        return out.getvalue()

    fine = webp((32, 24))
    bomb = bytearray(fine)
    bomb[24:30] = (16_383).to_bytes(3, "little") * 2  # a 16384 × 16384 canvas declared
    frames = [Image.new("RGB", (8, 8), (n, 0, 0)) for n in (0, 200)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:])
    blocks = {
        compute_cid(data, "raw"): data
        for data in (fine, bytes(bomb), out.getvalue(), b"<svg onload=alert(1)>", b"")
    }
    assert usable_thumbnails(blocks) == [(compute_cid(fine, "raw"), fine)]
