"""Every payout check alone: a payout that passes all the other checks and fails only this one
is refused, with this check's own message.

The co-signer's wallet describes the transaction set it is asked to sign, and
`check_description` holds it to the agreed payout with six checks (docs/specifications/
escrow.md: only the agreed addresses are paid; the whole funded amount is spent; dust change
only back to the escrow; fee + dust ≤ ``max_fee``; each share exact, the co-signer's reduced
only by the fee and dust; every piconero accounted for). `failing` below is those six rules
written out again, so each case is shown to break exactly one of them. `check_payout` (shape
and total, before any wallet call) and `Payout.check_shape` (who may sign which kind) are
pinned the same way, each condition alone.
"""

import pytest

from umbra.wallet import (
    EscrowMachine,
    EscrowProtocolError,
    EscrowTerms,
    Payout,
    PayoutRefusal,
    State,
    SyncInfo,
    TxDescription,
    check_description,
)
from umbra.wallet._escrow_types import MessageReceived, Notify, PayoutExpected, Send

SELLER = "4" + "A" * 94
BUYER = "4" + "B" * 94
ESCROW = "5" + "C" * 94  # the escrow wallet's own address: the only place for dust change
THIEF = "4" + "D" * 94
FUNDED = 2_000
MAX_FEE = 100
TERMS = EscrowTerms("e1", FUNDED, BUYER, SELLER, max_fee=MAX_FEE)
FEE = 10

PAYOUTS = {
    "release": Payout("release", "buyer", "seller", FUNDED, 0),
    "refund": Payout("refund", "seller", "buyer", 0, FUNDED),
    "split, buyer co-signs": Payout("dispute", "arbiter", "buyer", 500, 1_500),
    "split, seller co-signs": Payout("dispute", "arbiter", "seller", 1_500, 500),
}
SPLITS = ["split, buyer co-signs", "split, seller co-signs"]

NOT_AGREED = "the transaction pays an address that is not in the agreement"
NOT_ALL_SPENT = "the transaction does not spend exactly the escrow's funds"
FOREIGN_CHANGE = "the transaction sends change to a foreign address"
FEE_TOO_HIGH = "the fee is above the agreed maximum"
WRONG_SHARES = "the amounts differ from the agreed payout"
NOT_ADDING_UP = "the transaction's amounts do not add up"


def honest(
    payout: Payout, fee: int = FEE, change: int = 0, change_to: str = ESCROW
) -> TxDescription:
    """The transaction the proposer should build: the co-signer pays the fee and the dust."""
    payer = BUYER if payout.cosigner == "buyer" else SELLER
    shares = {SELLER: payout.to_seller, BUYER: payout.to_buyer}
    paid = {a: v - fee - change if a == payer else v for a, v in shares.items() if v}
    change_address = change_to if change else ""
    return TxDescription(payout.total, tuple(paid.items()), fee, change_address, change)


def failing(desc: TxDescription, payout: Payout, funded: int = FUNDED) -> set[str]:
    """Which of the six rules ``desc`` breaks (the rules again, independently of the code)."""
    paid: dict[str, int] = {}
    for address, amount in desc.recipients:
        paid[address] = paid.get(address, 0) + amount
    shares = {SELLER: payout.to_seller, BUYER: payout.to_buyer}
    payer = BUYER if payout.cosigner == "buyer" else SELLER
    dues = {a: s - desc.fee - desc.change_amount if a == payer else s for a, s in shares.items()}
    broken = set()
    if any(shares.get(address, 0) == 0 for address in paid):
        broken.add(NOT_AGREED)
    if desc.amount_in != funded:
        broken.add(NOT_ALL_SPENT)
    if desc.change_amount and desc.change_address != ESCROW:
        broken.add(FOREIGN_CHANGE)
    if desc.fee + desc.change_amount > MAX_FEE:
        broken.add(FEE_TOO_HIGH)
    if any(paid.get(a, 0) != due for a, due in dues.items() if shares[a]):
        broken.add(WRONG_SHARES)
    if sum(paid.values()) + desc.fee + desc.change_amount != desc.amount_in:
        broken.add(NOT_ADDING_UP)
    return broken


def refusal(desc: TxDescription, payout: Payout, funded: int = FUNDED) -> str | None:
    try:
        check_description(desc, payout, TERMS, ESCROW, funded)
    except EscrowProtocolError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("kind", PAYOUTS)
@pytest.mark.parametrize(("fee", "change"), [(FEE, 0), (FEE, 5), (0, 0), (MAX_FEE, 0)])
def test_the_honest_transaction_passes_every_check(kind: str, fee: int, change: int) -> None:
    desc = honest(PAYOUTS[kind], fee, change)
    assert failing(desc, PAYOUTS[kind]) == set()
    assert refusal(desc, PAYOUTS[kind]) is None


def _with_output(desc: TxDescription, address: str, amount: int) -> TxDescription:
    outputs = (*desc.recipients, (address, amount))
    return TxDescription(desc.amount_in, outputs, desc.fee, desc.change_address, desc.change_amount)


def _one_piconero_moved(desc: TxDescription) -> TxDescription:
    """The same total, one piconero moved from the first recipient to the second."""
    (a, x), (b, y) = desc.recipients
    outputs = ((a, x - 1), (b, y + 1))
    return TxDescription(desc.amount_in, outputs, desc.fee, desc.change_address, desc.change_amount)


def _short_of(payout: Payout, amount: int) -> Payout:
    """The payout with ``amount`` less for its co-signer."""
    less = {"seller": (amount, 0), "buyer": (0, amount)}[payout.cosigner]
    return Payout(
        payout.kind, payout.proposer, payout.cosigner,
        payout.to_seller - less[0], payout.to_buyer - less[1],
    )  # fmt: skip


def alone(case: str, payout: Payout) -> tuple[TxDescription, Payout, int]:
    """A transaction, the payout it is checked against and the escrow's funded amount, that
    break only the rule named by ``case``."""
    match case:
        case "an output of nothing to a stranger":  # anything more would also break the sum
            return _with_output(honest(payout), THIEF, 0), payout, FUNDED
        case "an output to the party whose share is zero":
            other = BUYER if payout.to_buyer == 0 else SELLER
            return _with_output(honest(payout), other, 0), payout, FUNDED
        case "the escrow holds one piconero more":  # the transaction matches the payout
            return honest(payout), payout, FUNDED + 1
        case "dust change to a stranger":
            return honest(payout, FEE, 5, change_to=THIEF), payout, FUNDED
        case "a fee one piconero over the cap":
            return honest(payout, MAX_FEE + 1), payout, FUNDED
        case "fee and dust one piconero over the cap":
            return honest(payout, MAX_FEE - 4, 5), payout, FUNDED
        case "one piconero moved between the shares":
            return _one_piconero_moved(honest(payout)), payout, FUNDED
        case "the payout splits 100 less than the transaction spends":
            short = _short_of(payout, 100)
            spent = honest(short)
            desc = TxDescription(FUNDED, spent.recipients, spent.fee, "", 0)
            return desc, short, FUNDED
    raise AssertionError(case)


SINGLE = ["release", "refund"]
CASES = [
    (NOT_AGREED, "an output of nothing to a stranger", list(PAYOUTS)),
    (NOT_AGREED, "an output to the party whose share is zero", SINGLE),
    (NOT_ALL_SPENT, "the escrow holds one piconero more", list(PAYOUTS)),
    (FOREIGN_CHANGE, "dust change to a stranger", list(PAYOUTS)),
    (FEE_TOO_HIGH, "a fee one piconero over the cap", list(PAYOUTS)),
    (FEE_TOO_HIGH, "fee and dust one piconero over the cap", list(PAYOUTS)),
    # With one recipient, a share can only differ if the piconero goes elsewhere: it is
    # then also a stranger's output or missing from the sum.
    (WRONG_SHARES, "one piconero moved between the shares", SPLITS),
    (NOT_ADDING_UP, "the payout splits 100 less than the transaction spends", list(PAYOUTS)),
]


@pytest.mark.parametrize(
    ("check", "case", "kind"),
    [(check, case, kind) for check, case, kinds in CASES for kind in kinds],
)
def test_each_check_alone_refuses_with_its_own_message(check: str, case: str, kind: str) -> None:
    desc, payout, funded = alone(case, PAYOUTS[kind])
    assert failing(desc, payout, funded) == {check}, "the case must break this rule only"
    assert refusal(desc, payout, funded) == check


def test_every_check_has_a_case_of_its_own() -> None:
    assert {check for check, _, _ in CASES} == {
        NOT_AGREED, NOT_ALL_SPENT, FOREIGN_CHANGE, FEE_TOO_HIGH, WRONG_SHARES, NOT_ADDING_UP,
    }  # fmt: skip


@pytest.mark.parametrize("kind", PAYOUTS)
@pytest.mark.parametrize(("fee", "change"), [(MAX_FEE, 0), (MAX_FEE - 5, 5), (0, MAX_FEE)])
def test_fee_and_dust_exactly_at_the_cap_pass(kind: str, fee: int, change: int) -> None:
    desc = honest(PAYOUTS[kind], fee, change)
    assert fee + change == MAX_FEE
    assert refusal(desc, PAYOUTS[kind]) is None
    over = honest(PAYOUTS[kind], fee + 1, change)
    assert refusal(over, PAYOUTS[kind]) == FEE_TOO_HIGH


def test_the_default_cap_is_a_hundredth_of_a_monero_to_the_piconero() -> None:
    terms = EscrowTerms("e1", 10**12, BUYER, SELLER)
    release = Payout("release", "buyer", "seller", 10**12, 0)
    at_cap = TxDescription(10**12, ((SELLER, 10**12 - 10**10),), 10**10, "", 0)
    check_description(at_cap, release, terms, ESCROW, 10**12)
    over = TxDescription(10**12, ((SELLER, 10**12 - 10**10 - 1),), 10**10 + 1, "", 0)
    with pytest.raises(EscrowProtocolError) as refused:
        check_description(over, release, terms, ESCROW, 10**12)
    assert str(refused.value) == FEE_TOO_HIGH


# -- check_payout: the payout itself, before any wallet call ----------------------------------


def funded_escrow(role: str, amount: int = FUNDED) -> EscrowMachine:
    m = EscrowMachine.create(TERMS, role, wallet_name="w", wallet_password="p")  # type: ignore[arg-type]
    m.data.state, m.data.address, m.data.funded_amount = State.S7_FUNDED, ESCROW, amount
    return m


@pytest.mark.parametrize("kind", PAYOUTS)
def test_check_payout_takes_a_payout_of_exactly_the_funds(kind: str) -> None:
    funded_escrow("arbiter").check_payout(PAYOUTS[kind])


@pytest.mark.parametrize("kind", PAYOUTS)
@pytest.mark.parametrize("held", [FUNDED - 1, FUNDED + 1])
def test_check_payout_refuses_a_payout_of_other_than_the_funds(kind: str, held: int) -> None:
    with pytest.raises(EscrowProtocolError) as refused:
        funded_escrow("arbiter", held).check_payout(PAYOUTS[kind])
    assert str(refused.value) == f"the payout splits {FUNDED} piconero but the escrow holds {held}"


# Each breaks one rule of who may sign which kind (the arbiter is never paid, and never both).
BAD_SHAPES = [
    Payout("release", "arbiter", "seller", FUNDED, 0),  # only the buyer releases
    Payout("release", "buyer", "arbiter", FUNDED, 0),  # the seller co-signs a release
    Payout("release", "buyer", "seller", FUNDED - 1, 1),  # a release is all to the seller
    Payout("refund", "arbiter", "seller", 0, FUNDED),  # the buyer co-signs a refund
    Payout("refund", "seller", "buyer", 1, FUNDED - 1),  # a refund is all to the buyer
    Payout("refund", "buyer", "buyer", 0, FUNDED),  # the buyer cannot refund itself
    Payout("dispute", "seller", "buyer", 1_000, 1_000),  # only the arbiter decides
    Payout("dispute", "arbiter", "arbiter", 1_000, 1_000),  # and it co-signs nothing
]


@pytest.mark.parametrize("payout", BAD_SHAPES, ids=lambda p: f"{p.kind}-{p.proposer}-{p.cosigner}")
def test_check_payout_refuses_each_shape_no_one_may_sign(payout: Payout) -> None:
    with pytest.raises(EscrowProtocolError) as refused:
        funded_escrow("arbiter").check_payout(payout)
    assert str(refused.value) == f"a {payout.kind} payout cannot be signed that way"


def test_a_cosigner_asked_for_the_agreed_payout_of_other_funds_refuses_it() -> None:
    """The payout matches our agreement, but the escrow holds one piconero more than it
    splits (an overpaid escrow): only `check_payout` stops it, before any wallet call."""
    m = funded_escrow("buyer", FUNDED + 1)
    split = PAYOUTS["split, buyer co-signs"]
    assert m.handle(PayoutExpected(split)) == []
    reason = f"the payout splits {FUNDED} piconero but the escrow holds {FUNDED + 1}"
    actions = m.handle(MessageReceived(SyncInfo("e1", "arbiter", 1, split, "info")))
    assert actions == [
        Send("arbiter", PayoutRefusal("e1", "buyer", 1, reason, False)),
        Notify("warning", reason),
    ]
    assert (m.state, m.data.payout, m.data.pending_op) == (State.S7_FUNDED, None, "")
