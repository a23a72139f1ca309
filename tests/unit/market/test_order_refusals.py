"""The order machine's bounds on what a peer can make it remember, at and past each limit.

`MAX_MESSAGES_PER_SENDER` caps the message ids kept per sender (replay protection) and
`MAX_EARLY_MESSAGES` the messages kept waiting for a later state. Both are refusals a hostile
peer will try to push through; each is tested at its limit and one past it.
"""

import dataclasses

import pytest

from umbra.market import (
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    Command,
    CommitState,
    DisputeOpened,
    EscrowFunded,
    EscrowWrapper,
    EvidenceAdded,
    ForwardEscrow,
    HaltFunding,
    NotifyUser,
    OrderConfig,
    OrderMachine,
    Received,
    Refuse,
    SendTo,
    SetTimer,
    Shipped,
    StartPayout,
    State,
    Tick,
    TimeoutClaim,
)
from umbra.market._order_table import allowed_later, rule_for
from umbra.market._trade_limits import (
    MAX_EARLY_MESSAGES,
    MAX_EARLY_PER_SENDER,
    MAX_MESSAGES_PER_SENDER,
)
from umbra.wallet import Payout

from .trade_helpers import (
    CFG,
    DAY,
    HOUR,
    ORDER,
    T0,
    TOTAL,
    Trade,
    accept,
    direct_request,
    escrow_payload,
    request,
)


def stamped(message, sender: str, msg_id: int):  # type: ignore[no-untyped-def]
    return dataclasses.replace(message, order=ORDER, id=msg_id, sender=sender)


def wrapper(sender: str, to: str, msg_id: int) -> EscrowWrapper:
    return stamped(EscrowWrapper(to=to, payload=escrow_payload(sender)), sender, msg_id)  # type: ignore[no-any-return]


def escrow_setup() -> Trade:
    """Three machines in S3 (escrow set-up): escrow messages are accepted any number of times."""
    t = Trade()
    t.command("buyer", request(), T0)
    t.deliver(T0)
    t.command("seller", accept(), T0 + HOUR)
    t.deliver(T0 + HOUR)
    t.command("arbiter", ArbiterAccept(), T0 + 2 * HOUR)
    t.deliver(T0 + 2 * HOUR)
    assert t.states() == {"buyer": 3, "seller": 3, "arbiter": 3}
    return t


def test_limits() -> None:
    assert MAX_MESSAGES_PER_SENDER == 10_000
    assert MAX_EARLY_MESSAGES == 16
    assert MAX_EARLY_PER_SENDER == 8


def test_per_sender_cap_accepts_the_last_message_and_refuses_the_next() -> None:
    seller = escrow_setup().machines["seller"]
    # The buyer has sent MAX - 1 messages (its order among them): fill in the rest.
    seen = seller.data.seen["buyer"]
    seen.update(range(1_000, 1_000 + MAX_MESSAGES_PER_SENDER - 1 - len(seen)))
    assert len(seen) == MAX_MESSAGES_PER_SENDER - 1
    last = wrapper("buyer", "seller", 500)
    acts = seller.handle(Received(last, "buyer", T0 + 3 * HOUR))
    assert ForwardEscrow("buyer", last.payload) in acts
    assert len(seller.data.seen["buyer"]) == MAX_MESSAGES_PER_SENDER

    before = seller.to_bytes()
    acts = seller.handle(Received(wrapper("buyer", "seller", 501), "buyer", T0 + 3 * HOUR))
    assert acts == [Refuse("too-many", "too many messages from the buyer")]
    assert seller.to_bytes() == before
    # The cap is per sender: the arbiter's messages still go through.
    from_arbiter = wrapper("arbiter", "seller", 500)
    acts = seller.handle(Received(from_arbiter, "arbiter", T0 + 3 * HOUR))
    assert ForwardEscrow("arbiter", from_arbiter.payload) in acts


def test_a_replay_at_the_cap_is_still_called_a_replay() -> None:
    seller = escrow_setup().machines["seller"]
    seen = seller.data.seen["buyer"]
    seen.update(range(1_000, 1_000 + MAX_MESSAGES_PER_SENDER - len(seen)))
    acts = seller.handle(Received(wrapper("buyer", "seller", 1_000), "buyer", T0 + 3 * HOUR))
    assert acts == [Refuse("replay", "escrow #1000 from the buyer was seen before")]


def arbiter_in_s2() -> OrderMachine:
    """An arbiter that has the order and the acceptance but has not joined yet: escrow
    messages from the others are early (allowed once the escrow starts)."""
    arbiter = OrderMachine.create("arbiter", CFG)
    arbiter.handle(Received(stamped(request(), "buyer", 1), "buyer", T0))
    arbiter.handle(Received(stamped(accept(), "seller", 1), "seller", T0))
    assert arbiter.state == State.S2_accepted
    return arbiter


def test_early_cap_keeps_the_last_message_and_refuses_the_next() -> None:
    arbiter = arbiter_in_s2()
    for msg_id in range(2, 2 + MAX_EARLY_PER_SENDER):
        acts = arbiter.handle(Received(wrapper("seller", "arbiter", msg_id), "seller", T0 + 1))
        assert acts == [CommitState(int(State.S2_accepted))]
    assert len(arbiter.data.early) == MAX_EARLY_PER_SENDER

    before = arbiter.to_bytes()
    one_more = wrapper("seller", "arbiter", 2 + MAX_EARLY_PER_SENDER)
    assert arbiter.handle(Received(one_more, "seller", T0 + 1)) == [
        Refuse("too-many", "too many messages waiting for a later state")
    ]
    assert arbiter.to_bytes() == before
    # The cap is per sender: the seller's flood leaves the buyer its own room, up to the
    # order's bound for all senders together.
    for msg_id in range(2, 2 + MAX_EARLY_PER_SENDER):
        acts = arbiter.handle(Received(wrapper("buyer", "arbiter", msg_id), "buyer", T0 + 1))
        assert acts == [CommitState(int(State.S2_accepted))]
    assert len(arbiter.data.early) == MAX_EARLY_MESSAGES
    from_buyer = wrapper("buyer", "arbiter", 2 + MAX_EARLY_PER_SENDER)
    assert arbiter.handle(Received(from_buyer, "buyer", T0 + 1))[0].reason == "too-many"  # type: ignore[union-attr]

    # Once the arbiter joins, every kept message is applied and the room is free again.
    acts = arbiter.handle(Command(ArbiterAccept(), T0 + 2))
    assert sum(isinstance(a, ForwardEscrow) for a in acts) == MAX_EARLY_MESSAGES
    assert sum(isinstance(a, SendTo) for a in acts) == 2
    assert arbiter.data.early == []
    acts = arbiter.handle(Received(one_more, "seller", T0 + 3))
    assert ForwardEscrow("seller", one_more.payload) in acts


def test_a_message_that_lies_about_its_sender_is_refused_even_if_the_liar_may_send_it() -> None:
    t = escrow_setup()
    for role in ("buyer", "seller", "arbiter"):
        t.feed(role, EscrowFunded(TOTAL, T0 + 3 * HOUR))
    buyer = t.machines["buyer"]
    before = buyer.to_bytes()
    # The seller may ship, but this "shipped" says it comes from the arbiter.
    lie = stamped(Shipped(sealed_tracking=None), "arbiter", 9)
    assert buyer.handle(Received(lie, "seller", T0 + DAY)) == [
        Refuse("wrong-sender", "shipped claims to be from the arbiter")
    ]
    assert buyer.to_bytes() == before


def test_a_message_from_ourselves_is_refused() -> None:
    t = escrow_setup()
    for role in ("buyer", "seller", "arbiter"):
        t.feed(role, EscrowFunded(TOTAL, T0 + 3 * HOUR))
    buyer = t.machines["buyer"]
    before = buyer.to_bytes()
    # A "dispute" from the buyer, delivered to the buyer: a reflected or forged message.
    mine = stamped(DisputeOpened(sealed_evidence=b"evidence"), "buyer", 9)
    assert buyer.handle(Received(mine, "buyer", T0 + DAY)) == [
        Refuse("wrong-sender", "dispute claims to be from the buyer")
    ]
    assert buyer.to_bytes() == before


def test_in_a_direct_trade_the_arbiter_is_nobody() -> None:
    t = Trade(("buyer", "seller"))
    t.command("buyer", direct_request(), T0)
    t.deliver(T0)
    t.command("seller", accept("direct"), T0 + HOUR)
    t.deliver(T0 + HOUR)
    buyer = t.machines["buyer"]
    before = buyer.to_bytes()
    join = stamped(ArbiterAccept(), "arbiter", 1)
    assert buyer.handle(Received(join, "arbiter", T0 + 2 * HOUR)) == [
        Refuse("wrong-sender", "the arbiter may not send arbiter-accept")
    ]
    assert buyer.to_bytes() == before


# -- our own moves --------------------------------------------------------------------------------


def test_our_own_message_that_would_not_parse_is_refused_locally() -> None:
    t = escrow_setup()
    seller = t.machines["seller"]
    too_long = Cancel(reason="r" * 501)
    acts = seller.handle(Command(too_long, T0 + 3 * HOUR))
    assert acts == [
        Refuse(
            "not-allowed",
            "rejected (bad-field): cancel.reason: expected text of at most 500 characters",
            local=True,
        )
    ]
    assert seller.data.next_id == 2  # no message id was used


def test_a_second_order_command_keeps_the_order_id_it_has() -> None:
    t = escrow_setup()
    buyer = t.machines["buyer"]
    unstamped = dataclasses.replace(request(), order=b"")  # the driver did not pick an id
    assert buyer.handle(Command(unstamped, T0 + 3 * HOUR)) == [
        Refuse("wrong-state", "order is not allowed in S3_escrow_setup", local=True)
    ]


def test_a_machine_without_a_config_uses_the_protocol_defaults() -> None:
    machine = OrderMachine.create("buyer")
    assert machine.config == OrderConfig()
    assert machine.role == "buyer"
    acts = machine.handle(Command(request(), T0))
    assert (
        SetTimer(T0 + OrderConfig().accept_timeout_s + OrderConfig().grace_s, "accept-deadline")
        in acts
    )


def test_an_escrow_message_for_another_party_is_refused() -> None:
    seller = escrow_setup().machines["seller"]
    before = seller.to_bytes()
    for_the_arbiter = wrapper("buyer", "arbiter", 5)
    assert seller.handle(Received(for_the_arbiter, "buyer", T0 + 3 * HOUR)) == [
        Refuse("wrong-sender", "an escrow message addressed to another party")
    ]
    assert seller.to_bytes() == before


def test_a_local_event_the_table_does_not_allow_is_refused_locally() -> None:
    buyer = OrderMachine.create("buyer", CFG)
    buyer.handle(Command(request(), T0))
    assert buyer.handle(EscrowFunded(TOTAL, T0 + 1)) == [
        Refuse("wrong-state", "escrow-funded is not allowed in S1_requested", local=True)
    ]
    assert buyer.state == State.S1_requested


def test_a_message_still_early_after_a_state_change_keeps_waiting() -> None:
    arbiter = OrderMachine.create("arbiter", CFG)
    arbiter.handle(Received(stamped(request(), "buyer", 1), "buyer", T0))
    early = wrapper("seller", "arbiter", 2)
    assert arbiter.handle(Received(early, "seller", T0 + 1)) == [CommitState(1)]
    # The acceptance moves the arbiter on, but escrow messages wait for the escrow set-up.
    acts = arbiter.handle(Received(stamped(accept(), "seller", 1), "seller", T0 + 2))
    assert arbiter.state == State.S2_accepted
    assert not any(isinstance(a, ForwardEscrow | Refuse) for a in acts)
    assert arbiter.data.early == [("seller", early)]
    acts = arbiter.handle(Command(ArbiterAccept(), T0 + 3))
    assert acts[-1] == ForwardEscrow("seller", early.payload)
    assert arbiter.data.early == []


def test_early_messages_are_retried_until_none_applies() -> None:
    """A waiting message that only the next waiting message makes applicable is applied in a
    second pass: the escrow message waits for the arbiter's acceptance, which itself waits
    for the seller's acceptance."""
    buyer = OrderMachine.create("buyer", CFG)
    buyer.handle(Command(request(), T0))
    escrow = wrapper("seller", "buyer", 2)
    join = stamped(ArbiterAccept(), "arbiter", 1)
    assert buyer.handle(Received(escrow, "seller", T0 + 1)) == [CommitState(1)]
    assert buyer.handle(Received(join, "arbiter", T0 + 2)) == [CommitState(1)]
    acts = buyer.handle(Received(stamped(accept(), "seller", 1), "seller", T0 + 3))
    assert buyer.state == State.S3_escrow_setup
    assert ForwardEscrow("seller", escrow.payload) in acts
    assert buyer.data.early == []


# -- guards at their boundaries -------------------------------------------------------------------

FUNDED_AT = T0 + 3 * HOUR


def funded_trade() -> Trade:
    t = escrow_setup()
    for role in ("buyer", "seller", "arbiter"):
        t.feed(role, EscrowFunded(TOTAL, FUNDED_AT))
    assert t.states() == {"buyer": 4, "seller": 4, "arbiter": 4}
    return t


def test_a_not_shipped_claim_opens_at_exactly_its_second() -> None:
    seller = funded_trade().machines["seller"]
    opens = seller.claim_opens_at("not-shipped")
    assert opens == FUNDED_AT + 5 * DAY - CFG.grace_s
    claim = stamped(TimeoutClaim(kind="not-shipped", note=""), "buyer", 5)
    refused = seller.handle(Received(claim, "buyer", opens - 1))
    assert refused == [
        Refuse("not-allowed", "claim:not-shipped: the condition 'ship-overdue' does not hold")
    ]
    acts = seller.handle(Received(claim, "buyer", opens))
    assert seller.state == State.S7_disputed
    assert NotifyUser("claim:not-shipped", "from the buyer") in acts


def dispute(t: Trade) -> Trade:
    t.command("buyer", DisputeOpened(sealed_evidence=b"sealed"), FUNDED_AT + DAY)
    t.deliver(FUNDED_AT + DAY)
    assert t.states() == {"buyer": 7, "seller": 7, "arbiter": 7}
    return t


def test_the_dispute_opener_is_kept_and_evidence_does_not_change_it() -> None:
    t = dispute(funded_trade())
    t.command("seller", EvidenceAdded(sealed_evidence=b"mine"), FUNDED_AT + 2 * DAY)
    t.deliver(FUNDED_AT + 2 * DAY)
    assert {m.data.disputed_by for m in t.machines.values()} == {"buyer"}


@pytest.mark.parametrize(
    ("to_buyer", "cosigner", "allowed"),
    [
        (1, "buyer", True),  # the co-signer's share: at least one piconero (it pays the fee)
        (0, "buyer", False),
        (TOTAL - 1, "seller", True),
        (TOTAL, "seller", False),
    ],
)
def test_a_split_must_leave_the_cosigner_a_share(
    to_buyer: int, cosigner: str, allowed: bool
) -> None:
    arbiter = dispute(funded_trade()).machines["arbiter"]
    decision = ArbiterDecision(
        to_buyer=to_buyer, to_seller=TOTAL - to_buyer, cosigner=cosigner, reason="r"
    )
    acts = arbiter.handle(Command(decision, FUNDED_AT + 3 * DAY))
    if allowed:
        assert arbiter.state == State.S8_resolved
    else:
        assert acts == [
            Refuse(
                "not-allowed", "decision: the condition 'split-adds-up' does not hold", local=True
            )
        ]


@pytest.mark.parametrize("to_buyer", [TOTAL // 2 - 1, TOTAL // 2 + 1])
def test_a_split_must_add_up_to_the_escrow(to_buyer: int) -> None:
    arbiter = dispute(funded_trade()).machines["arbiter"]
    decision = ArbiterDecision(
        to_buyer=to_buyer, to_seller=TOTAL // 2, cosigner="buyer", reason="r"
    )
    assert arbiter.handle(Command(decision, FUNDED_AT + 3 * DAY))[0].reason == "not-allowed"  # type: ignore[union-attr]


def test_an_escrow_message_whose_payload_does_not_parse_is_refused() -> None:
    seller = escrow_setup().machines["seller"]
    junk = stamped(EscrowWrapper(to="seller", payload=b"\xa0"), "buyer", 5)  # never parsed
    assert seller.handle(Received(junk, "buyer", T0 + 3 * HOUR)) == [
        Refuse("not-allowed", "escrow: the condition 'escrow-relay' does not hold")
    ]


@pytest.mark.parametrize(
    ("role", "halts"), [("buyer", True), ("seller", False), ("arbiter", False)]
)
def test_only_the_buyer_stops_funding_at_the_deadline(role: str, halts: bool) -> None:
    machine = escrow_setup().machines[role]
    deadline = machine.next_timer()
    assert deadline is not None and deadline.input == "fund-deadline"
    acts = machine.handle(Tick(deadline.at))
    assert machine.state == State.S10_void
    assert (HaltFunding() in acts) == halts


def test_a_buyer_without_an_escrow_has_no_funding_to_stop() -> None:
    t = Trade()
    t.command("buyer", request(), T0)
    t.deliver(T0)
    t.command("seller", accept(), T0 + HOUR)
    t.deliver(T0 + HOUR)  # no arbiter yet: the escrow has not started
    buyer = t.machines["buyer"]
    deadline = buyer.next_timer()
    assert deadline is not None
    acts = buyer.handle(Tick(deadline.at))
    assert buyer.state == State.S10_void
    assert HaltFunding() not in acts


def test_a_second_payout_is_refused_with_a_notice() -> None:
    t = funded_trade()
    seller = t.machines["seller"]
    acts = seller.handle(Command(Cancel(reason="out of stock"), FUNDED_AT + HOUR))
    refund = Payout("refund", "seller", "buyer", 0, TOTAL)
    assert StartPayout(refund) in acts
    # Funds arriving again after the end would ask for a second refund: not set twice.
    acts = seller.handle(EscrowFunded(TOTAL, FUNDED_AT + 2 * HOUR))
    assert NotifyUser("payout-conflict", "a refund payout is already set") in acts
    assert seller.data.payout == refund


def test_the_table_cannot_be_changed_at_run_time_and_answers_plain_booleans() -> None:
    rule = rule_for(State.S0_draft, "order", None)
    assert rule is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.next = State.S6_completed  # type: ignore[misc]
    assert allowed_later(State.S0_draft, "confirm", "buyer", "escrow") is True
    assert allowed_later(State.S6_completed, "order", "buyer", "escrow") is False
    assert allowed_later(State.S1_requested, "confirm", "seller", "escrow") is False
