"""The seller's node keeps its stock: the driver between real profiles (see test_trade_driver).

The sample listing is a physical item with quantity 1: the last one.
"""

# ruff: noqa: F811 - the fixtures ``parties`` and ``clock`` come from test_trade_driver

import pytest
from multiformats import CID

from umbra.core import UsageError
from umbra.market import SellerCatalog

from .test_trade_driver import (  # noqa: F401 - fixtures
    Clock,
    Party,
    _listing,
    _pump,
    _state,
    _sync_catalog,
    clock,
    parties,
)


def _quantity(parties: dict[str, Party], cid: str) -> tuple[int, int]:
    """The seller's current (quantity, revision) of the listing ``cid`` is a revision of."""
    found = SellerCatalog(parties["seller"].profile).revision_of(CID.decode(cid))
    assert found is not None
    return found[0].body.quantity, found[0].body.revision


def _buyer_syncs(parties: dict[str, Party], cid: str) -> str:
    """The buyer's node syncs the seller's catalog and current listing; its new CID."""
    seller, buyer = parties["seller"].profile, parties["buyer"].profile
    found = SellerCatalog(seller).revision_of(CID.decode(cid))
    assert found is not None
    _sync_catalog(seller, buyer)
    buyer.blocks.put_verified(found[0].cid, found[0].data)
    return str(found[0].cid)


def _order(parties: dict[str, Party], cid: str, quantity: int = 1) -> str:
    arbiter = parties["arbiter"].profile.identity.signing_public
    order_id, _ = parties["buyer"].service.place_order(
        cid, quantity=quantity, shipping_option=0, address="1 Main St", arbiter=arbiter
    )
    return order_id


def test_two_orders_for_the_last_item_one_accepted_the_other_declined_sold_out(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    first, second = _order(parties, cid), _order(parties, cid)
    _pump(parties)
    seller = parties["seller"].service
    assert _state(parties["seller"], first) == _state(parties["seller"], second) == "S1_requested"

    # The seller presses Accept on both before its node ran either.
    accepted, refused = seller.accept(first), seller.accept(second)
    _pump(parties)
    assert _state(parties["seller"], first) == "S3_escrow_setup"
    for role in ("seller", "buyer"):
        view = parties[role].service.order(second)
        assert view.summary.state == "S11_declined"
        assert view.reason == "sold out"  # the buyer reads why
    done, failed = seller.command(accepted), seller.command(refused)
    assert done is not None and done.status == "done"
    assert failed is not None and failed.status == "failed"
    assert failed.error == "the order is already declined (sold out)"

    quantity, revision = _quantity(parties, cid)
    assert (quantity, revision) == (0, 2)  # one new revision: the stock taken once
    timeline = [e.detail for e in seller.order(first).timeline]
    assert "Taken from the listing's stock: 1" in timeline

    # The buyer's node syncs: the listing is sold out there too, and cannot be ordered.
    new_cid = _buyer_syncs(parties, cid)
    assert new_cid != cid
    entry = parties["buyer"].profile.search.get(new_cid)
    assert entry is None or entry.quantity == 0
    with pytest.raises(UsageError, match="sold out"):
        _order(parties, new_cid)


def test_an_order_for_a_sold_out_listing_is_declined_when_it_arrives(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    seller = parties["seller"].service
    first = _order(parties, cid)
    _pump(parties)
    seller.accept(first)
    _pump(parties)
    # This buyer still holds the revision with 1 left (it has not synced since).
    late = _order(parties, cid)
    _pump(parties)
    for role in ("seller", "buyer"):
        view = parties[role].service.order(late)
        assert view.summary.state == "S11_declined" and view.reason == "sold out"


def test_an_old_revision_is_served_when_only_the_stock_changed_and_more_than_left_is_not(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    catalog = SellerCatalog(parties["seller"].profile)
    listing_id = catalog.resolve(cid).body.listing_id
    cid = str(catalog.set_quantity(listing_id, 3).cid)
    cid = _buyer_syncs(parties, cid)  # the buyer sees 3
    catalog.set_quantity(listing_id, 2)  # the seller's stock moves on (a sale elsewhere)

    too_many = _order(parties, cid, quantity=3)
    fits = _order(parties, cid, quantity=2)  # ordered against the older revision
    _pump(parties)
    view = parties["buyer"].service.order(too_many)
    assert view.summary.state == "S11_declined" and view.reason == "only 2 left"
    assert _state(parties["seller"], fits) == "S1_requested"  # not "the listing changed"
    parties["seller"].service.accept(fits)
    _pump(parties)
    assert _state(parties["seller"], fits) == "S3_escrow_setup"
    assert _quantity(parties, cid)[0] == 0


def test_accepting_declines_the_waiting_orders_the_rest_cannot_fill(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    orders = [_order(parties, cid) for _ in range(3)]
    _pump(parties)
    parties["seller"].service.accept(orders[1])
    _pump(parties)
    states = [_state(parties["buyer"], o) for o in orders]
    assert states == ["S11_declined", "S3_escrow_setup", "S11_declined"]
    # Pressing Accept on one of them now: refused at once, saying why.
    with pytest.raises(UsageError, match=r"^cannot accept this order now \(it is declined: sold"):
        parties["seller"].service.accept(orders[0])


def test_stock_comes_back_when_an_accepted_order_is_cancelled_once(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    order_id = _order(parties, cid)
    _pump(parties)
    parties["seller"].service.accept(order_id)
    _pump(parties)
    assert _quantity(parties, cid) == (0, 2)
    parties["buyer"].service.cancel(order_id, "changed my mind")
    _pump(parties)
    view = parties["seller"].service.order(order_id)
    assert view.summary.state == "S9_cancelled" and view.reason == "changed my mind"
    assert _quantity(parties, cid) == (1, 3)
    assert "Returned to the listing's stock: 1" in [e.detail for e in view.timeline]
    # The order ended; nothing moves the stock again (a timer, a replay).
    parties["seller"].driver.process_timers()
    _pump(parties)
    assert _quantity(parties, cid) == (1, 3)


def test_stock_comes_back_when_an_accepted_order_goes_void(
    parties: dict[str, Party], clock: Clock
) -> None:
    cid = _listing(parties)
    order_id = _order(parties, cid)
    _pump(parties)
    parties["seller"].service.accept(order_id)
    _pump(parties)
    config = parties["seller"].driver.config
    clock.now += config.fund_timeout_s + config.grace_s + 60  # never funded
    parties["seller"].driver.process_timers()
    assert _state(parties["seller"], order_id) == "S10_void"
    assert _quantity(parties, cid) == (1, 3)


def test_a_crash_while_accepting_keeps_neither_the_stock_change_nor_the_state(
    parties: dict[str, Party], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node dies inside the accept's transaction, after the stock was taken: on restart
    the order is still waiting and the stock still there; the accept then runs once."""
    cid = _listing(parties)
    order_id = _order(parties, cid)
    _pump(parties)
    seller = parties["seller"]
    seq = seller.service.accept(order_id)
    store = seller.driver.store

    seen_inside: list[object] = []

    def killed(*args: object, **kwargs: object) -> None:
        # The step's last write: by now the stock is taken, in this same transaction.
        seen_inside.append(seller.driver.stock.reservation(bytes.fromhex(order_id)))
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(store, "finish_command", killed)  # the step's last write
    with pytest.raises(KeyboardInterrupt):
        _pump(parties)
    monkeypatch.undo()
    assert len(seen_inside) == 1 and seen_inside[0] is not None
    assert _state(seller, order_id) == "S1_requested"
    assert _quantity(parties, cid) == (1, 1)
    assert seller.driver.stock.reservation(bytes.fromhex(order_id)) is None

    _pump(parties)  # the restarted node runs the queued accept again
    command = seller.service.command(seq)
    assert command is not None and command.status == "done"
    assert _state(seller, order_id) == "S3_escrow_setup"
    assert _quantity(parties, cid) == (0, 2)


def test_accepting_after_the_seller_emptied_the_stock_declines_with_the_reason(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    order_id = _order(parties, cid)
    _pump(parties)
    catalog = SellerCatalog(parties["seller"].profile)
    catalog.set_quantity(catalog.resolve(cid).body.listing_id, 0)  # sold elsewhere
    seq = parties["seller"].service.accept(order_id)
    _pump(parties)
    command = parties["seller"].service.command(seq)
    assert command is not None and command.status == "failed"
    assert command.error == "sold out: the order was declined"
    for role in ("seller", "buyer"):
        view = parties[role].service.order(order_id)
        assert view.summary.state == "S11_declined" and view.reason == "sold out"
    assert _quantity(parties, cid) == (0, 2)  # nothing taken
