"""The escrow machine's refusals and thresholds, at each boundary and one step past it.

The queue of deferred payout messages (`MAX_DEFERRED`), the funding threshold (amount and
confirmations), the funding deadline, the fee cap of a payout and its exact total: each is
pinned where it flips.
"""

import pytest

from umbra.wallet import (
    EscrowMachine,
    EscrowProtocolError,
    EscrowTerms,
    Payout,
    State,
    SyncInfo,
    TxDescription,
    check_description,
    encode_message,
)
from umbra.wallet._escrow_machine import MAX_DEFERRED
from umbra.wallet._escrow_types import (
    ExportInfo,
    FundingExpired,
    FundingObserved,
    MessageReceived,
    Notify,
    ProposePayout,
    WatchFunding,
)

SELLER = "4" + "A" * 94
BUYER = "4" + "B" * 94
ESCROW_ADDR = "5" + "C" * 94
TERMS = EscrowTerms("e1", 2_000, BUYER, SELLER, confirmations=10, max_fee=100)
RELEASE = Payout("release", "buyer", "seller", 2_000, 0)


def machine(role: str = "seller", state: State = State.S6_AWAITING_FUNDING) -> EscrowMachine:
    m = EscrowMachine.create(TERMS, role, wallet_name="w", wallet_password="p")  # type: ignore[arg-type]
    m.data.state, m.data.address = state, ESCROW_ADDR
    return m


def funded(role: str = "buyer") -> EscrowMachine:
    m = machine(role, State.S7_FUNDED)
    m.data.funded_amount = 2_000
    return m


def test_limit_value() -> None:
    assert MAX_DEFERRED == 8


def test_deferred_queue_keeps_the_last_message_and_refuses_the_next() -> None:
    m = machine()
    for seq in range(1, MAX_DEFERRED + 1):
        assert m.handle(MessageReceived(SyncInfo("e1", "buyer", seq, RELEASE, f"s{seq}"))) == []
    assert len(m.data.deferred) == MAX_DEFERRED
    # A message already waiting is not counted twice, even with the queue full.
    again = SyncInfo("e1", "buyer", 1, RELEASE, "s1")
    assert m.handle(MessageReceived(again)) == []
    assert m.data.deferred[0] == encode_message(again)
    with pytest.raises(EscrowProtocolError, match="too many payout messages waiting"):
        m.handle(MessageReceived(SyncInfo("e1", "buyer", MAX_DEFERRED + 1, RELEASE, "x")))
    assert len(m.data.deferred) == MAX_DEFERRED
    assert m.state == State.S6_AWAITING_FUNDING


def test_funding_needs_the_full_amount_and_every_confirmation() -> None:
    for amount, confirmations in ((1_999, 10), (2_000, 9), (0, 0)):
        m = machine()
        m.data.pending_op = "WatchFunding"
        assert m.handle(FundingObserved(amount, confirmations)) == [WatchFunding(2_000)]
        assert m.state == State.S6_AWAITING_FUNDING
        assert m.data.funded_amount == 0
    for amount in (2_000, 2_001):
        m = machine()
        m.data.pending_op = "WatchFunding"
        m.handle(FundingObserved(amount, 10))
        assert m.state == State.S7_FUNDED
        assert m.data.funded_amount == amount


def test_the_most_seen_funding_and_the_latest_look_are_kept() -> None:
    m = machine()
    m.data.pending_op = "WatchFunding"
    m.handle(FundingObserved(1_500, 0, at=50))
    m.handle(FundingObserved(700, 0, at=40))
    assert (m.data.funding_seen, m.data.funding_checked_at) == (1_500, 50)


def test_no_deadline_means_the_escrow_never_expires() -> None:
    m = machine()
    m.data.pending_op = "WatchFunding"
    assert not m.funding_expired_at(10**12)
    assert m.handle(FundingExpired(10**12)) == []
    assert m.state == State.S6_AWAITING_FUNDING


def test_a_funding_txid_or_coins_seen_keep_the_escrow_past_its_deadline() -> None:
    terms = EscrowTerms("e1", 2_000, BUYER, SELLER, funding_expires_at=1_000)
    for attribute, value in (("funding_txid", "ab" * 32), ("funding_seen", 1)):
        m = EscrowMachine.create(terms, "seller", wallet_name="w", wallet_password="p")
        m.data.state, m.data.pending_op = State.S6_AWAITING_FUNDING, "WatchFunding"
        setattr(m.data, attribute, value)
        assert not m.funding_expired_at(5_000)
        assert m.handle(FundingExpired(5_000)) == []
        assert m.state == State.S6_AWAITING_FUNDING
    funded_escrow = EscrowMachine.create(terms, "seller", wallet_name="w", wallet_password="p")
    funded_escrow.data.state = State.S7_FUNDED
    assert not funded_escrow.funding_expired_at(5_000)


def test_a_set_up_that_never_ends_expires_at_the_deadline() -> None:
    terms = EscrowTerms("e1", 2_000, BUYER, SELLER, funding_expires_at=1_000)
    m = EscrowMachine.create(terms, "seller", wallet_name="w", wallet_password="p")
    m.data.state, m.data.pending_op = State.S2_PREPARED, "MakeMultisig"
    assert not m.funding_expired_at(999)
    assert m.funding_expired_at(1_000)
    actions = m.handle(FundingExpired(1_000))
    assert m.state == State.S98_EXPIRED
    assert m.data.pending_op == ""
    assert [a.level for a in actions if isinstance(a, Notify)] == ["warning"]


@pytest.mark.parametrize("total", [1_999, 2_001])
def test_a_payout_must_split_exactly_the_funded_amount(total: int) -> None:
    m = funded()
    actions = m.handle(ProposePayout(Payout("release", "buyer", "seller", total, 0)))
    assert len(actions) == 1 and isinstance(actions[0], Notify) and actions[0].level == "error"
    assert "the escrow holds 2000" in actions[0].text
    assert m.state == State.S7_FUNDED


def test_an_exact_payout_by_its_proposer_starts_an_attempt() -> None:
    m = funded()
    assert m.handle(ProposePayout(RELEASE)) == [ExportInfo(1)]
    assert (m.state, m.data.seq, m.data.payout) == (State.S8_SYNCING, 1, RELEASE)
    other = funded("seller")
    actions = other.handle(ProposePayout(RELEASE))
    assert actions == [Notify("error", "only the buyer can propose this payout")]
    assert other.state == State.S7_FUNDED


# -- check_description: the fee cap and exact amounts ---------------------------------------

DISPUTE = Payout("dispute", "arbiter", "buyer", 500, 1_500)


@pytest.mark.parametrize(("fee", "change"), [(100, 0), (60, 40), (0, 0)])
def test_fee_and_change_up_to_the_cap_are_accepted(fee: int, change: int) -> None:
    desc = TxDescription(
        2_000, ((SELLER, 500), (BUYER, 1_500 - fee - change)), fee, ESCROW_ADDR, change
    )
    check_description(desc, DISPUTE, TERMS, ESCROW_ADDR, 2_000)


@pytest.mark.parametrize(("fee", "change"), [(101, 0), (61, 40), (60, 41)])
def test_fee_and_change_past_the_cap_are_refused(fee: int, change: int) -> None:
    desc = TxDescription(
        2_000, ((SELLER, 500), (BUYER, 1_500 - fee - change)), fee, ESCROW_ADDR, change
    )
    with pytest.raises(EscrowProtocolError, match="fee is above the agreed maximum"):
        check_description(desc, DISPUTE, TERMS, ESCROW_ADDR, 2_000)


def test_amounts_must_add_up_to_what_is_spent() -> None:
    # Every recipient gets its share, but part of the input is unaccounted for.
    short = TxDescription(2_000, ((SELLER, 500), (BUYER, 1_490)), 9, "", 0)
    with pytest.raises(EscrowProtocolError):
        check_description(short, DISPUTE, TERMS, ESCROW_ADDR, 2_000)
    # Split outputs to one address are added up.
    split = TxDescription(2_000, ((SELLER, 200), (SELLER, 300), (BUYER, 1_490)), 10, "", 0)
    check_description(split, DISPUTE, TERMS, ESCROW_ADDR, 2_000)
    # A recipient with a zero share may not be paid at all.
    release = Payout("release", "buyer", "seller", 2_000, 0)
    to_buyer = TxDescription(2_000, ((SELLER, 1_989), (BUYER, 1)), 10, "", 0)
    with pytest.raises(EscrowProtocolError, match="not in the agreement"):
        check_description(to_buyer, release, TERMS, ESCROW_ADDR, 2_000)
    check_description(
        TxDescription(2_000, ((SELLER, 1_990),), 10, "", 0), release, TERMS, ESCROW_ADDR, 2_000
    )
