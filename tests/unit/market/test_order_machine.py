"""The order machine with no network and no wallet: events in, actions out."""

import dataclasses

import pytest

from umbra.core import InvalidDocument
from umbra.market import (
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    Command,
    CommitState,
    DeleteShippingData,
    DisputeOpened,
    EscrowFailed,
    EscrowFunded,
    EscrowFundingSent,
    EscrowPaidOut,
    EscrowWrapper,
    EvidenceAdded,
    ExpectPayout,
    ForwardEscrow,
    HaltFunding,
    NotifyUser,
    OrderDecline,
    OrderMachine,
    PaymentReceived,
    ReceiptConfirmed,
    Received,
    Refuse,
    SendTo,
    SetTimer,
    Shipped,
    StartEscrow,
    StartPayout,
    State,
    StoreEvidence,
    Tick,
    TimeoutClaim,
)
from umbra.wallet import EscrowTerms, Payout

from .trade_helpers import (
    CFG,
    DAY,
    HOUR,
    ORDER,
    PAYOUT,
    REFUND,
    T0,
    TOTAL,
    Trade,
    accept,
    direct_request,
    escrow_payload,
    request,
)

S = State
GRACE = CFG.grace_s
TERMS = EscrowTerms(ORDER.hex(), TOTAL, REFUND, PAYOUT)
RELEASE = Payout("release", "buyer", "seller", TOTAL, 0)
REFUND_PAYOUT = Payout("refund", "seller", "buyer", 0, TOTAL)


def stamped(message, sender: str, msg_id: int):  # type: ignore[no-untyped-def]
    return dataclasses.replace(message, order=ORDER, id=msg_id, sender=sender)


def escrow_trade() -> Trade:
    """Three parties in S3 (escrow set-up): ordered at T0, accepted, arbiter joined."""
    t = Trade()
    t.command("buyer", request(), T0)
    t.deliver(T0 + 60)
    t.command("seller", accept(), T0 + HOUR)
    t.deliver(T0 + HOUR)
    t.command("arbiter", ArbiterAccept(), T0 + 2 * HOUR)
    t.deliver(T0 + 2 * HOUR)
    assert t.states() == {"buyer": 3, "seller": 3, "arbiter": 3}
    return t


def funded_trade(at: int = T0 + 3 * HOUR) -> Trade:
    t = escrow_trade()
    for role in ("buyer", "seller", "arbiter"):
        t.feed(role, EscrowFunded(TOTAL, at))
    assert t.states() == {"buyer": 4, "seller": 4, "arbiter": 4}
    return t


def shipped_trade(at: int = T0 + DAY) -> Trade:
    t = funded_trade()
    t.command("seller", Shipped(sealed_tracking=b"sealed tracking"), at)
    t.deliver(at)
    assert t.states() == {"buyer": 5, "seller": 5, "arbiter": 5}
    return t


# -- happy paths ---------------------------------------------------------------------------


def test_escrow_happy_path_action_by_action() -> None:
    t = Trade()
    req = stamped(request(), "buyer", 1)
    assert t.command("buyer", request(), T0) == [
        CommitState(1),
        SendTo("seller", req),
        SendTo("arbiter", req),
        SetTimer(T0 + 48 * HOUR + GRACE, "accept-deadline"),
    ]
    out = t.deliver(T0 + 60)
    assert out["seller"] == [
        CommitState(1),
        NotifyUser("order", "from the buyer"),
        SetTimer(T0 + 60 + 48 * HOUR, "accept-deadline"),  # the seller gets no grace
    ]
    acc = stamped(accept(), "seller", 1)
    assert t.command("seller", accept(), T0 + HOUR) == [
        CommitState(2),
        SendTo("buyer", acc),
        SendTo("arbiter", acc),
        SetTimer(T0 + HOUR + CFG.fund_timeout_s + GRACE, "fund-deadline"),
    ]
    t.deliver(T0 + HOUR)
    join = stamped(ArbiterAccept(), "arbiter", 1)
    assert t.command("arbiter", ArbiterAccept(), T0 + 2 * HOUR) == [
        CommitState(3),
        SendTo("buyer", join),
        SendTo("seller", join),
        StartEscrow(TERMS, "arbiter"),
        SetTimer(T0 + HOUR + CFG.fund_timeout_s + GRACE, "fund-deadline"),
    ]
    out = t.deliver(T0 + 2 * HOUR)
    assert out["buyer"] == [
        CommitState(3),
        NotifyUser("arbiter-accept", "from the arbiter"),
        StartEscrow(TERMS, "buyer"),
        SetTimer(T0 + HOUR + CFG.fund_timeout_s, "fund-deadline"),  # the buyer funds: no grace
    ]
    assert StartEscrow(TERMS, "seller") in out["seller"]
    assert t.feed("buyer", EscrowFundingSent(T0 + 2 * HOUR)) == [
        CommitState(3),
        NotifyUser("escrow-funding-sent"),
    ]
    funded = T0 + 3 * HOUR
    assert t.feed("seller", EscrowFunded(TOTAL, funded)) == [
        CommitState(4),
        NotifyUser("escrow-funded"),
        SetTimer(funded + 5 * DAY, "ship-deadline"),
    ]
    t.feed("buyer", EscrowFunded(TOTAL, funded))
    t.feed("arbiter", EscrowFunded(TOTAL, funded))
    ship = stamped(Shipped(sealed_tracking=b"sealed tracking"), "seller", 2)
    assert t.command("seller", Shipped(sealed_tracking=b"sealed tracking"), T0 + DAY) == [
        CommitState(5),
        SendTo("buyer", ship),
        SendTo("arbiter", ship),
        SetTimer(T0 + DAY + 14 * DAY + GRACE, "confirm-deadline"),
    ]
    t.deliver(T0 + DAY)
    end = T0 + 3 * DAY
    conf = stamped(ReceiptConfirmed(), "buyer", 2)
    purge_at = end + CFG.shipping_retention_s
    assert t.command("buyer", ReceiptConfirmed(), end) == [
        CommitState(6),
        SendTo("seller", conf),
        SendTo("arbiter", conf),
        StartPayout(RELEASE),
        DeleteShippingData(purge_at),
        SetTimer(purge_at, "purge"),
    ]
    out = t.deliver(end)
    assert out["seller"] == [
        CommitState(6),
        NotifyUser("confirm", "from the buyer"),
        ExpectPayout(RELEASE),
        DeleteShippingData(purge_at),
        SetTimer(purge_at, "purge"),
    ]
    assert out["arbiter"] == [
        CommitState(6),
        NotifyUser("confirm", "from the buyer"),
        DeleteShippingData(purge_at),
        SetTimer(purge_at, "purge"),
    ]
    assert t.feed("seller", EscrowPaidOut(("ab" * 32,), end + HOUR)) == [
        CommitState(6),
        NotifyUser("escrow-paid-out"),
    ]


def test_direct_payment_path() -> None:
    t = Trade(("buyer", "seller"))
    acts = t.command("buyer", direct_request(), T0)
    assert [a.to for a in acts if isinstance(a, SendTo)] == ["seller"]  # no arbiter
    t.deliver(T0)
    t.command("seller", accept("direct"), T0 + HOUR)
    t.deliver(T0 + HOUR)
    assert t.states() == {"buyer": 2, "seller": 2}
    # The seller's wallet saw the payment; the buyer learns it from the seller.
    acts = t.command("seller", PaymentReceived(amount=TOTAL), T0 + 2 * HOUR)
    assert acts[0] == CommitState(4)
    assert not any(isinstance(a, StartEscrow | StartPayout | ExpectPayout) for a in acts)
    t.deliver(T0 + 2 * HOUR)
    t.command("seller", Shipped(sealed_tracking=None), T0 + DAY)
    t.deliver(T0 + DAY)
    acts = t.command("buyer", ReceiptConfirmed(), T0 + 2 * DAY)
    t.deliver(T0 + 2 * DAY)
    assert t.states() == {"buyer": 6, "seller": 6}
    assert not any(isinstance(a, StartPayout) for a in acts)


def test_direct_payment_short_of_the_total_is_refused() -> None:
    t = Trade(("buyer", "seller"))
    t.command("buyer", direct_request(), T0)
    t.deliver(T0)
    t.command("seller", accept("direct"), T0)
    t.deliver(T0)
    acts = t.command("seller", PaymentReceived(amount=TOTAL - 1), T0 + HOUR)
    assert acts == [Refuse("not-allowed", acts[0].detail, local=True)]  # type: ignore[union-attr]
    assert "paid-in-full" in acts[0].detail  # type: ignore[union-attr]


def test_direct_confirm_deadline_completes_the_trade() -> None:
    t = Trade(("buyer", "seller"))
    t.command("buyer", direct_request(), T0)
    t.deliver(T0)
    t.command("seller", accept("direct"), T0)
    t.deliver(T0)
    t.command("seller", PaymentReceived(amount=TOTAL), T0)
    t.deliver(T0)
    t.command("seller", Shipped(sealed_tracking=None), T0)
    t.deliver(T0)
    assert t.feed("seller", Tick(T0 + 14 * DAY)) == []  # the seller waits for the buyer
    acts = t.feed("seller", Tick(T0 + 14 * DAY + GRACE))
    assert acts[:2] == [CommitState(6), NotifyUser("confirm-deadline")]
    assert t.state("seller") == S.S6_completed


def test_escrow_messages_are_relayed_both_ways() -> None:
    t = escrow_trade()
    payload = escrow_payload("buyer")
    acts = t.command("buyer", EscrowWrapper(to="arbiter", payload=payload), T0 + 3 * HOUR)
    assert [a for a in acts if isinstance(a, SendTo)] == [
        SendTo("arbiter", stamped(EscrowWrapper(to="arbiter", payload=payload), "buyer", 2))
    ]
    out = t.deliver(T0 + 3 * HOUR)
    assert out["arbiter"] == [CommitState(3), ForwardEscrow("buyer", payload)]
    # An escrow message for another escrow never reaches the escrow machine.
    other = escrow_payload("buyer").replace(ORDER.hex().encode(), b"f" * 32)
    acts = t.command("buyer", EscrowWrapper(to="seller", payload=other), T0 + 3 * HOUR)
    assert isinstance(acts[0], Refuse) and acts[0].reason == "not-allowed"


# -- decline, cancel -------------------------------------------------------------------------


def test_decline() -> None:
    t = Trade()
    t.command("buyer", request(), T0)
    t.deliver(T0)
    acts = t.command("seller", OrderDecline(reason="out of stock"), T0 + HOUR)
    assert acts[0] == CommitState(11)
    out = t.deliver(T0 + HOUR)
    assert t.states() == {"buyer": 11, "seller": 11, "arbiter": 11}
    assert out["buyer"][:2] == [CommitState(11), NotifyUser("decline", "from the seller")]


@pytest.mark.parametrize("who", ["buyer", "seller"])
def test_cancel_before_funding(who: str) -> None:
    t = escrow_trade()
    acts = t.command(who, Cancel(reason="changed my mind"), T0 + 3 * HOUR)
    assert acts[0] == CommitState(9)
    assert (HaltFunding() in acts) == (who == "buyer")
    t.deliver(T0 + 3 * HOUR)
    assert t.states() == {"buyer": 9, "seller": 9, "arbiter": 9}
    assert HaltFunding() in t.actions["buyer"]
    # Funds that arrive anyway go back: the seller proposes a refund, the buyer co-signs.
    assert StartPayout(REFUND_PAYOUT) in t.feed("seller", EscrowFunded(TOTAL, T0 + 4 * HOUR))
    assert ExpectPayout(REFUND_PAYOUT) in t.feed("buyer", EscrowFunded(TOTAL, T0 + 4 * HOUR))
    assert not any(
        isinstance(a, StartPayout | ExpectPayout)
        for a in t.feed("arbiter", EscrowFunded(TOTAL, T0 + 4 * HOUR))
    )


def test_buyer_cannot_cancel_once_its_funding_is_sent() -> None:
    t = escrow_trade()
    t.feed("buyer", EscrowFundingSent(T0 + 3 * HOUR))
    acts = t.command("buyer", Cancel(reason=""), T0 + 3 * HOUR)
    assert len(acts) == 1 and isinstance(acts[0], Refuse) and acts[0].local
    assert t.state("buyer") == S.S3_escrow_setup


def test_seller_cancel_after_funding_refunds() -> None:
    t = funded_trade()
    acts = t.command("seller", Cancel(reason="cannot ship"), T0 + DAY)
    assert StartPayout(REFUND_PAYOUT) in acts
    out = t.deliver(T0 + DAY)
    assert ExpectPayout(REFUND_PAYOUT) in out["buyer"]
    assert t.states() == {"buyer": 9, "seller": 9, "arbiter": 9}
    # The buyer may not cancel once funded.
    t2 = funded_trade()
    acts = t2.command("buyer", Cancel(reason=""), T0 + DAY)
    assert acts == [Refuse("wrong-sender", "the buyer may not send cancel now", local=True)]


def test_escrow_failure_cancels() -> None:
    t = escrow_trade()
    acts = t.feed("buyer", EscrowFailed("addresses differ", T0 + 3 * HOUR))
    assert acts[:3] == [CommitState(9), NotifyUser("escrow-failed"), HaltFunding()]


# -- disputes --------------------------------------------------------------------------------


def test_dispute_and_arbiter_split() -> None:
    t = shipped_trade()
    acts = t.command("buyer", DisputeOpened(sealed_evidence=b"sealed evidence"), T0 + 2 * DAY)
    assert acts[0] == CommitState(7)
    out = t.deliver(T0 + 2 * DAY)
    assert StoreEvidence("buyer", b"sealed evidence") in out["arbiter"]
    assert t.states() == {"buyer": 7, "seller": 7, "arbiter": 7}
    t.command("seller", EvidenceAdded(sealed_evidence=b"seller's side"), T0 + 3 * DAY)
    out = t.deliver(T0 + 3 * DAY)
    assert StoreEvidence("seller", b"seller's side") in out["arbiter"]
    # A split that does not add up to the escrow is refused by the arbiter's own machine.
    bad = ArbiterDecision(to_buyer=TOTAL, to_seller=1, cosigner="buyer", reason="half")
    assert isinstance(t.command("arbiter", bad, T0 + 4 * DAY)[0], Refuse)
    split = Payout("dispute", "arbiter", "buyer", TOTAL - 10**12, 10**12)
    decision = ArbiterDecision(
        to_buyer=10**12, to_seller=TOTAL - 10**12, cosigner="buyer", reason="partly damaged"
    )
    acts = t.command("arbiter", decision, T0 + 4 * DAY)
    assert acts[0] == CommitState(8) and StartPayout(split) in acts
    out = t.deliver(T0 + 4 * DAY)
    assert ExpectPayout(split) in out["buyer"]
    assert not any(isinstance(a, StartPayout | ExpectPayout) for a in out["seller"])
    assert t.states() == {"buyer": 8, "seller": 8, "arbiter": 8}


def test_peers_check_the_arbiters_split_too() -> None:
    t = shipped_trade()
    t.command("seller", DisputeOpened(sealed_evidence=b"e"), T0 + 2 * DAY)
    t.deliver(T0 + 2 * DAY)
    # A forged decision (the arbiter's machine would never send it) is refused by the buyer.
    forged = ArbiterDecision(
        to_buyer=0, to_seller=TOTAL + 5, cosigner="seller", reason="x", order=ORDER, id=9
    )
    forged = dataclasses.replace(forged, sender="arbiter")
    acts = t.feed("buyer", Received(forged, "arbiter", T0 + 3 * DAY))
    assert acts == [Refuse("not-allowed", "decision: the condition 'split-adds-up' does not hold")]


def test_buyer_may_release_during_a_dispute() -> None:
    t = shipped_trade()
    t.command("seller", TimeoutClaim(kind="not-confirmed", note=""), T0 + 16 * DAY)
    t.deliver(T0 + 16 * DAY)
    assert t.states() == {"buyer": 7, "seller": 7, "arbiter": 7}
    acts = t.command("buyer", ReceiptConfirmed(), T0 + 17 * DAY)
    assert StartPayout(RELEASE) in acts
    t.deliver(T0 + 17 * DAY)
    assert t.states() == {"buyer": 6, "seller": 6, "arbiter": 6}


# -- timeouts --------------------------------------------------------------------------------


def test_order_not_accepted_in_48_hours_is_void() -> None:
    t = Trade()
    t.command("buyer", request(), T0)
    t.deliver(T0)
    assert t.feed("seller", Tick(T0 + 48 * HOUR - 1)) == []
    acts = t.feed("seller", Tick(T0 + 48 * HOUR))
    assert acts[:2] == [CommitState(10), NotifyUser("accept-deadline")]
    # The seller can no longer accept; the buyer voids only after the grace period.
    assert isinstance(t.command("seller", accept(), T0 + 48 * HOUR)[0], Refuse)
    assert t.feed("buyer", Tick(T0 + 48 * HOUR)) == []
    assert t.feed("buyer", Tick(T0 + 48 * HOUR + GRACE))[0] == CommitState(10)


def test_a_late_acceptance_is_refused_by_a_voided_buyer() -> None:
    m = OrderMachine.create("buyer", CFG)
    m.handle(Command(request(), T0))
    late = stamped(accept(), "seller", 1)
    acts = m.handle(Received(late, "seller", T0 + 48 * HOUR + GRACE))
    assert acts[0] == CommitState(10)  # the deadline runs first
    assert acts[-1] == Refuse("wrong-state", "accept is not allowed in S10_void")


def test_not_funded_in_time_is_void() -> None:
    t = escrow_trade()
    due = T0 + HOUR + CFG.fund_timeout_s
    acts = t.feed("buyer", Tick(due))
    assert acts[:3] == [CommitState(10), NotifyUser("fund-deadline"), HaltFunding()]


def test_not_shipped_in_time_lets_the_buyer_claim_a_refund() -> None:
    funded = T0 + 3 * HOUR
    t = funded_trade(funded)
    early = t.command("buyer", TimeoutClaim(kind="not-shipped", note=""), funded + 4 * DAY)
    assert isinstance(early[0], Refuse) and "ship-overdue" in early[0].detail
    assert t.feed("buyer", Tick(funded + 5 * DAY + GRACE)) == [
        CommitState(4),
        NotifyUser("ship-deadline"),
    ]
    acts = t.command("buyer", TimeoutClaim(kind="not-shipped", note="nothing"), funded + 6 * DAY)
    assert acts[0] == CommitState(7)
    t.deliver(funded + 6 * DAY)
    assert t.states() == {"buyer": 7, "seller": 7, "arbiter": 7}
    refund = ArbiterDecision(to_buyer=TOTAL, to_seller=0, cosigner="buyer", reason="not shipped")
    assert StartPayout(Payout("dispute", "arbiter", "buyer", 0, TOTAL)) in t.command(
        "arbiter", refund, funded + 7 * DAY
    )


def test_a_claim_crossing_the_shipment_ends_in_the_dispute() -> None:
    funded = T0 + 3 * HOUR
    t = funded_trade(funded)
    late = funded + 6 * DAY
    t.command("seller", Shipped(sealed_tracking=None), late)
    t.command("buyer", TimeoutClaim(kind="not-shipped", note=""), late)
    t.deliver(late)  # the messages cross
    assert t.states() == {"buyer": 7, "seller": 7, "arbiter": 7}


def test_buyer_silent_after_shipping_lets_the_seller_claim_release() -> None:
    shipped = T0 + DAY
    t = shipped_trade(shipped)
    acts = t.feed("seller", Tick(shipped + 14 * DAY + GRACE))
    assert acts == [CommitState(5), NotifyUser("confirm-deadline")]
    acts = t.command("seller", TimeoutClaim(kind="not-confirmed", note=""), shipped + 15 * DAY)
    assert acts[0] == CommitState(7)
    t.deliver(shipped + 15 * DAY)
    decision = ArbiterDecision(to_buyer=0, to_seller=TOTAL, cosigner="seller", reason="silent")
    t.command("arbiter", decision, shipped + 16 * DAY)
    out = t.deliver(shipped + 16 * DAY)
    assert ExpectPayout(Payout("dispute", "arbiter", "seller", TOTAL, 0)) in out["seller"]


def test_shipping_data_is_purged_after_the_trade() -> None:
    t = shipped_trade()
    end = T0 + 3 * DAY
    t.command("buyer", ReceiptConfirmed(), end)
    t.deliver(end)
    seller = t.machines["seller"]
    assert seller.data.request and seller.data.request.sealed_address
    purge_at = end + CFG.shipping_retention_s
    assert seller.next_timer() == SetTimer(purge_at, "purge")
    assert seller.handle(Tick(purge_at)) == [CommitState(6)]
    assert seller.data.request.sealed_address is None
    assert seller.data.shipped and seller.data.shipped.sealed_tracking is None
    assert b"sealed address" not in seller.to_bytes()
    assert seller.next_timer() is None
    assert OrderMachine.from_bytes(seller.to_bytes()).data == seller.data


# -- out-of-place messages --------------------------------------------------------------------


def test_wrong_state_wrong_sender_and_replay_are_refused() -> None:
    t = shipped_trade()
    buyer = t.machines["buyer"]
    before = buyer.to_bytes()
    ship_again = stamped(Shipped(sealed_tracking=None), "seller", 99)
    assert buyer.handle(Received(ship_again, "seller", T0 + 2 * DAY)) == [
        Refuse("wrong-state", "shipped is not allowed in S5_shipped")
    ]
    fake_confirm = stamped(ReceiptConfirmed(), "seller", 50)
    assert buyer.handle(Received(fake_confirm, "seller", T0 + 2 * DAY)) == [
        Refuse("wrong-sender", "the seller may not send confirm")
    ]
    spoofed = stamped(ReceiptConfirmed(), "buyer", 50)  # says "buyer", came from the seller
    assert buyer.handle(Received(spoofed, "seller", T0 + 2 * DAY))[0].reason == "wrong-sender"  # type: ignore[union-attr]
    seller = t.machines["seller"]
    replayed = stamped(request(), "buyer", 1)
    assert seller.handle(Received(replayed, "buyer", T0 + 2 * DAY)) == [
        Refuse("replay", "order #1 from the buyer was seen before")
    ]
    other_order = dataclasses.replace(stamped(ReceiptConfirmed(), "buyer", 7), order=b"x" * 16)
    assert seller.handle(Received(other_order, "buyer", T0 + 2 * DAY))[0].reason == "wrong-order"  # type: ignore[union-attr]
    assert buyer.to_bytes() == before


def test_a_duplicate_escrow_message_is_a_replay() -> None:
    t = escrow_trade()
    t.command("buyer", EscrowWrapper(to="seller", payload=escrow_payload("buyer")), T0)
    to, sender, data = t.inbox[0]
    t.inbox.append((to, sender, data))  # delivered twice (e.g. re-sent after a crash)
    out = t.deliver(T0)
    assert out["seller"][1] == ForwardEscrow("buyer", escrow_payload("buyer"))
    assert out["seller"][-1].reason == "replay"  # type: ignore[union-attr]


def test_early_messages_wait_for_their_state() -> None:
    # The arbiter hears the seller's acceptance before the buyer's order.
    t = Trade()
    t.command("buyer", request(), T0)
    t.deliver(T0)
    t.command("seller", accept(), T0)
    arbiter = OrderMachine.create("arbiter", CFG)
    acc = next(m for to, _, m in _sends(t, "seller") if to == "arbiter")
    assert arbiter.handle(Received(acc, "seller", T0)) == [CommitState(0)]
    req = stamped(request(), "buyer", 1)
    acts = arbiter.handle(Received(req, "buyer", T0 + 1))
    assert arbiter.state == S.S2_accepted
    assert NotifyUser("accept", "from the seller") in acts
    # Early escrow messages wait for the escrow to start.
    early = stamped(EscrowWrapper(to="arbiter", payload=escrow_payload("seller")), "seller", 2)
    assert arbiter.handle(Received(early, "seller", T0 + 2)) == [CommitState(2)]
    acts = arbiter.handle(Command(ArbiterAccept(), T0 + 3))
    assert acts[-1] == ForwardEscrow("seller", escrow_payload("seller"))


def _sends(t: Trade, role: str) -> list[tuple[str, str, object]]:
    return [(a.to, role, a.message) for a in t.actions[role] if isinstance(a, SendTo)]


def test_our_own_bad_moves_are_refused_locally() -> None:
    m = OrderMachine.create("seller", CFG)
    acts = m.handle(Command(request(), T0))  # sellers do not order
    assert acts == [Refuse("wrong-sender", "the seller may not send order", local=True)]
    b = OrderMachine.create("buyer", CFG)
    b.handle(Command(request(), T0))
    acts = b.handle(Command(Shipped(sealed_tracking=None), T0))
    assert acts[0].reason == "wrong-sender"  # type: ignore[union-attr]
    acts = b.handle(Command(ReceiptConfirmed(), T0))
    assert acts == [Refuse("wrong-state", "confirm is not allowed in S1_requested", local=True)]
    assert b.data.next_id == 2  # refused moves use no message id


# -- state serialization ------------------------------------------------------------------------


def test_serialization_round_trip_mid_trade() -> None:
    t = funded_trade()
    t.command("buyer", EscrowWrapper(to="seller", payload=escrow_payload("buyer")), T0 + DAY)
    for role, machine in t.machines.items():
        blob = machine.to_bytes()
        loaded = OrderMachine.from_bytes(blob, CFG)
        assert loaded.data == machine.data
        assert loaded.to_bytes() == blob
        t.machines[role] = loaded
    t.deliver(T0 + DAY)
    t.command("seller", Shipped(sealed_tracking=None), T0 + DAY)
    t.deliver(T0 + DAY)
    t.command("buyer", ReceiptConfirmed(), T0 + 2 * DAY)
    t.deliver(T0 + 2 * DAY)
    assert t.states() == {"buyer": 6, "seller": 6, "arbiter": 6}


def test_stored_state_is_validated() -> None:
    blob = OrderMachine.create("buyer").to_bytes()
    with pytest.raises(InvalidDocument):
        OrderMachine.from_bytes(blob.replace(b"schema\x01", b"schema\x02"))
    with pytest.raises(InvalidDocument):
        OrderMachine.from_bytes(b"\xa0")
    with pytest.raises(InvalidDocument):
        OrderMachine.from_bytes(blob[:-3])
