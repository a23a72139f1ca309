"""The 2-of-3 escrow state machine, one instance per party and escrow (sans-IO).

Rules:
- All escrow state changes live here. ``handle(event) -> list[action]``: no I/O, no clock,
  no randomness (the wallet name and password come in through the constructor).
- A transition happens only if ``(state, input) -> next`` is in `TRANSITIONS`. The table does
  not know which role we play: a peer's message is checked against the same table as our own
  moves, and `Payout.check_shape` applies to our proposals and to theirs alike.
- At most one wallet call is in flight (``pending_op``); its result is the next event.
- Peer messages that arrive early are buffered (setup rounds, addresses) and used when the
  state allows; duplicates are ignored, so replays after a crash are harmless. A payout
  sync that arrives before we saw the funding confirmed or before our side agreed a payout
  to co-sign, or a new attempt / refusal that arrives while a wallet call is in flight, is
  deferred (``deferred``) and replayed as soon as the state allows: dropping it would leave
  both sides waiting for each other forever. So is a payout's ``done`` that overtakes a
  peer's address (a party outside the payout may still be in set-up when it is paid out).
  One message per sender and type waits (the newest attempt), so no party can push
  another's message out.
- The co-signer co-signs only the payout its own side agreed (`PayoutExpected`, from the
  order machine; stored as ``expected``): a request to co-sign anything else is refused with
  the reason, and with no agreed payout it waits. Shape and funded total are not enough: a
  dishonest proposer can offer a valid-looking split the co-signer's order never agreed.
- Multisig info goes stale (a re-export after a crash replaces the signing nonces; a wallet
  that had not seen the funding exports nothing useful). When the wallet keeps refusing an
  attempt's import, build or describe step, the driver reports `SyncFailed` and the attempt
  starts over with freshly exported info on both sides (``seq + 1``).
- The co-signer signs only a transaction set that `check_description` accepts, for the
  payout it expected.
"""

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ._errors import EscrowProtocolError
from ._escrow_messages import (
    ROLES,
    AddressAnnounce,
    EscrowMessage,
    FundingNotice,
    Payout,
    PayoutDone,
    PayoutProposal,
    PayoutRefusal,
    Role,
    SetupInfo,
    SyncInfo,
    decode_message,
    encode_message,
    message_type,
)
from ._escrow_types import (
    BuildTxset,
    CreateWallet,
    Described,
    DescribeTxset,
    EscrowAction,
    EscrowEvent,
    EscrowTerms,
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
    Notify,
    PayFunding,
    PayoutExpected,
    Prepared,
    PrepareMultisig,
    ProposePayout,
    Send,
    Signed,
    SignFailed,
    SignTxset,
    Start,
    Submitted,
    SubmitTx,
    SyncFailed,
    TxDescription,
    TxsetBuilt,
    WalletCreated,
    WalletKeys,
    WalletOp,
    WatchFunding,
)


class State(IntEnum):
    S0_NEW = 0
    S1_WALLET_READY = 1
    S2_PREPARED = 2
    S3_MADE = 3
    S4_EXCHANGED = 4
    S5_READY = 5
    S6_AWAITING_FUNDING = 6
    S7_FUNDED = 7
    S8_SYNCING = 8
    S9_PROPOSED = 9
    S10_PAID_OUT = 10
    S98_EXPIRED = 98  # not funded by the deadline: abandoned, nothing was paid in
    S99_FAILED = 99


S = State
SETUP_STATES = (S.S0_NEW, S.S1_WALLET_READY, S.S2_PREPARED, S.S3_MADE, S.S4_EXCHANGED)
UNFUNDED_STATES = (*SETUP_STATES, S.S5_READY, S.S6_AWAITING_FUNDING)
TERMINAL_STATES = (S.S10_PAID_OUT, S.S98_EXPIRED, S.S99_FAILED)

# (state, input) -> the states it may lead to. Inputs are event names; peer messages are
# "msg:<type>". Anything not listed is refused (a peer's message) or a bug (ours).
TRANSITIONS: dict[tuple[State, str], frozenset[State]] = {
    # from the user / driver
    (S.S0_NEW, "start"): frozenset({S.S0_NEW}),
    (S.S7_FUNDED, "propose"): frozenset({S.S8_SYNCING}),
    # from our order machine: the one payout we may co-sign (kept; used by "msg:sync")
    **{(s, "expect"): frozenset({s}) for s in State if s not in TERMINAL_STATES},
    # from the driver's clock: not funded in time
    **{(s, "funding_expired"): frozenset({s, S.S98_EXPIRED}) for s in UNFUNDED_STATES},
    # from the wallet: set-up rounds (prepare, make, exchange x2)
    (S.S0_NEW, "wallet_created"): frozenset({S.S1_WALLET_READY}),
    (S.S1_WALLET_READY, "prepared"): frozenset({S.S2_PREPARED}),
    (S.S2_PREPARED, "made"): frozenset({S.S3_MADE}),
    (S.S3_MADE, "exchanged"): frozenset({S.S4_EXCHANGED}),
    (S.S4_EXCHANGED, "exchanged"): frozenset({S.S5_READY}),
    # from the wallet: funding
    (S.S6_AWAITING_FUNDING, "funding_sent"): frozenset({S.S6_AWAITING_FUNDING}),
    (S.S6_AWAITING_FUNDING, "funding_observed"): frozenset({S.S6_AWAITING_FUNDING, S.S7_FUNDED}),
    # from the wallet: payout
    (S.S8_SYNCING, "exported"): frozenset({S.S8_SYNCING}),
    (S.S8_SYNCING, "imported"): frozenset({S.S8_SYNCING}),
    (S.S8_SYNCING, "txset_built"): frozenset({S.S9_PROPOSED}),
    (S.S8_SYNCING, "described"): frozenset({S.S8_SYNCING, S.S7_FUNDED}),
    (S.S8_SYNCING, "signed"): frozenset({S.S8_SYNCING}),
    (S.S8_SYNCING, "sign_failed"): frozenset({S.S7_FUNDED}),
    (S.S8_SYNCING, "sync_failed"): frozenset({S.S7_FUNDED, S.S8_SYNCING}),
    (S.S8_SYNCING, "submitted"): frozenset({S.S10_PAID_OUT}),
    # from a peer: set-up (buffered until used)
    **{(s, "msg:setup"): frozenset({s}) for s in SETUP_STATES},
    **{(s, "msg:address"): frozenset({s}) for s in (*SETUP_STATES, S.S5_READY)},
    (S.S5_READY, "addresses_checked"): frozenset({S.S6_AWAITING_FUNDING, S.S99_FAILED}),
    # from a peer: funding and payout
    (S.S6_AWAITING_FUNDING, "msg:funding"): frozenset({S.S6_AWAITING_FUNDING}),
    # a proposer that saw the funding confirmed first: deferred until we see it too
    (S.S5_READY, "msg:sync"): frozenset({S.S5_READY}),
    (S.S6_AWAITING_FUNDING, "msg:sync"): frozenset({S.S6_AWAITING_FUNDING}),
    (S.S7_FUNDED, "msg:sync"): frozenset({S.S8_SYNCING, S.S7_FUNDED}),
    (S.S8_SYNCING, "msg:sync"): frozenset({S.S8_SYNCING}),
    (S.S8_SYNCING, "msg:proposal"): frozenset({S.S8_SYNCING}),
    (S.S8_SYNCING, "msg:refusal"): frozenset({S.S7_FUNDED, S.S8_SYNCING}),
    (S.S9_PROPOSED, "msg:refusal"): frozenset({S.S7_FUNDED, S.S8_SYNCING}),
    (S.S10_PAID_OUT, "msg:proposal"): frozenset({S.S10_PAID_OUT}),
    **{
        (s, "msg:done"): frozenset({S.S10_PAID_OUT})
        for s in (S.S6_AWAITING_FUNDING, S.S7_FUNDED, S.S8_SYNCING, S.S9_PROPOSED)
    },
}

_EVENT_NAMES: dict[type, str] = {
    Start: "start",
    ProposePayout: "propose",
    PayoutExpected: "expect",
    FundingExpired: "funding_expired",
    WalletCreated: "wallet_created",
    Prepared: "prepared",
    Made: "made",
    Exchanged: "exchanged",
    FundingSent: "funding_sent",
    FundingObserved: "funding_observed",
    Exported: "exported",
    Imported: "imported",
    TxsetBuilt: "txset_built",
    Described: "described",
    Signed: "signed",
    SignFailed: "sign_failed",
    Submitted: "submitted",
    SyncFailed: "sync_failed",
}


def event_name(event: EscrowEvent) -> str:
    if isinstance(event, MessageReceived):
        return "msg:" + message_type(event.message)
    return _EVENT_NAMES[type(event)]


class LocalProtocolError(Exception):
    """We (the driver) fed an event the table does not allow: a bug, never the peer's fault."""


@dataclass
class EscrowData:
    """Everything the machine knows; serialized to the encrypted store after each step."""

    terms: EscrowTerms
    role: Role
    wallet_name: str
    wallet_password: str
    state: State = S.S0_NEW
    keys: WalletKeys | None = None
    own_info: dict[int, str] = field(default_factory=dict)
    peer_info: dict[int, dict[str, str]] = field(default_factory=dict)
    address: str = ""
    peer_address: dict[str, str] = field(default_factory=dict)
    pending_op: str = ""
    funding_txid: str = ""
    funded_amount: int = 0
    funding_confirmations: int = 0
    seq: int = 0
    payout: Payout | None = None
    own_sync: str = ""
    peer_sync: str = ""
    imported: bool = False
    txset: str = ""
    tx_data: str = ""
    txids: tuple[str, ...] = ()
    last_refusal: str = ""
    failure: str = ""
    funding_seen: int = 0  # the most seen paid in so far, pool included
    funding_checked_at: int = 0  # when the latest funding look began (Unix seconds)
    deadline_passed: bool = False  # the funding deadline passed in S6: last look, never pay
    deferred: list[bytes] = field(default_factory=list)  # encoded peer messages, see Rules
    expected: Payout | None = None  # the only payout we may co-sign (records before: None)

    def to_wire(self) -> dict[str, Any]:
        return {
            "terms": self.terms.to_wire(),
            "role": self.role,
            "wallet_name": self.wallet_name,
            "wallet_password": self.wallet_password,
            "state": int(self.state),
            "keys": None if self.keys is None else dict(self.keys.__dict__),
            "own_info": {str(k): v for k, v in self.own_info.items()},
            "peer_info": {str(k): dict(v) for k, v in self.peer_info.items()},
            "address": self.address,
            "peer_address": dict(self.peer_address),
            "pending_op": self.pending_op,
            "funding_txid": self.funding_txid,
            "funded_amount": self.funded_amount,
            "funding_confirmations": self.funding_confirmations,
            "seq": self.seq,
            "payout": None if self.payout is None else self.payout.to_wire(),
            "own_sync": self.own_sync,
            "peer_sync": self.peer_sync,
            "imported": self.imported,
            "txset": self.txset,
            "tx_data": self.tx_data,
            "txids": list(self.txids),
            "last_refusal": self.last_refusal,
            "failure": self.failure,
            "funding_seen": self.funding_seen,
            "funding_checked_at": self.funding_checked_at,
            "deadline_passed": self.deadline_passed,
            "deferred": list(self.deferred),
            "expected": None if self.expected is None else self.expected.to_wire(),
        }

    @classmethod
    def from_wire(cls, value: dict[str, Any]) -> "EscrowData":
        v = dict(value)
        v["terms"] = EscrowTerms.from_wire(v["terms"])
        v["state"] = State(v["state"])
        v["keys"] = None if v["keys"] is None else WalletKeys(**v["keys"])
        v["own_info"] = {int(k): s for k, s in v["own_info"].items()}
        v["peer_info"] = {int(k): dict(d) for k, d in v["peer_info"].items()}
        v["payout"] = None if v["payout"] is None else Payout.from_wire(v["payout"])
        v["txids"] = tuple(v["txids"])
        v["deferred"] = [bytes(m) for m in v.get("deferred", [])]
        expected = v.get("expected")
        v["expected"] = None if expected is None else Payout.from_wire(expected)
        return cls(**v)


class EscrowMachine:
    """One party's view of one escrow.

    Args:
        data: the state, fresh (`EscrowMachine.create`) or loaded from the store.
    """

    def __init__(self, data: EscrowData) -> None:
        self.data = data

    @classmethod
    def create(
        cls, terms: EscrowTerms, role: Role, *, wallet_name: str, wallet_password: str
    ) -> "EscrowMachine":
        return cls(EscrowData(terms, role, wallet_name, wallet_password))

    @property
    def state(self) -> State:
        return self.data.state

    @property
    def role(self) -> Role:
        return self.data.role

    @property
    def others(self) -> tuple[Role, ...]:
        return tuple(r for r in ROLES if r != self.data.role)

    # -- entry point ---------------------------------------------------------------------------

    def handle(self, event: EscrowEvent) -> list[EscrowAction]:
        """Apply one event; return the actions to carry out, in order.

        Raises:
            EscrowProtocolError: a peer message that is not allowed (state unchanged).
            LocalProtocolError: an event from our own side that the table does not allow.
        """
        if isinstance(event, MessageReceived):
            return self._on_message(event.message)
        name = event_name(event)
        from_driver = isinstance(event, Start | ProposePayout | PayoutExpected | FundingExpired)
        if not from_driver and not self.data.pending_op:
            return []  # a late answer to a call the machine no longer waits for
        self._check_allowed(name, local=True)
        if not from_driver:
            self.data.pending_op = ""
        handler = getattr(self, "_on_" + name)
        actions: list[EscrowAction] = handler(event)
        actions += self._advance()
        return actions + self._replay_deferred()

    def _check_allowed(self, name: str, *, local: bool) -> frozenset[State]:
        allowed = TRANSITIONS.get((self.data.state, name))
        if allowed is None:
            text = f"{name!r} is not allowed in state {self.data.state.name}"
            if local:
                raise LocalProtocolError(text)
            raise EscrowProtocolError(text)
        return allowed

    def _goto(self, name: str, new: State) -> None:
        allowed = TRANSITIONS[(self.data.state, name)]
        if new not in allowed:
            raise LocalProtocolError(f"{self.data.state.name} --{name}--> {new.name} not in table")
        self.data.state = new

    def _op(self, op: WalletOp) -> list[EscrowAction]:
        if self.data.pending_op:
            raise LocalProtocolError(f"wallet call {type(op).__name__} while one is in flight")
        self.data.pending_op = type(op).__name__
        return [op]

    def _send_all(self, message: EscrowMessage) -> list[EscrowAction]:
        return [Send(role, message) for role in self.others]

    # -- set-up --------------------------------------------------------------------------------

    def _on_start(self, _event: Start) -> list[EscrowAction]:
        if self.data.pending_op:
            return []
        return self._op(CreateWallet(self.data.wallet_name, self.data.wallet_password))

    def _on_wallet_created(self, event: WalletCreated) -> list[EscrowAction]:
        self.data.keys = event.keys
        self.data.wallet_name, self.data.wallet_password = event.name, event.password
        self._goto("wallet_created", S.S1_WALLET_READY)
        return self._op(PrepareMultisig())

    def _setup_done(self, name: str, new: State, rnd: int, info: str) -> list[EscrowAction]:
        self.data.own_info[rnd] = info
        self._goto(name, new)
        d = self.data
        return self._send_all(SetupInfo(d.terms.escrow_id, d.role, rnd, info))

    def _on_prepared(self, event: Prepared) -> list[EscrowAction]:
        return self._setup_done("prepared", S.S2_PREPARED, 0, event.info)

    def _on_made(self, event: Made) -> list[EscrowAction]:
        return self._setup_done("made", S.S3_MADE, 1, event.info)

    def _on_exchanged(self, event: Exchanged) -> list[EscrowAction]:
        if self.data.state == S.S3_MADE:
            return self._setup_done("exchanged", S.S4_EXCHANGED, 2, event.info)
        if not event.ready:
            raise LocalProtocolError("the second key exchange did not finish the wallet")
        self.data.address = event.address
        self._goto("exchanged", S.S5_READY)
        d = self.data
        return self._send_all(AddressAnnounce(d.terms.escrow_id, d.role, event.address))

    def _peer_infos(self, rnd: int) -> tuple[str, ...] | None:
        got = self.data.peer_info.get(rnd, {})
        if all(role in got for role in self.others):
            return tuple(got[role] for role in self.others)
        return None

    # -- funding -------------------------------------------------------------------------------

    def _on_funding_sent(self, event: FundingSent) -> list[EscrowAction]:
        self.data.funding_txid = event.txid
        self._goto("funding_sent", S.S6_AWAITING_FUNDING)
        d = self.data
        return [
            *self._send_all(FundingNotice(d.terms.escrow_id, d.role, event.txid)),
            Notify("info", f"escrow {d.terms.escrow_id}: funding sent ({event.txid})"),
        ]

    def _on_funding_observed(self, event: FundingObserved) -> list[EscrowAction]:
        d = self.data
        d.funding_confirmations = event.confirmations
        d.funding_seen = max(d.funding_seen, event.amount)
        d.funding_checked_at = max(d.funding_checked_at, event.at)
        if event.amount >= d.terms.amount and event.confirmations >= d.terms.confirmations:
            d.funded_amount = event.amount
            self._goto("funding_observed", S.S7_FUNDED)
            return [Notify("info", f"escrow {d.terms.escrow_id}: funded and confirmed")]
        self._goto("funding_observed", S.S6_AWAITING_FUNDING)
        return []

    def _nothing_paid_by(self, now: float) -> bool:
        d = self.data
        deadline = d.terms.funding_expires_at
        return (
            bool(deadline)
            and now >= deadline
            and d.state in UNFUNDED_STATES
            and not d.funding_seen
            and not d.funding_txid
        )

    def funding_expired_at(self, now: float) -> bool:
        """Whether the driver should report the deadline (`FundingExpired`) at ``now``.

        True past the funding deadline with nothing seen paid in (coins seen in time, even
        only in the pool, are waited for) — except while the last look at the wallet that
        `FundingExpired` asked for is still under way.
        """
        d = self.data
        looking = d.deadline_passed and d.funding_checked_at < d.terms.funding_expires_at
        return self._nothing_paid_by(now) and not looking

    def _on_funding_expired(self, event: FundingExpired) -> list[EscrowAction]:
        d = self.data
        if not self._nothing_paid_by(event.now):
            self._goto("funding_expired", d.state)
            return []
        if d.state == S.S6_AWAITING_FUNDING and d.funding_checked_at < d.terms.funding_expires_at:
            # Our last look at the wallet began before the deadline (or never happened: a
            # driver asked to stop at S6, a restart). A payment made in time may already be
            # in the pool: look once more before abandoning, and never pay from now on.
            d.deadline_passed = True
            d.pending_op = ""
            self._goto("funding_expired", d.state)
            return self._op(WatchFunding(d.terms.amount))
        d.pending_op = ""
        d.failure = "the escrow was not funded in time"
        self._goto("funding_expired", S.S98_EXPIRED)
        return [Notify("warning", f"escrow {d.terms.escrow_id}: {d.failure}; abandoned")]

    # -- payout --------------------------------------------------------------------------------

    def check_payout(self, payout: Payout) -> None:
        """Whether ``payout`` may be signed at all for this escrow (both sides use this)."""
        payout.check_shape()
        if payout.total != self.data.funded_amount:
            raise EscrowProtocolError(
                f"the payout splits {payout.total} piconero but the escrow holds "
                f"{self.data.funded_amount}"
            )

    def _on_propose(self, event: ProposePayout) -> list[EscrowAction]:
        try:
            self.check_payout(event.payout)
        except EscrowProtocolError as exc:
            return [Notify("error", str(exc))]
        if event.payout.proposer != self.data.role:
            return [Notify("error", f"only the {event.payout.proposer} can propose this payout")]
        return self._begin_payout("propose", event.payout, self.data.seq + 1)

    def _on_expect(self, event: PayoutExpected) -> list[EscrowAction]:
        d = self.data
        self._goto("expect", d.state)
        if d.expected == event.payout:
            return []  # fed again at every (re)start of the driver
        if d.expected is not None:
            return [Notify("error", "our order named a second payout to co-sign; kept the first")]
        try:
            event.payout.check_shape()
            if event.payout.cosigner != d.role:
                raise EscrowProtocolError(f"the {event.payout.cosigner} co-signs this payout")
        except EscrowProtocolError as exc:
            return [Notify("error", f"not a payout we can co-sign: {exc}")]
        d.expected = event.payout
        return []

    def _begin_payout(self, name: str, payout: Payout, seq: int) -> list[EscrowAction]:
        d = self.data
        d.payout, d.seq = payout, seq
        d.own_sync = d.peer_sync = d.txset = d.tx_data = d.last_refusal = ""
        d.imported, d.txids = False, ()
        self._goto(name, S.S8_SYNCING)
        return self._op(ExportInfo(seq))

    def _counterpart(self) -> Role:
        assert self.data.payout is not None
        p = self.data.payout
        return p.cosigner if self.data.role == p.proposer else p.proposer

    def _on_exported(self, event: Exported) -> list[EscrowAction]:
        d = self.data
        assert d.payout is not None
        self._goto("exported", S.S8_SYNCING)
        if event.seq != d.seq:
            return []
        d.own_sync = event.info
        sync = SyncInfo(d.terms.escrow_id, d.role, d.seq, d.payout, event.info)
        return [Send(self._counterpart(), sync)]

    def _on_imported(self, event: Imported) -> list[EscrowAction]:
        d = self.data
        self._goto("imported", S.S8_SYNCING)
        if event.seq != d.seq:
            return []
        d.imported = True
        return []

    def _on_txset_built(self, event: TxsetBuilt) -> list[EscrowAction]:
        d = self.data
        assert d.payout is not None
        if event.seq != d.seq:
            raise LocalProtocolError("txset for an old attempt")
        d.txset = event.txset
        self._goto("txset_built", S.S9_PROPOSED)
        proposal = PayoutProposal(d.terms.escrow_id, d.role, d.seq, d.payout, event.txset)
        return [Send(d.payout.cosigner, proposal)]

    def _on_described(self, event: Described) -> list[EscrowAction]:
        d = self.data
        assert d.payout is not None
        if event.seq != d.seq:
            raise LocalProtocolError("description for an old attempt")
        try:
            if d.payout != d.expected:  # never sign without our side's agreement
                raise EscrowProtocolError(payout_mismatch(d.expected, d.payout))
            check_description(event.description, d.payout, d.terms, d.address, d.funded_amount)
        except EscrowProtocolError as exc:
            self._goto("described", S.S7_FUNDED)
            d.last_refusal = str(exc)
            refusal = PayoutRefusal(d.terms.escrow_id, d.role, d.seq, str(exc)[:200], False)
            return [
                Send(d.payout.proposer, refusal),
                Notify("warning", f"refused a payout that does not match the agreement: {exc}"),
            ]
        self._goto("described", S.S8_SYNCING)
        return self._op(SignTxset(d.seq, d.txset))

    def _on_signed(self, event: Signed) -> list[EscrowAction]:
        d = self.data
        d.tx_data, d.txids = event.tx_data, event.txids
        self._goto("signed", S.S8_SYNCING)
        return self._op(SubmitTx(d.seq, event.tx_data, event.txids))

    def _on_sign_failed(self, event: SignFailed) -> list[EscrowAction]:
        d = self.data
        assert d.payout is not None
        self._goto("sign_failed", S.S7_FUNDED)
        refusal = PayoutRefusal(d.terms.escrow_id, d.role, d.seq, event.reason[:200], True)
        return [Send(d.payout.proposer, refusal)]

    def _on_sync_failed(self, event: SyncFailed) -> list[EscrowAction]:
        d = self.data
        assert d.payout is not None
        if event.seq != d.seq:
            self._goto("sync_failed", S.S8_SYNCING)
            return []
        note = Notify("warning", f"payout attempt {d.seq} restarts: {event.reason[:200]}")
        if d.role == d.payout.proposer:
            return [note, *self._begin_payout("sync_failed", d.payout, d.seq + 1)]
        self._goto("sync_failed", S.S7_FUNDED)
        refusal = PayoutRefusal(d.terms.escrow_id, d.role, d.seq, event.reason[:200], True)
        return [note, Send(d.payout.proposer, refusal)]

    def _on_submitted(self, event: Submitted) -> list[EscrowAction]:
        d = self.data
        d.txids = event.txids
        self._goto("submitted", S.S10_PAID_OUT)
        return [
            *self._send_all(PayoutDone(d.terms.escrow_id, d.role, d.seq, event.txids)),
            Notify("info", f"escrow {d.terms.escrow_id}: paid out ({', '.join(event.txids)})"),
        ]

    # -- peer messages -------------------------------------------------------------------------

    def _on_message(self, message: EscrowMessage) -> list[EscrowAction]:
        d = self.data
        if message.escrow != d.terms.escrow_id or message.sender == d.role:
            raise EscrowProtocolError("message for another escrow or from ourselves")
        name = "msg:" + message_type(message)
        allowed_now = (d.state, name) in TRANSITIONS
        if not allowed_now and self._is_stale(message):
            return []
        if isinstance(message, SyncInfo | PayoutRefusal | PayoutDone) and self._must_defer(message):
            self._defer(message)
            if allowed_now:
                self._goto(name, d.state)
            return []
        self._check_allowed(name, local=False)
        handler = getattr(self, "_msg_" + message_type(message))
        actions: list[EscrowAction] = handler(message)
        actions += self._advance()
        return actions + self._replay_deferred()

    def _must_defer(self, message: EscrowMessage) -> bool:
        """Whether a valid-looking message can only be used later (see Rules)."""
        d = self.data
        if isinstance(message, PayoutDone):
            # A party outside the payout can still miss a peer's address when the payout's
            # "done" overtakes it: the escrow was funded, so we get there.
            return d.state in (*SETUP_STATES, S.S5_READY)
        if isinstance(message, SyncInfo):
            if d.state in (S.S5_READY, S.S6_AWAITING_FUNDING):
                return True
            if d.state == S.S7_FUNDED:
                return d.expected is None  # asked to co-sign before our side agreed a payout
            return bool(d.pending_op) and d.state == S.S8_SYNCING and message.seq > d.seq
        if isinstance(message, PayoutRefusal):
            return bool(d.pending_op) and message.seq == d.seq
        return False

    def _defer(self, message: SyncInfo | PayoutRefusal | PayoutDone) -> None:
        """Keep ``message`` for later: one per sender and type, the newest attempt.

        A sender's newer attempt supersedes its older one (which would be stale once the newer
        is used), so at most two senders x three types wait and no party can push out
        another party's message, however many it sends.
        """
        d = self.data
        for i, raw in enumerate(d.deferred):
            waiting = decode_message(raw)
            if type(waiting) is type(message) and waiting.sender == message.sender:
                assert isinstance(waiting, SyncInfo | PayoutRefusal | PayoutDone)
                if message.seq > waiting.seq:
                    d.deferred[i] = encode_message(message)
                return
        d.deferred.append(encode_message(message))

    def _replay_deferred(self) -> list[EscrowAction]:
        """Use each deferred message as soon as it no longer has to wait (`_must_defer`).

        A message that still has to wait stays; each use may change the state, so the waiting
        list is looked at again from the start until nothing more can be used.
        """
        d = self.data
        actions: list[EscrowAction] = []
        progress = True
        while progress:
            progress = False
            for raw in list(d.deferred):
                message = decode_message(raw)
                if self._must_defer(message):
                    continue
                d.deferred.remove(raw)
                try:
                    actions += self._on_message(message)
                except EscrowProtocolError as exc:
                    actions.append(Notify("warning", f"ignored a deferred message: {exc}"))
                progress = True
                break
        return actions

    def _is_stale(self, message: EscrowMessage) -> bool:
        """A message we already used or that is for an attempt already over: ignore it."""
        d = self.data
        match message:
            case SetupInfo():
                return d.peer_info.get(message.round, {}).get(message.sender) == message.info
            case AddressAnnounce():
                return d.peer_address.get(message.sender) == message.address
            case FundingNotice():
                return True  # informational only
            case SyncInfo() | PayoutProposal() | PayoutRefusal():
                return message.seq <= d.seq
            case _:  # PayoutDone
                return d.state == S.S10_PAID_OUT

    def _msg_setup(self, message: SetupInfo) -> list[EscrowAction]:
        known = self.data.peer_info.setdefault(message.round, {})
        if message.sender in known and known[message.sender] != message.info:
            raise EscrowProtocolError(f"{message.sender} changed its round {message.round} info")
        known[message.sender] = message.info
        return []

    def _msg_address(self, message: AddressAnnounce) -> list[EscrowAction]:
        known = self.data.peer_address
        if message.sender in known and known[message.sender] != message.address:
            raise EscrowProtocolError(f"{message.sender} changed its multisig address")
        known[message.sender] = message.address
        return []

    def _msg_funding(self, message: FundingNotice) -> list[EscrowAction]:
        return []  # informational: every party checks the chain itself

    def _msg_sync(self, message: SyncInfo) -> list[EscrowAction]:
        d = self.data
        if d.state == S.S7_FUNDED:
            # We are asked to co-sign: the same shape rules as for our own proposals.
            try:
                message.payout.check_shape()
                if message.payout.cosigner != d.role or message.payout.proposer != message.sender:
                    raise EscrowProtocolError("this payout is not ours to co-sign")
                if message.payout != d.expected:
                    raise EscrowProtocolError(payout_mismatch(d.expected, message.payout))
                self.check_payout(message.payout)
                if message.seq <= d.seq:
                    raise EscrowProtocolError("a payout attempt number was reused")
            except EscrowProtocolError as exc:
                refusal = PayoutRefusal(
                    d.terms.escrow_id, d.role, message.seq, str(exc)[:200], False
                )
                self._goto("msg:sync", S.S7_FUNDED)
                return [Send(message.sender, refusal), Notify("warning", str(exc))]
            actions = self._begin_payout("msg:sync", message.payout, message.seq)
            d.peer_sync = message.info
            return actions
        # In S8: either the co-signer's answer to our sync, or a fresh attempt from the proposer.
        if d.payout is None or message.sender != self._counterpart():
            raise EscrowProtocolError("sync from a party not in this payout")
        if message.payout != d.payout:
            raise EscrowProtocolError("the sync is for a different payout")
        if message.seq > d.seq and d.role == d.payout.cosigner and not d.pending_op:
            actions = self._begin_payout("msg:sync", message.payout, message.seq)
            d.peer_sync = message.info
            return actions
        if message.seq != d.seq:
            raise EscrowProtocolError("sync for another payout attempt")
        d.peer_sync = message.info
        self._goto("msg:sync", S.S8_SYNCING)
        return []

    def _msg_proposal(self, message: PayoutProposal) -> list[EscrowAction]:
        d = self.data
        if d.state == S.S10_PAID_OUT:  # the proposer missed our "done": say it again
            self._goto("msg:proposal", S.S10_PAID_OUT)
            done = PayoutDone(d.terms.escrow_id, d.role, d.seq, d.txids)
            return [Send(message.sender, done)] if d.txids else []
        if (
            d.payout is None
            or message.payout != d.payout
            or message.seq != d.seq
            or message.sender != d.payout.proposer
            or d.role != d.payout.cosigner
        ):
            raise EscrowProtocolError("a proposal that does not match the payout being synced")
        if d.txset:
            if d.txset != message.txset:
                raise EscrowProtocolError("the proposer changed its transaction set")
            return []
        d.txset = message.txset
        self._goto("msg:proposal", S.S8_SYNCING)
        return []

    def _msg_refusal(self, message: PayoutRefusal) -> list[EscrowAction]:
        d = self.data
        if d.payout is None or message.sender != d.payout.cosigner:
            raise EscrowProtocolError("a refusal from a party not in this payout")
        if message.seq < d.seq:
            return []  # about an attempt we already gave up
        if message.seq != d.seq:
            raise EscrowProtocolError("a refusal for a payout attempt that never was")
        d.last_refusal = message.reason
        if message.resync:
            return self._begin_payout("msg:refusal", d.payout, d.seq + 1)
        self._goto("msg:refusal", S.S7_FUNDED)
        return [Notify("warning", f"the {message.sender} refused the payout: {message.reason}")]

    def _msg_done(self, message: PayoutDone) -> list[EscrowAction]:
        d = self.data
        d.txids = message.txids
        d.pending_op = ""
        self._goto("msg:done", S.S10_PAID_OUT)
        return [Notify("info", f"escrow {d.terms.escrow_id}: paid out by the {message.sender}")]

    # -- what can happen next with what we have ------------------------------------------------

    def _advance(self) -> list[EscrowAction]:
        d = self.data
        if d.pending_op or d.state in TERMINAL_STATES:
            return []
        if d.state == S.S2_PREPARED and (infos := self._peer_infos(0)):
            return self._op(MakeMultisig(infos))
        if d.state == S.S3_MADE and (infos := self._peer_infos(1)):
            return self._op(ExchangeKeys(1, infos))
        if d.state == S.S4_EXCHANGED and (infos := self._peer_infos(2)):
            return self._op(ExchangeKeys(2, infos))
        if d.state == S.S5_READY and all(r in d.peer_address for r in self.others):
            if any(d.peer_address[r] != d.address for r in self.others):
                d.failure = "the parties' multisig addresses differ"
                self._goto("addresses_checked", S.S99_FAILED)
                return [Notify("error", f"escrow {d.terms.escrow_id}: {d.failure}")]
            self._goto("addresses_checked", S.S6_AWAITING_FUNDING)
            return self._advance()
        if d.state == S.S6_AWAITING_FUNDING:
            if d.role == "buyer" and not d.funding_txid and not d.deadline_passed:
                return self._op(PayFunding(d.address, d.terms.amount))
            return self._op(WatchFunding(d.terms.amount))
        if d.state == S.S8_SYNCING and d.own_sync and d.peer_sync and not d.imported:
            return self._op(ImportInfo(d.seq, (d.peer_sync,)))
        if d.state == S.S8_SYNCING and d.imported and d.payout is not None:
            if d.role == d.payout.proposer and not d.txset:
                return self._op(
                    BuildTxset(d.seq, d.payout, d.terms.seller_address, d.terms.buyer_address)
                )
            if d.role == d.payout.cosigner and d.txset and not d.tx_data:
                return self._op(DescribeTxset(d.seq, d.txset))
        return []

    def resume(self) -> list[EscrowAction]:
        """The actions to redo after a restart: the wallet call that was in flight, if any.

        Messages are re-sent by the driver from its outbox; this only restarts wallet work.
        """
        d = self.data
        if d.state == S.S0_NEW and not d.keys:
            d.pending_op = ""
            return self._op(CreateWallet(d.wallet_name, d.wallet_password))
        op = self._redo_op()
        d.pending_op = ""
        return self._op(op) if op is not None else self._advance()

    def _redo_op(self) -> WalletOp | None:
        d = self.data
        name = d.pending_op
        if not name:
            return None
        if name == "CreateWallet":
            return CreateWallet(d.wallet_name, d.wallet_password)
        if name == "PrepareMultisig":
            return PrepareMultisig()
        if name == "ExportInfo":
            return ExportInfo(d.seq)
        if name == "SignTxset":
            return SignTxset(d.seq, d.txset)
        if name == "SubmitTx":
            return SubmitTx(d.seq, d.tx_data, d.txids)
        return None  # everything else is recomputed by _advance from the data


def check_description(
    desc: TxDescription, payout: Payout, terms: EscrowTerms, own_address: str, funded: int
) -> None:
    """Refuse a transaction set unless it pays exactly the agreed payout.

    The co-signer pays the fee: every other recipient must get exactly its share; the
    co-signer gets its share minus the fee and any dust change (change may only go back to
    the escrow's own address); fee plus dust is capped by ``terms.max_fee``; and the
    transaction must spend the whole funded amount, no more, no less.

    Raises:
        EscrowProtocolError: with a one-line reason.
    """
    paid: dict[str, int] = {}
    for address, amount in desc.recipients:
        paid[address] = paid.get(address, 0) + amount
    expected = {
        terms.seller_address: payout.to_seller,
        terms.buyer_address: payout.to_buyer,
    }
    unknown = set(paid) - {a for a, v in expected.items() if v > 0}
    if unknown:
        raise EscrowProtocolError("the transaction pays an address that is not in the agreement")
    if desc.amount_in != funded:
        raise EscrowProtocolError("the transaction does not spend exactly the escrow's funds")
    if desc.change_amount and desc.change_address != own_address:
        raise EscrowProtocolError("the transaction sends change to a foreign address")
    if desc.fee + desc.change_amount > terms.max_fee:
        raise EscrowProtocolError("the fee is above the agreed maximum")
    payer = terms.payout_address(payout.cosigner)
    for address, share in expected.items():
        if share == 0:
            continue
        got = paid.get(address, 0)
        want = share - desc.fee - desc.change_amount if address == payer else share
        if got != want:
            raise EscrowProtocolError("the amounts differ from the agreed payout")
    if sum(paid.values()) + desc.fee + desc.change_amount != desc.amount_in:
        raise EscrowProtocolError("the transaction's amounts do not add up")


def payout_mismatch(expected: Payout | None, got: Payout) -> str:
    """Why ``got`` may not be co-signed: one line naming what our side agreed instead."""

    def show(p: Payout) -> str:
        return f"{p.kind} by the {p.proposer} (seller {p.to_seller}, buyer {p.to_buyer})"

    if expected is None:
        return f"refused a {show(got)}: this order agreed no payout for us to co-sign"
    fields = [
        name
        for name in ("kind", "proposer", "cosigner", "to_seller", "to_buyer")
        if getattr(expected, name) != getattr(got, name)
    ]
    return f"refused a {show(got)}: differs in {', '.join(fields)} from the agreed {show(expected)}"


def describe_for_audit(event: EscrowEvent) -> str:
    """A short, secret-free summary of an event for the audit log."""
    match event:
        case MessageReceived(message=m):
            return f"{message_type(m)} from {m.sender}"
        case ProposePayout(payout=p) | PayoutExpected(payout=p):
            return f"{p.kind}: seller {p.to_seller}, buyer {p.to_buyer}"
        case FundingObserved(amount=a, confirmations=c):
            return f"{a} piconero, {c} confirmations"
        case Submitted(txids=t) | Signed(txids=t):
            return ",".join(t)
        case FundingSent(txid=t):
            return t
        case _:
            return ""
