"""Stock: the pure rules, stock revisions of the seller's catalog, and the per-order keeper.

Real profiles and databases; nothing is mocked. The driver's use of them (accept, decline,
cancel, a crash in the middle) is in ``test_stock_driver``.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from multiformats import CID

from umbra.core.crypto import Argon2Params
from umbra.market import ListingChanged, ListingChanges, SellerCatalog, sample_drafts
from umbra.market._order_table import TRANSITIONS, State
from umbra.market._stock import SOLD_OUT, OutOfStock, StockKeeper, stock_move, stock_problem
from umbra.store import Profile, create_profile, open_profile

FAST = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
ORDER_A, ORDER_B = b"\xaa" * 16, b"\xbb" * 16


@pytest.fixture
def seller(tmp_path: Path) -> Iterator[Profile]:
    with create_profile(tmp_path, "seller", "pw", params=FAST) as profile:
        yield profile


def _physical(profile: Profile, quantity: int) -> tuple[SellerCatalog, str]:
    catalog = SellerCatalog(profile)
    draft = next(d for d in sample_drafts(20) if d.shipping)
    signed = catalog.create(draft)
    if quantity != signed.body.quantity:
        signed = catalog.set_quantity(signed.body.listing_id, quantity)
    return catalog, str(signed.cid)


# -- the pure rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("available", "wanted", "problem"),
    [
        (0, 1, SOLD_OUT),
        (0, 5, SOLD_OUT),
        (1, 1, None),
        (3, 3, None),
        (3, 1, None),
        (2, 3, "only 2 left"),
        (1, 2, "only 1 left"),
    ],
)
def test_stock_problem(available: int, wanted: int, problem: str | None) -> None:
    assert stock_problem(available, wanted) == problem


def test_stock_moves_only_on_accept_and_on_an_unsold_end() -> None:
    """Every state change of the order table, checked: which take stock, which give it back."""
    takes = {(State.S1_requested, State.S2_accepted)}
    gives_back = {
        (State.S2_accepted, State.S9_cancelled),
        (State.S2_accepted, State.S10_void),
        (State.S3_escrow_setup, State.S9_cancelled),
        (State.S3_escrow_setup, State.S10_void),
        (State.S4_funded, State.S9_cancelled),  # the seller cancels with a refund
    }
    changes = {(s, r.next) for (s, _), rules in TRANSITIONS.items() for r in rules if r.next != s}
    assert takes | gives_back <= changes
    for before, after in sorted(changes):
        expected = 1 if (before, after) in takes else -1 if (before, after) in gives_back else 0
        assert stock_move(before, after) == expected, (before.name, after.name)


# -- stock revisions of the catalog ----------------------------------------------------------


def test_a_stock_revision_changes_only_the_quantity(seller: Profile) -> None:
    catalog, cid = _physical(seller, 3)
    before = catalog.resolve(cid)
    seq = catalog.current_catalog().body.seq  # type: ignore[union-attr]
    after = catalog.set_quantity(before.body.listing_id, 0)
    b0, b1 = before.body, after.body
    assert (b1.revision, b1.quantity) == (b0.revision + 1, 0)
    assert (b1.created_at, b1.expires_at, b1.title, b1.price) == (
        b0.created_at,
        b0.expires_at,
        b0.title,
        b0.price,
    )
    current = catalog.current_catalog()
    assert current is not None and current.body.seq == seq + 1
    assert current.body.listings == [after.cid]
    entry = seller.search.get(str(after.cid))
    assert entry is not None and entry.quantity == 0  # search results can say "sold out"


def test_an_older_revision_is_recognised_and_its_terms_compared(seller: Profile) -> None:
    catalog, cid = _physical(seller, 3)
    first = catalog.resolve(cid)
    stocked = catalog.set_quantity(first.body.listing_id, 2)
    found = catalog.revision_of(first.cid)
    assert found is not None and found[0].cid == stocked.cid and found[1] is True
    repriced = catalog.edit(first.body.listing_id.hex(), ListingChanges(price=first.body.price + 1))
    for old in (first.cid, stocked.cid):
        found = catalog.revision_of(old)
        assert found is not None and found[0].cid == repriced.cid and found[1] is False
    catalog.delete(repriced.body.listing_id.hex())
    assert catalog.revision_of(first.cid) is None
    assert catalog.listing_id_of(first.cid) is None


def test_an_edit_based_on_an_older_revision_is_refused(seller: Profile) -> None:
    catalog, cid = _physical(seller, 2)
    opened = catalog.resolve(cid)
    catalog.set_quantity(opened.body.listing_id, 1)  # a sale while the seller edits
    ref = opened.body.listing_id.hex()
    with pytest.raises(ListingChanged, match="changed since you opened it"):
        catalog.edit(ref, ListingChanges(quantity=2, base_revision=opened.body.revision))
    listing = catalog.listing(opened.body.listing_id)
    assert listing is not None and listing.body.quantity == 1
    edited = catalog.edit(ref, ListingChanges(quantity=5, base_revision=listing.body.revision))
    assert edited.body.quantity == 5


# -- the keeper ------------------------------------------------------------------------------


def test_take_and_give_back_once_per_order(seller: Profile) -> None:
    catalog, cid = _physical(seller, 2)
    listing_id = catalog.resolve(cid).body.listing_id
    keeper = StockKeeper(seller)
    first = CID.decode(cid)
    keeper.take(ORDER_A, first, 1)
    keeper.take(ORDER_A, first, 1)  # the same order again (a step redone): taken once
    assert keeper.offered(first) == (1, listing_id)  # an old CID still finds the listing
    with pytest.raises(OutOfStock, match="only 1 left"):
        keeper.take(ORDER_B, first, 2)
    keeper.take(ORDER_B, first, 1)
    with pytest.raises(OutOfStock, match=SOLD_OUT):
        keeper.take(b"\xcc" * 16, first, 1)
    assert keeper.offered(first) == (0, listing_id)

    assert keeper.give_back(ORDER_A) is not None
    assert keeper.give_back(ORDER_A) is None  # once only
    assert keeper.offered(first) == (1, listing_id)
    assert keeper.give_back(b"\xdd" * 16) is None  # took nothing, gives nothing

    catalog.delete(listing_id.hex())
    assert keeper.give_back(ORDER_B) is not None  # nothing to return to; no error
    with pytest.raises(OutOfStock, match="no longer offered"):
        keeper.take(b"\xee" * 16, first, 1)


def test_a_take_rolled_back_with_its_transaction_leaves_no_trace(seller: Profile) -> None:
    """What a crash before the order state commits amounts to: neither change is kept."""
    catalog, cid = _physical(seller, 1)
    seq = catalog.current_catalog().body.seq  # type: ignore[union-attr]
    keeper = StockKeeper(seller)

    def killed_after_the_take() -> None:
        with seller.db.transaction():
            keeper.take(ORDER_A, CID.decode(cid), 1)
            raise RuntimeError("killed before the order's state was stored")

    with pytest.raises(RuntimeError):
        killed_after_the_take()
    assert keeper.reservation(ORDER_A) is None
    assert keeper.offered(CID.decode(cid)) is not None
    assert keeper.offered(CID.decode(cid))[0] == 1  # type: ignore[index]
    assert catalog.current_catalog().body.seq == seq  # type: ignore[union-attr]


def test_search_rows_indexed_before_quantities_were_kept_are_filled_in(tmp_path: Path) -> None:
    with create_profile(tmp_path, "old", "pw", params=FAST) as profile:
        _, cid = _physical(profile, 0)
        with profile.db.transaction():  # as a version-1 store left it
            profile.db.execute("ALTER TABLE search_listings DROP COLUMN quantity")
            profile.db.execute("UPDATE schema_versions SET version = 1 WHERE namespace = 'store'")
    with open_profile(tmp_path, "old", "pw") as profile:
        entry = profile.search.get(cid)
        assert entry is not None and entry.quantity == 0


def test_listings_made_before_revisions_were_kept_are_recognised(seller: Profile) -> None:
    catalog, cid = _physical(seller, 2)
    with seller.db.transaction():  # as a profile of the previous version left it
        seller.db.execute("DELETE FROM own_listing_revisions")
    assert catalog.revision_of(CID.decode(cid)) is None
    again = SellerCatalog(seller)  # what the node makes at start
    found = again.revision_of(CID.decode(cid))
    assert found is not None and str(found[0].cid) == cid and found[1] is True
