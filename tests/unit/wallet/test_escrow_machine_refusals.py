"""The escrow machine's refusals and thresholds, at each boundary and one step past it.

The deferred payout messages (one per sender and type, the newest), the funding threshold
(amount and confirmations), the funding deadline, the fee cap of a payout and its exact
total: each is pinned where it flips.
"""

import pytest

from umbra.wallet import (
    AddressAnnounce,
    EscrowMachine,
    EscrowProtocolError,
    EscrowTerms,
    Payout,
    PayoutDone,
    PayoutProposal,
    PayoutRefusal,
    SetupInfo,
    State,
    SyncInfo,
    TxDescription,
    check_description,
    decode_message,
    encode_message,
)
from umbra.wallet._escrow_machine import (
    LocalProtocolError,
    describe_for_audit,
    event_name,
)
from umbra.wallet._escrow_types import (
    CreateWallet,
    Described,
    Exchanged,
    ExchangeKeys,
    Exported,
    ExportInfo,
    FundingExpired,
    FundingObserved,
    FundingSent,
    Imported,
    MessageReceived,
    Notify,
    PayFunding,
    PayoutExpected,
    Prepared,
    PrepareMultisig,
    ProposePayout,
    Send,
    SignFailed,
    SignTxset,
    Submitted,
    SubmitTx,
    SyncFailed,
    TxsetBuilt,
    WalletKeys,
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


def test_deferred_keeps_one_message_per_sender_and_type_the_newest() -> None:
    m = machine()
    for seq in range(1, 20):
        assert m.handle(MessageReceived(SyncInfo("e1", "buyer", seq, RELEASE, f"s{seq}"))) == []
    assert m.data.deferred == [encode_message(SyncInfo("e1", "buyer", 19, RELEASE, "s19"))]
    # At the boundary: the same attempt number does not replace what waits; the next one does.
    assert m.handle(MessageReceived(SyncInfo("e1", "buyer", 19, RELEASE, "other"))) == []
    assert m.data.deferred == [encode_message(SyncInfo("e1", "buyer", 19, RELEASE, "s19"))]
    assert m.handle(MessageReceived(SyncInfo("e1", "buyer", 20, RELEASE, "s20"))) == []
    assert m.data.deferred == [encode_message(SyncInfo("e1", "buyer", 20, RELEASE, "s20"))]
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


# -- peer messages the machine must refuse (each with its own reason) --------------------------

ADDR_1, ADDR_2 = "5" + "D" * 94, "5" + "E" * 94


def received(m: EscrowMachine, message: object) -> list[object]:
    return m.handle(MessageReceived(message))  # type: ignore[arg-type,return-value]


def refused(m: EscrowMachine, message: object, reason: str) -> None:
    before = m.data.to_wire()
    with pytest.raises(EscrowProtocolError, match=reason):
        received(m, message)
    assert m.data.to_wire() == before


def test_messages_for_another_escrow_or_from_ourselves_are_refused() -> None:
    m = machine("seller", State.S1_WALLET_READY)
    m.data.pending_op = "PrepareMultisig"
    refused(m, SetupInfo("e2", "buyer", 0, "x"), "another escrow or from ourselves")
    refused(m, SetupInfo("e1", "seller", 0, "x"), "another escrow or from ourselves")
    assert received(m, SetupInfo("e1", "buyer", 0, "x")) == []


def test_a_party_cannot_change_what_it_said_during_set_up() -> None:
    m = machine("seller", State.S1_WALLET_READY)
    m.data.pending_op = "PrepareMultisig"
    received(m, SetupInfo("e1", "buyer", 0, "first"))
    assert received(m, SetupInfo("e1", "buyer", 0, "first")) == []  # a duplicate is harmless
    refused(m, SetupInfo("e1", "buyer", 0, "second"), "buyer changed its round 0 info")
    received(m, AddressAnnounce("e1", "arbiter", ADDR_1))
    assert received(m, AddressAnnounce("e1", "arbiter", ADDR_1)) == []
    refused(m, AddressAnnounce("e1", "arbiter", ADDR_2), "arbiter changed its multisig address")


def cosigner_in_s7(seq: int = 0) -> EscrowMachine:
    """A seller whose order agreed the release (so a request to co-sign is judged at once)."""
    m = funded("seller")
    m.data.seq = seq
    assert m.handle(PayoutExpected(RELEASE)) == []
    return m


def test_a_sync_asking_the_wrong_party_to_co_sign_is_answered_with_a_refusal() -> None:
    arbiter = funded("arbiter")  # a release is the buyer's and the seller's
    arbiter.data.expected = RELEASE  # whatever it agreed: "not ours" is checked first
    acts = received(arbiter, SyncInfo("e1", "buyer", 1, RELEASE, "i"))
    refusal = PayoutRefusal("e1", "arbiter", 1, "this payout is not ours to co-sign", False)
    assert acts == [Send("buyer", refusal), Notify("warning", "this payout is not ours to co-sign")]
    assert arbiter.state == State.S7_FUNDED
    seller = cosigner_in_s7()
    acts = received(seller, SyncInfo("e1", "arbiter", 1, RELEASE, "i"))  # not its proposer
    assert acts[0] == Send(
        "arbiter", PayoutRefusal("e1", "seller", 1, "this payout is not ours to co-sign", False)
    )
    assert seller.state == State.S7_FUNDED


def test_an_attempt_number_may_not_be_reused() -> None:
    seller = cosigner_in_s7(seq=3)
    acts = received(seller, SyncInfo("e1", "buyer", 3, RELEASE, "i"))
    assert acts[0] == Send(
        "buyer", PayoutRefusal("e1", "seller", 3, "a payout attempt number was reused", False)
    )
    assert seller.state == State.S7_FUNDED
    assert received(seller, SyncInfo("e1", "buyer", 4, RELEASE, "i")) == [ExportInfo(4)]
    assert (seller.state, seller.data.seq, seller.data.peer_sync) == (State.S8_SYNCING, 4, "i")


def syncing(role: str = "seller", *, pending: str = "") -> EscrowMachine:
    m = funded(role)
    m.data.state, m.data.payout, m.data.seq, m.data.pending_op = (
        State.S8_SYNCING,
        RELEASE,
        1,
        pending,
    )
    return m


def test_syncs_in_an_attempt_must_come_from_the_counterpart_for_this_payout_and_attempt() -> None:
    seller = syncing()
    refused(seller, SyncInfo("e1", "arbiter", 1, RELEASE, "i"), "sync from a party not in")
    other = Payout("release", "buyer", "seller", 1_999, 0)
    refused(seller, SyncInfo("e1", "buyer", 1, other, "i"), "the sync is for a different payout")
    # The current attempt's sync is taken; it does not start a new attempt.
    assert received(seller, SyncInfo("e1", "buyer", 1, RELEASE, "i")) == []
    assert (seller.data.seq, seller.data.peer_sync) == (1, "i")
    buyer = syncing("buyer")
    buyer.data.seq = 2
    refused(buyer, SyncInfo("e1", "seller", 1, RELEASE, "i"), "sync for another payout attempt")


def test_a_newer_attempt_waits_while_a_wallet_call_is_in_flight() -> None:
    seller = syncing(pending="ExportInfo")
    assert received(seller, SyncInfo("e1", "buyer", 2, RELEASE, "new")) == []
    assert len(seller.data.deferred) == 1 and seller.data.seq == 1
    # The current attempt's sync is used at once, call or no call.
    assert received(seller, SyncInfo("e1", "buyer", 1, RELEASE, "now")) == []
    assert seller.data.peer_sync == "now" and len(seller.data.deferred) == 1


def test_proposals_must_match_the_payout_being_synced() -> None:
    seller = syncing()
    for wrong in (
        PayoutProposal("e1", "arbiter", 1, RELEASE, "tx"),
        PayoutProposal("e1", "buyer", 1, Payout("release", "buyer", "seller", 1_999, 0), "tx"),
    ):
        refused(seller, wrong, "does not match the payout being synced")
    assert received(seller, PayoutProposal("e1", "buyer", 1, RELEASE, "tx")) == []
    assert seller.data.txset == "tx"
    assert received(seller, PayoutProposal("e1", "buyer", 1, RELEASE, "tx")) == []
    refused(seller, PayoutProposal("e1", "buyer", 1, RELEASE, "other"), "changed its transaction")


def test_a_proposal_after_the_payout_is_answered_with_done_once_there_is_a_txid() -> None:
    seller = syncing()
    seller.data.state, seller.data.txids = State.S10_PAID_OUT, ("ab" * 32,)
    acts = received(seller, PayoutProposal("e1", "buyer", 1, RELEASE, "tx"))
    assert acts == [Send("buyer", PayoutDone("e1", "seller", 1, ("ab" * 32,)))]
    seller.data.txids = ()
    assert received(seller, PayoutProposal("e1", "buyer", 1, RELEASE, "tx")) == []


def test_refusals_must_come_from_the_cosigner_of_this_attempt() -> None:
    buyer = syncing("buyer")
    buyer.data.seq = 2
    refused(buyer, PayoutRefusal("e1", "arbiter", 2, "no", False), "a refusal from a party not")
    refused(buyer, PayoutRefusal("e1", "seller", 3, "no", False), "never was")
    assert received(buyer, PayoutRefusal("e1", "seller", 1, "old", False)) == []
    assert buyer.state == State.S8_SYNCING and buyer.data.last_refusal == ""
    acts = received(buyer, PayoutRefusal("e1", "seller", 2, "stale info", True))
    assert acts == [ExportInfo(3)]  # a fresh attempt with fresh info
    assert buyer.data.seq == 3
    final = syncing("buyer")
    acts = received(final, PayoutRefusal("e1", "seller", 1, "wrong amounts", False))
    assert acts == [Notify("warning", "the seller refused the payout: wrong amounts")]
    assert (final.state, final.data.last_refusal) == (State.S7_FUNDED, "wrong amounts")


def test_a_peer_message_out_of_place_is_named_as_such() -> None:
    m = machine("seller", State.S0_NEW)
    refused(m, PayoutProposal("e1", "buyer", 1, RELEASE, "tx"), "is not allowed in state S0_NEW")


# -- the set-up's end, funding and recovery -------------------------------------------------------


def test_different_multisig_addresses_fail_the_escrow() -> None:
    m = machine("seller", State.S5_READY)
    received(m, AddressAnnounce("e1", "buyer", ESCROW_ADDR))
    acts = received(m, AddressAnnounce("e1", "arbiter", ADDR_1))
    assert acts == [Notify("error", "escrow e1: the parties' multisig addresses differ")]
    assert m.state == State.S99_FAILED


def test_the_buyer_never_pays_twice() -> None:
    buyer = machine("buyer", State.S5_READY)
    buyer.data.funding_txid = "ab" * 32  # paid before a crash
    received(buyer, AddressAnnounce("e1", "seller", ESCROW_ADDR))
    acts = received(buyer, AddressAnnounce("e1", "arbiter", ESCROW_ADDR))
    assert acts == [WatchFunding(2_000)]
    fresh = machine("buyer", State.S5_READY)
    received(fresh, AddressAnnounce("e1", "seller", ESCROW_ADDR))
    assert received(fresh, AddressAnnounce("e1", "arbiter", ESCROW_ADDR)) == [
        PayFunding(ESCROW_ADDR, 2_000)
    ]


def test_resume_recreates_a_wallet_only_before_it_exists() -> None:
    m = EscrowMachine.create(TERMS, "seller", wallet_name="w", wallet_password="p")
    assert m.resume() == [CreateWallet("w", "p")]
    m.data.keys = WalletKeys("addr", "s", "v")
    m.data.pending_op = ""
    assert m.resume() == []
    buyer = machine("buyer", State.S6_AWAITING_FUNDING)
    assert buyer.resume() == [PayFunding(ESCROW_ADDR, 2_000)]  # nothing in flight: next step


def test_state_numbers_are_stored_and_never_change() -> None:
    assert [int(s) for s in State] == [*range(11), 98, 99]


def test_event_names_of_peer_messages() -> None:
    assert event_name(MessageReceived(SetupInfo("e1", "buyer", 0, "x"))) == "msg:setup"


# -- answers of our own wallet for an attempt that is over -----------------------------------------


def test_late_wallet_answers_for_an_old_attempt_are_ignored_or_refused() -> None:
    m = syncing("buyer", pending="ExportInfo")
    m.data.seq = 2
    assert m.handle(Exported(1, "old")) == []
    assert m.data.own_sync == ""
    m.data.pending_op = "ImportInfo"
    assert m.handle(Imported(1)) == []
    assert m.data.imported is False
    m.data.pending_op = "BuildTxset"
    with pytest.raises(LocalProtocolError, match="txset for an old attempt"):
        m.handle(TxsetBuilt(1, "tx"))
    m.data.pending_op = "DescribeTxset"
    with pytest.raises(LocalProtocolError, match="description for an old attempt"):
        m.handle(Described(1, TxDescription(2_000, ((SELLER, 1_990),), 10, "", 0)))
    m.data.pending_op = "ImportInfo"
    assert m.handle(SyncFailed(1, "stale")) == []
    assert (m.state, m.data.seq) == (State.S8_SYNCING, 2)


def test_a_local_event_out_of_place_is_our_bug_not_the_peers() -> None:
    m = machine("seller", State.S5_READY)
    m.data.pending_op = "PrepareMultisig"
    with pytest.raises(LocalProtocolError, match="is not allowed in state S5_READY"):
        m.handle(Prepared("x"))
    s4 = machine("seller", State.S4_EXCHANGED)
    s4.data.pending_op = "ExchangeKeys"
    with pytest.raises(LocalProtocolError, match="did not finish the wallet"):
        s4.handle(Exchanged(2, "", "", False))


LONG = "r" * 300


def test_refusal_reasons_are_cut_to_200_characters_and_say_whether_to_resync() -> None:
    seller = syncing(pending="SignTxset")
    seller.data.txset = "tx"
    acts = seller.handle(SignFailed(1, LONG))
    assert acts[0] == Send("buyer", PayoutRefusal("e1", "seller", 1, "r" * 200, True))
    seller = syncing(pending="ImportInfo")
    acts = seller.handle(SyncFailed(1, LONG))
    assert acts[0] == Notify("warning", "payout attempt 1 restarts: " + "r" * 200)
    assert acts[1] == Send("buyer", PayoutRefusal("e1", "seller", 1, "r" * 200, True))
    seller = syncing(pending="DescribeTxset")
    seller.data.txset = "tx"
    wrong = TxDescription(2_000, ((SELLER, 1_000), (BUYER, 990)), 10, "", 0)
    acts = seller.handle(Described(1, wrong))
    refusal = acts[0]
    assert isinstance(refusal, Send) and isinstance(refusal.message, PayoutRefusal)
    assert refusal.message.resync is False and refusal.to == "buyer"


def test_messages_out_of_place_are_ignored_only_when_already_known() -> None:
    m = machine("seller", State.S6_AWAITING_FUNDING)
    m.data.pending_op = "WatchFunding"
    m.data.peer_address = {"buyer": ESCROW_ADDR, "arbiter": ESCROW_ADDR}
    assert received(m, AddressAnnounce("e1", "buyer", ESCROW_ADDR)) == []  # a re-send
    refused(m, AddressAnnounce("e1", "buyer", ADDR_1), "not allowed in state")
    done = PayoutDone("e1", "buyer", 1, ("ab" * 32,))
    paid = machine("seller", State.S10_PAID_OUT)
    assert received(paid, done) == []
    # Before the set-up ends a "done" is kept for later (it overtook a peer's address);
    # where it can never be used it is refused.
    early = machine("seller", State.S5_READY)
    assert received(early, done) == [] and early.state == State.S5_READY
    assert [decode_message(raw) for raw in early.data.deferred] == [done]
    refused(machine("seller", State.S98_EXPIRED), done, "not allowed in state")


def test_the_newest_deferred_attempt_is_used_once_funded_and_agreed() -> None:
    m = machine()
    m.data.pending_op = "WatchFunding"
    received(m, SyncInfo("e1", "buyer", 1, RELEASE, "one"))
    received(m, SyncInfo("e1", "buyer", 2, RELEASE, "two"))
    m.handle(FundingObserved(2_000, 10))
    assert (m.data.seq, m.data.peer_sync) == (0, "")  # no payout agreed yet: still waiting
    m.handle(PayoutExpected(RELEASE))
    assert (m.data.seq, m.data.peer_sync) == (2, "two") and m.data.deferred == []


def test_the_key_exchange_waits_for_every_round_one_message() -> None:
    m = machine("seller", State.S3_MADE)
    m.data.peer_info = {0: {"buyer": "a", "arbiter": "b"}, 1: {"buyer": "c"}}
    assert m.resume() == []
    m.data.peer_info[1]["arbiter"] = "d"
    assert m.resume() == [ExchangeKeys(1, ("c", "d"))]


@pytest.mark.parametrize(
    ("pending", "op"),
    [
        ("CreateWallet", CreateWallet("w", "p")),
        ("PrepareMultisig", PrepareMultisig()),
        ("ExportInfo", ExportInfo(1)),
        ("SignTxset", SignTxset(1, "tx")),
        ("SubmitTx", SubmitTx(1, "signed", ("ab" * 32,))),
    ],
)
def test_resume_redoes_the_wallet_call_in_flight(pending: str, op: object) -> None:
    m = syncing(pending=pending)
    m.data.keys = WalletKeys("addr", "s", "v")
    m.data.txset, m.data.tx_data, m.data.txids = "tx", "signed", ("ab" * 32,)
    assert m.resume() == [op]
    assert m.data.pending_op == pending


def test_check_description_refuses_what_does_not_add_up() -> None:
    short_payout = Payout("dispute", "arbiter", "buyer", 500, 1_400)  # 100 missing
    desc = TxDescription(2_000, ((SELLER, 500), (BUYER, 1_390)), 10, "", 0)
    with pytest.raises(EscrowProtocolError, match="amounts do not add up"):
        check_description(desc, short_payout, TERMS, ESCROW_ADDR, 2_000)
    more = TxDescription(2_100, ((SELLER, 500), (BUYER, 1_590)), 10, "", 0)
    with pytest.raises(EscrowProtocolError, match="does not spend exactly"):
        check_description(more, DISPUTE, TERMS, ESCROW_ADDR, 2_000)
    tiny = Payout("dispute", "arbiter", "buyer", 1, 1_999)  # the seller's single piconero
    unpaid = TxDescription(2_000, ((BUYER, 1_989),), 10, "", 0)
    with pytest.raises(EscrowProtocolError, match="amounts differ"):
        check_description(unpaid, tiny, TERMS, ESCROW_ADDR, 2_000)


def test_audit_descriptions_carry_no_secrets() -> None:
    assert describe_for_audit(MessageReceived(SetupInfo("e1", "buyer", 0, "secret"))) == (
        "setup from buyer"
    )
    assert describe_for_audit(ProposePayout(RELEASE)) == "release: seller 2000, buyer 0"
    assert describe_for_audit(FundingObserved(5, 2)) == "5 piconero, 2 confirmations"
    assert describe_for_audit(Submitted(1, ("a", "b"))) == "a,b"
    assert describe_for_audit(FundingSent("t")) == "t"
    assert describe_for_audit(Prepared("secret info")) == ""


def test_a_share_of_one_piconero_may_be_paid() -> None:
    tiny = Payout("dispute", "arbiter", "buyer", 1, 1_999)
    desc = TxDescription(2_000, ((SELLER, 1), (BUYER, 1_989)), 10, "", 0)
    check_description(desc, tiny, TERMS, ESCROW_ADDR, 2_000)
