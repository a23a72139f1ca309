"""The co-signer signs only the payout its own order agreed (`PayoutExpected`).

Events in, actions out: a funded co-signer is asked to co-sign by a peer's `sync`, and the
actions it answers with show whether it would ever reach `SignTxset`.
"""

import pytest

from umbra.core import decode_canonical, encode_canonical
from umbra.wallet import (
    EscrowData,
    EscrowMachine,
    Payout,
    PayoutProposal,
    PayoutRefusal,
    State,
    SyncInfo,
    TxDescription,
)
from umbra.wallet._escrow_machine import payout_mismatch
from umbra.wallet._escrow_types import (
    Described,
    DescribeTxset,
    EscrowAction,
    EscrowEvent,
    Exported,
    ExportInfo,
    FundingObserved,
    Imported,
    ImportInfo,
    MessageReceived,
    Notify,
    PayoutExpected,
    Send,
    SignTxset,
)

from .test_escrow_machine import BUYER, ESCROW_ADDR, ROLES, SELLER, TERMS, simulate

REFUND = Payout("refund", "seller", "buyer", 0, 2_000)
SPLIT = Payout("dispute", "arbiter", "buyer", 500, 1_500)


def funded(role: str = "buyer") -> EscrowMachine:
    """A party whose escrow is funded and confirmed, no payout under way."""
    m = EscrowMachine.create(TERMS, role, wallet_name="w", wallet_password="p")  # type: ignore[arg-type]
    m.data.state, m.data.address, m.data.funded_amount = State.S7_FUNDED, ESCROW_ADDR, 2_000
    return m


def sync(payout: Payout, seq: int = 1) -> MessageReceived:
    return MessageReceived(SyncInfo("e1", payout.proposer, seq, payout, f"info-{seq}"))


def restart(m: EscrowMachine) -> EscrowMachine:
    """The machine as the store gives it back after a restart (canonical bytes)."""
    return EscrowMachine(
        EscrowData.from_wire(decode_canonical(encode_canonical(m.data.to_wire()), max_size=1 << 20))
    )


def refused(payout: Payout, expected: Payout | None, seq: int = 1) -> list[EscrowAction]:
    reason = payout_mismatch(expected, payout)
    return [
        Send(payout.proposer, PayoutRefusal("e1", payout.cosigner, seq, reason[:200], False)),
        Notify("warning", reason),
    ]


def signs(m: EscrowMachine, payout: Payout, *, pays: dict[str, int] | None = None) -> bool:
    """Drive a co-signer that began ``payout`` to its describe step: does it sign?"""
    d = m.data
    steps: list[EscrowEvent] = [
        Exported(d.seq, "mine"),
        Imported(d.seq),
        MessageReceived(PayoutProposal("e1", payout.proposer, d.seq, payout, "txset")),
    ]
    for event in steps:
        m.handle(event)
    assert m.data.pending_op == "DescribeTxset"
    recipients = pays or {SELLER: payout.to_seller, BUYER: payout.to_buyer - 10}
    desc = TxDescription(2_000, tuple((a, v) for a, v in recipients.items() if v), 10, "", 0)
    actions = m.handle(Described(d.seq, desc))
    return any(isinstance(a, SignTxset) for a in actions)


def test_with_no_agreed_payout_a_request_to_cosign_waits_and_nothing_is_signed() -> None:
    m = funded()
    assert m.handle(sync(REFUND)) == []
    assert m.state == State.S7_FUNDED and m.data.seq == 0 and len(m.data.deferred) == 1
    # Over a whole escrow: the proposer's request is kept, never signed, nobody is paid.
    machines = simulate(REFUND, expect_when="never")
    assert machines["buyer"].state == State.S7_FUNDED
    assert len(machines["buyer"].data.deferred) == 1
    assert machines["seller"].state == State.S8_SYNCING  # still waiting for an answer
    assert all(m.data.txids == () for m in machines.values())


def test_the_agreed_payout_is_cosigned() -> None:
    m = funded()
    assert m.handle(PayoutExpected(REFUND)) == []
    assert m.handle(sync(REFUND)) == [ExportInfo(1)]
    assert m.handle(Exported(1, "mine")) == [
        Send("seller", SyncInfo("e1", "buyer", 1, REFUND, "mine")),
        ImportInfo(1, ("info-1",)),
    ]
    assert m.handle(Imported(1)) == []
    proposal = PayoutProposal("e1", "seller", 1, REFUND, "txset")
    assert m.handle(MessageReceived(proposal)) == [DescribeTxset(1, "txset")]
    desc = TxDescription(2_000, ((BUYER, 1_990),), 10, "", 0)
    assert m.handle(Described(1, desc)) == [SignTxset(1, "txset")]
    machines = simulate(SPLIT)
    assert {r: x.state for r, x in machines.items()} == {r: State.S10_PAID_OUT for r in ROLES}


@pytest.mark.parametrize(
    ("proposed", "differs"),
    [
        (Payout("dispute", "arbiter", "buyer", 0, 2_000), "kind, proposer"),  # not a refund
        (Payout("refund", "arbiter", "buyer", 0, 2_000), "proposer"),  # same split, wrong hand
        (Payout("refund", "seller", "buyer", 0, 1_999), "to_buyer"),  # an amount
    ],
)
def test_a_proposal_other_than_the_agreed_one_is_refused(proposed: Payout, differs: str) -> None:
    m = funded()
    m.handle(PayoutExpected(REFUND))
    actions = m.handle(sync(proposed))
    assert actions == refused(proposed, REFUND)
    assert f"differs in {differs} from the agreed refund" in actions[1].text  # type: ignore[union-attr]
    assert m.state == State.S7_FUNDED and m.data.seq == 0 and m.data.deferred == []


def test_a_split_with_other_amounts_is_refused() -> None:
    """The arbiter's decision gave the buyer 1,500; its escrow asks the buyer to sign 1,999
    to the seller before anything shipped: same kind, same hands, same total."""
    greedy = Payout("dispute", "arbiter", "buyer", 1_999, 1)
    m = funded()
    m.handle(PayoutExpected(SPLIT))
    assert m.handle(sync(greedy)) == refused(greedy, SPLIT)
    # Over a whole escrow (the arbiter insists after each refusal): the buyer never starts
    # a payout attempt and nobody is paid.
    machines = simulate(greedy, expected=SPLIT)
    assert machines["buyer"].state == State.S7_FUNDED and machines["buyer"].data.seq == 0
    assert machines["arbiter"].data.seq > 1
    assert all(x.data.txids == () for x in machines.values())


def test_a_transaction_set_paying_another_address_is_not_signed() -> None:
    m = funded()
    m.handle(PayoutExpected(REFUND))
    m.handle(sync(REFUND))
    assert not signs(m, REFUND, pays={"4" + "D" * 94: 1_990})
    assert m.state == State.S7_FUNDED
    assert "not in the agreement" in m.data.last_refusal


def test_a_request_before_the_agreement_is_kept_then_cosigned() -> None:
    m = funded()
    assert m.handle(sync(REFUND)) == []
    assert m.handle(PayoutExpected(REFUND)) == [ExportInfo(1)]
    assert m.data.deferred == [] and m.data.peer_sync == "info-1" and m.data.payout == REFUND
    assert signs(m, REFUND)
    machines = simulate(REFUND, expect_when="late")
    assert {r: x.state for r, x in machines.items()} == {r: State.S10_PAID_OUT for r in ROLES}


def test_a_request_before_the_agreement_is_refused_when_it_differs() -> None:
    m = funded()
    m.handle(sync(SPLIT))
    assert m.handle(PayoutExpected(REFUND)) == refused(SPLIT, REFUND)
    assert m.data.deferred == [] and m.state == State.S7_FUNDED


def test_a_restart_in_between_keeps_the_request_and_the_agreement() -> None:
    m = restart(funded())
    m.handle(sync(REFUND))
    m = restart(m)
    assert len(m.data.deferred) == 1
    assert m.handle(PayoutExpected(REFUND)) == [ExportInfo(1)]
    # And the other way round: the agreement first, then a restart, then the request.
    m = funded()
    m.handle(PayoutExpected(REFUND))
    m = restart(m)
    assert m.data.expected == REFUND
    assert m.handle(sync(REFUND)) == [ExportInfo(1)]
    m = funded()
    m.handle(PayoutExpected(REFUND))
    assert restart(m).handle(sync(SPLIT)) == refused(SPLIT, REFUND)


def test_records_written_before_the_agreement_field_read_as_none() -> None:
    wire = funded().data.to_wire()
    del wire["expected"]
    assert EscrowData.from_wire(wire).expected is None


def test_a_second_agreement_does_not_replace_the_first() -> None:
    m = funded()
    m.handle(PayoutExpected(REFUND))
    assert m.handle(PayoutExpected(REFUND)) == []  # fed again at every driver start
    actions = m.handle(PayoutExpected(SPLIT))
    assert [type(a) for a in actions] == [Notify] and m.data.expected == REFUND


@pytest.mark.parametrize(
    "bad",
    [
        Payout("release", "buyer", "seller", 2_000, 0),  # the seller co-signs that one
        Payout("refund", "buyer", "seller", 0, 2_000),  # no such shape
    ],
)
def test_an_agreement_we_cannot_cosign_is_not_kept(bad: Payout) -> None:
    m = funded()
    actions = m.handle(PayoutExpected(bad))
    assert [a.level for a in actions if isinstance(a, Notify)] == ["error"]
    assert m.data.expected is None


def test_a_cosigner_mid_payout_without_an_agreement_does_not_sign() -> None:
    """A record from before this rule, caught between the request and the signature."""
    m = funded()
    m.handle(PayoutExpected(REFUND))
    m.handle(sync(REFUND))
    m.data.expected = None
    assert not signs(m, REFUND)
    assert "agreed no payout" in m.data.last_refusal


def test_one_waiting_request_per_sender_however_many_it_sends() -> None:
    m = funded()
    for seq in range(1, 50):
        assert m.handle(sync(SPLIT, seq)) == []
    m.handle(sync(SPLIT, 3))  # an older attempt does not replace the newest
    assert m.handle(sync(REFUND)) == []  # the honest proposer's request is still kept
    assert len(m.data.deferred) == 2
    actions = m.handle(PayoutExpected(REFUND))
    assert actions[:2] == refused(SPLIT, REFUND, seq=49)
    assert actions[2:] == [ExportInfo(1)]
    assert m.data.deferred == [] and m.data.payout == REFUND


def test_a_request_that_must_wait_longer_is_tried_once_per_step() -> None:
    """A request kept while the funding was unconfirmed is tried when it is confirmed, and
    kept again (no agreement yet): tried once, not replayed in an endless loop."""
    m = funded()
    m.data.state, m.data.pending_op = State.S6_AWAITING_FUNDING, "WatchFunding"
    m.handle(sync(REFUND))
    actions = m.handle(FundingObserved(2_000, 10))
    assert [type(a) for a in actions] == [Notify] and m.state == State.S7_FUNDED
    assert len(m.data.deferred) == 1
    assert m.handle(PayoutExpected(REFUND)) == [ExportInfo(1)]
