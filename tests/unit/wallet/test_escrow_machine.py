"""The escrow state machine with no wallet and no network: events in, actions out."""

from collections import deque
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.wallet import (
    TRANSITIONS,
    EscrowData,
    EscrowMachine,
    EscrowProtocolError,
    EscrowTerms,
    Payout,
    State,
    TxDescription,
    check_description,
    decode_message,
    encode_message,
)
from umbra.wallet._escrow_machine import LocalProtocolError
from umbra.wallet._escrow_types import (
    BuildTxset,
    CreateWallet,
    Described,
    DescribeTxset,
    EscrowAction,
    EscrowEvent,
    Exchanged,
    ExchangeKeys,
    Exported,
    ExportInfo,
    FundingExpired,
    FundingObserved,
    FundingSent,
    Imported,
    ImportInfo,
    Made,
    MakeMultisig,
    MessageReceived,
    PayFunding,
    PayoutExpected,
    Prepared,
    PrepareMultisig,
    ProposePayout,
    Send,
    Signed,
    SignTxset,
    Start,
    Submitted,
    SubmitTx,
    SyncFailed,
    TxsetBuilt,
    WalletCreated,
    WalletKeys,
    WatchFunding,
)

SELLER = "4" + "A" * 94
BUYER = "4" + "B" * 94
ESCROW_ADDR = "5" + "C" * 94
TXID = "ab" * 32
TERMS = EscrowTerms("e1", 2_000, BUYER, SELLER, confirmations=10, max_fee=100)
ROLES = ("buyer", "seller", "arbiter")


def fake_wallet(machine: EscrowMachine, op: EscrowAction, tamper: bool = False) -> EscrowEvent:
    """What a well-behaved wallet would answer (deterministic, no I/O)."""
    role = machine.role
    payout = machine.data.payout
    match op:
        case CreateWallet():
            return WalletCreated(WalletKeys("addr", "s", "v"), op.name, op.password)
        case PrepareMultisig():
            return Prepared(f"r0-{role}")
        case MakeMultisig():
            return Made(f"r1-{role}")
        case ExchangeKeys(round=1):
            return Exchanged(1, f"r2-{role}", "", False)
        case ExchangeKeys(round=2):
            return Exchanged(2, "", ESCROW_ADDR, True)
        case PayFunding():
            return FundingSent(TXID)
        case WatchFunding():
            return FundingObserved(2_000, 10)
        case ExportInfo():
            return Exported(op.seq, f"sync-{role}-{op.seq}")
        case ImportInfo():
            return Imported(op.seq)
        case BuildTxset():
            return TxsetBuilt(op.seq, "txset")
        case DescribeTxset():
            assert payout is not None
            fee = 10
            pay = {SELLER: payout.to_seller, BUYER: payout.to_buyer}
            payer = TERMS.payout_address(payout.cosigner)
            pay[payer] -= fee
            if tamper:
                pay[SELLER] += 1
                pay[BUYER] -= 1
            recipients = tuple((a, v) for a, v in pay.items() if v > 0)
            return Described(op.seq, TxDescription(2_000, recipients, fee, "", 0))
        case SignTxset():
            return Signed(op.seq, "signed", (TXID,))
        case SubmitTx():
            return Submitted(op.seq, op.txids)
    raise AssertionError(op)


def simulate(
    payout: Payout,
    *,
    tamper_first: bool = False,
    slow_funding: str = "",
    fail_import: str = "",
    expected: Payout | None = None,
    expect_when: str = "start",
) -> dict[str, EscrowMachine]:
    """Run three machines against `fake_wallet`, routing their messages in FIFO order.

    ``slow_funding``: that role sees the funding confirmed only after five more looks (so a
    proposer's sync reaches it while it still waits). ``fail_import``: that role's first
    multisig import is refused twice, so the driver reports `SyncFailed`. The co-signer's
    order agrees ``expected`` (default: ``payout``) at the start, or ``expect_when="late"``:
    only once a request to co-sign waits for it, or ``"never"``.
    """
    machines = {
        r: EscrowMachine.create(TERMS, r, wallet_name=f"w-{r}", wallet_password="pw")  # type: ignore[arg-type]
        for r in ROLES
    }
    work: deque[tuple[str, EscrowEvent]] = deque((r, Start()) for r in ROLES)
    expectation = PayoutExpected(payout if expected is None else expected)
    if expect_when == "start":
        work.append((payout.cosigner, expectation))
    tampered = [tamper_first]
    funding_looks = {r: 0 for r in ROLES}
    import_failed = {r: False for r in ROLES}
    proposed = False
    steps = 0
    while work and steps < 1000:
        steps += 1
        role, event = work.popleft()
        m = machines[role]
        # Round-trip the machine through its stored form at every step (crash safety).
        m = machines[role] = EscrowMachine(EscrowData.from_wire(m.data.to_wire()))
        for action in m.handle(event):
            if isinstance(action, Send):
                wire = decode_message(encode_message(action.message))
                work.append((action.to, MessageReceived(wire)))
            elif not hasattr(action, "text"):
                tamper = isinstance(action, DescribeTxset) and tampered[0]
                if tamper:
                    tampered[0] = False
                answer = fake_wallet(m, action, tamper)
                if isinstance(action, WatchFunding) and role == slow_funding:
                    funding_looks[role] += 1
                    if funding_looks[role] < 6:
                        answer = FundingObserved(2_000, 5)
                if (
                    isinstance(action, ImportInfo)
                    and role == fail_import
                    and not import_failed[role]
                ):
                    import_failed[role] = True
                    answer = SyncFailed(action.seq, "Failed to authenticate ciphertext")
                work.append((role, answer))
        cosigner = machines[payout.cosigner]
        if expect_when == "late" and cosigner.data.deferred and cosigner.data.expected is None:
            work.append((payout.cosigner, expectation))
        proposer = machines[payout.proposer]
        if proposer.state == State.S7_FUNDED and (not proposed or proposer.data.last_refusal):
            proposed = True
            work.append((payout.proposer, ProposePayout(payout)))
    return machines


@pytest.mark.parametrize(
    "payout",
    [
        Payout("release", "buyer", "seller", 2_000, 0),
        Payout("refund", "seller", "buyer", 0, 2_000),
        Payout("refund", "arbiter", "buyer", 0, 2_000),
        Payout("dispute", "arbiter", "seller", 1_500, 500),
        Payout("dispute", "arbiter", "buyer", 500, 1_500),
    ],
)
def test_every_payout_kind_completes(payout: Payout) -> None:
    machines = simulate(payout)
    assert {r: m.state for r, m in machines.items()} == {r: State.S10_PAID_OUT for r in ROLES}
    assert all(m.data.address == ESCROW_ADDR for m in machines.values())


def test_tampered_payout_is_refused_then_an_honest_one_passes() -> None:
    payout = Payout("dispute", "arbiter", "buyer", 500, 1_500)
    machines = simulate(payout, tamper_first=True)
    assert machines["buyer"].state == State.S10_PAID_OUT
    assert machines["buyer"].data.seq == 2  # the first attempt was refused


def test_a_sync_that_arrives_before_the_funding_is_seen_is_used_later() -> None:
    machines = simulate(Payout("release", "buyer", "seller", 2_000, 0), slow_funding="seller")
    assert {r: m.state for r, m in machines.items()} == {r: State.S10_PAID_OUT for r in ROLES}
    assert machines["seller"].data.deferred == []
    assert machines["seller"].data.seq == 1


@pytest.mark.parametrize("role", ["buyer", "seller"])
def test_a_refused_import_restarts_the_attempt_with_fresh_info(role: str) -> None:
    machines = simulate(Payout("release", "buyer", "seller", 2_000, 0), fail_import=role)
    assert {r: m.state for r, m in machines.items()} == {r: State.S10_PAID_OUT for r in ROLES}
    assert machines["buyer"].data.seq == 2  # the first attempt was given up, not retried


def state_of(machine: EscrowMachine) -> State:
    return machine.state  # a call, so that mypy does not narrow the state across events


def test_funding_deadline_abandons_only_an_unfunded_escrow() -> None:
    terms = EscrowTerms("e1", 2_000, BUYER, SELLER, funding_expires_at=1_000)
    m = EscrowMachine.create(terms, "seller", wallet_name="w", wallet_password="p")
    m.data.state, m.data.pending_op = State.S6_AWAITING_FUNDING, "WatchFunding"
    assert not m.funding_expired_at(999)
    assert m.handle(FundingExpired(999)) == []
    assert state_of(m) == State.S6_AWAITING_FUNDING
    # Past the deadline, a party whose last look began before it looks once more first.
    assert m.handle(FundingExpired(1_000)) == [WatchFunding(2_000)]
    assert state_of(m) == State.S6_AWAITING_FUNDING
    assert not m.funding_expired_at(1_001)  # that look is under way: wait for it
    m.handle(FundingObserved(0, 0, at=999))  # began before the deadline: proves nothing
    assert state_of(m) == State.S6_AWAITING_FUNDING
    m.handle(FundingObserved(0, 0, at=1_000))  # nothing there after the deadline
    assert m.funding_expired_at(1_001)
    actions = m.handle(FundingExpired(1_001))
    assert state_of(m) == State.S98_EXPIRED and m.data.pending_op == ""
    assert [a.level for a in actions if hasattr(a, "level")] == ["warning"]
    assert m.handle(FundingObserved(2_000, 10)) == []  # late coins do not revive it
    seen = EscrowMachine.create(terms, "seller", wallet_name="w", wallet_password="p")
    seen.data.state, seen.data.pending_op = State.S6_AWAITING_FUNDING, "WatchFunding"
    seen.handle(FundingObserved(2_000, 0))  # in the pool before the deadline
    assert not seen.funding_expired_at(5_000)
    assert seen.state == State.S6_AWAITING_FUNDING


def test_after_the_deadline_the_buyer_looks_and_never_pays() -> None:
    terms = EscrowTerms("e1", 2_000, BUYER, SELLER, funding_expires_at=1_000)
    m = EscrowMachine.create(terms, "buyer", wallet_name="w", wallet_password="p")
    m.data.state, m.data.address = State.S6_AWAITING_FUNDING, ESCROW_ADDR
    m.data.pending_op = "PayFunding"  # a run stopped at S6 before paying
    assert m.handle(FundingExpired(1_000)) == [WatchFunding(2_000)]
    again = EscrowMachine(EscrowData.from_wire(m.data.to_wire()))  # a restart meanwhile
    assert again.resume() == [WatchFunding(2_000)]  # the look again, not the payment
    # Coins found by that look (the buyer had paid before a crash) are waited for.
    again.handle(FundingObserved(2_000, 0, at=1_000))
    assert not again.funding_expired_at(5_000)


def test_check_description_rejects_every_deviation() -> None:
    payout = Payout("dispute", "arbiter", "buyer", 500, 1_500)
    good = TxDescription(2_000, ((SELLER, 500), (BUYER, 1_490)), 10, "", 0)
    check_description(good, payout, TERMS, ESCROW_ADDR, 2_000)
    bad = [
        TxDescription(2_000, ((SELLER, 501), (BUYER, 1_489)), 10, "", 0),  # moved 1 piconero
        TxDescription(2_000, ((SELLER, 500), ("4" + "D" * 94, 1_490)), 10, "", 0),  # thief
        TxDescription(2_000, ((SELLER, 500), (BUYER, 1_390)), 110, "", 0),  # fee too high
        TxDescription(2_000, ((SELLER, 500), (BUYER, 1_480)), 10, "4" + "D" * 94, 10),
        TxDescription(1_900, ((SELLER, 500), (BUYER, 1_390)), 10, "", 0),  # leaves funds
    ]
    for desc in bad:
        with pytest.raises(EscrowProtocolError):
            check_description(desc, payout, TERMS, ESCROW_ADDR, 2_000)
    # Dust change back to the escrow itself is fine within the fee cap.
    dust = TxDescription(2_000, ((SELLER, 500), (BUYER, 1_485)), 10, ESCROW_ADDR, 5)
    check_description(dust, payout, TERMS, ESCROW_ADDR, 2_000)


def test_payout_shapes_are_enforced_for_both_sides() -> None:
    for bad in [
        Payout("release", "seller", "buyer", 2_000, 0),  # the seller cannot release to itself
        Payout("refund", "buyer", "seller", 0, 2_000),
        Payout("dispute", "buyer", "seller", 1_000, 1_000),
    ]:
        with pytest.raises(EscrowProtocolError):
            bad.check_shape()


def test_table_refuses_a_peer_message_out_of_order() -> None:
    m = EscrowMachine.create(TERMS, "seller", wallet_name="w", wallet_password="p")
    from umbra.wallet import PayoutProposal

    with pytest.raises(EscrowProtocolError):
        m.handle(
            MessageReceived(
                PayoutProposal(
                    "e1", "buyer", 1, Payout("release", "buyer", "seller", 2_000, 0), "tx"
                )
            )
        )
    assert m.state == State.S0_NEW


def test_duplicate_messages_and_late_results_are_harmless() -> None:
    machines = simulate(Payout("release", "buyer", "seller", 2_000, 0))
    seller = machines["seller"]
    assert seller.handle(Submitted(1, (TXID,))) == []  # late wallet answer: ignored
    from umbra.wallet import SetupInfo

    assert seller.handle(MessageReceived(SetupInfo("e1", "buyer", 0, "r0-buyer"))) == []
    assert seller.state == State.S10_PAID_OUT


def test_the_spec_shows_the_transition_table_of_the_code() -> None:
    spec = Path(__file__).parents[3] / "docs" / "specifications" / "escrow.md"
    rows = {
        line for line in spec.read_text(encoding="utf-8").splitlines() if line.startswith("| S")
    }
    expected = {
        f"| {state.name} | `{name}` | {', '.join(t.name for t in sorted(targets))} |"
        for (state, name), targets in TRANSITIONS.items()
    }
    assert rows == expected


def test_every_table_state_is_a_state() -> None:
    for (state, name), targets in TRANSITIONS.items():
        assert isinstance(state, State) and name and targets <= set(State)


EVENTS = st.sampled_from(
    [
        Start(),
        Prepared("x"),
        Made("y"),
        Exchanged(1, "z", "", False),
        FundingObserved(5, 1),
        Imported(1),
        Submitted(1, (TXID,)),
        SyncFailed(1, "stale"),
        FundingExpired(10**10),
        ProposePayout(Payout("release", "buyer", "seller", 2_000, 0)),
        PayoutExpected(Payout("release", "buyer", "seller", 2_000, 0)),
    ]
)


@given(st.lists(EVENTS, max_size=20), st.sampled_from(ROLES))
@settings(max_examples=200)
def test_random_event_sequences_never_corrupt_state(events: list[EscrowEvent], role: str) -> None:
    m = EscrowMachine.create(TERMS, role, wallet_name="w", wallet_password="p")  # type: ignore[arg-type]
    for event in events:
        before = m.state
        try:
            m.handle(event)
        except (LocalProtocolError, EscrowProtocolError):
            assert m.state == before
        assert m.state in set(State)
        EscrowData.from_wire(m.data.to_wire())
