"""Drives one party's escrow: feeds events to the machine, commits, then acts.

Order of every step (the "nothing lost" rule): ``machine.handle(event)`` → commit the new
data, the outgoing messages and the audit rows in ONE transaction → only then send the
messages and start the wallet call. After a crash, `run_escrow` reloads the data, re-sends
the committed outbox (receivers ignore duplicates) and redoes the wallet call in flight
(`EscrowMachine.resume`). Wallet trouble (`WalletUnavailable`, refused calls) is recorded,
retried with back-off, and never loses state. A payout step the wallet refuses twice in a
row (import, build, describe) is reported to the machine as `SyncFailed`: the attempt starts
over with fresh multisig info instead of retrying stale info forever.

The payout our side agreed (``agreed``, from the order) is proposed if we are its proposer;
if we are its co-signer it is fed to the machine as `PayoutExpected` first thing in every
run, committed with the escrow before any message is read, and it is then the only payout
the machine co-signs.

Every wallet call holds the party's wallet-rpc lock and first makes sure the escrow's own
wallet is the open one (checked by address once the multisig address is known), so several
escrows of one party can share one wallet-rpc process.
"""

import dataclasses
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from ._errors import EscrowProtocolError, WalletError, WalletRpcError, WalletUnavailable
from ._escrow_machine import (
    TERMINAL_STATES,
    EscrowData,
    EscrowMachine,
    State,
    describe_for_audit,
    event_name,
)
from ._escrow_messages import Payout, Role, decode_message, encode_message
from ._escrow_ops import NO_WALLET_CODE, EscrowOps, PartyWallets, SpareWallet
from ._escrow_types import (
    BuildTxset,
    CreateWallet,
    DescribeTxset,
    EscrowAction,
    EscrowEvent,
    EscrowTerms,
    ExchangeKeys,
    FundingExpired,
    FundingObserved,
    ImportInfo,
    MakeMultisig,
    MessageReceived,
    Notify,
    PayoutExpected,
    ProposePayout,
    Send,
    Start,
    SyncFailed,
    WalletCreated,
    WalletKeys,
    WalletOp,
    WatchFunding,
)
from ._mailbox import EscrowMailbox, Mailbox
from ._state_store import WalletStore

TERMINAL = TERMINAL_STATES
SPARE_KEY = "escrow.spare_wallet"
# Payout steps whose refusal means "this attempt's multisig info is unusable".
SYNC_STEPS = (ImportInfo, BuildTxset, DescribeTxset)
SYNC_REFUSALS_BEFORE_RESTART = 2


@dataclass
class DriverOptions:
    poll_interval: float = 0.25  # how often to look at the inbox and the chain
    retry_max: float = 5.0  # back-off ceiling after a wallet error
    on_state: Callable[[str, State], None] | None = None  # called after each commit
    clock: Callable[[], float] = time.time  # Unix seconds, for the funding deadline
    # Called after each commit with (escrow id, level, text) for every warning or error the
    # machine gave and every peer message it rejected: a node shows them on the order.
    on_notice: Callable[[str, str, str], None] | None = None


@dataclass
class EscrowParty:
    """One party (buyer, seller or arbiter) with its store, wallets and mailbox root."""

    store: WalletStore
    wallets: PartyWallets
    mailbox_root: Path
    options: DriverOptions = field(default_factory=DriverOptions)
    # (escrow id, our role) -> mailbox; default: the file mailbox under ``mailbox_root``.
    # A node passes `DatabaseMailbox` so escrow messages stay in the encrypted store.
    mailbox_factory: Callable[[str, str], EscrowMailbox] | None = None

    def __post_init__(self) -> None:
        self.ops = EscrowOps(self.wallets)
        self.ops.spare = self._load_spare()
        self._runs: dict[str, EscrowMachine] = {}  # escrows being driven right now

    def _load_spare(self) -> SpareWallet | None:
        text = self.store.get_config(SPARE_KEY)
        if not text:
            return None
        v = json.loads(text)
        return SpareWallet(v["name"], v["password"], WalletKeys(**v["keys"]))

    def stored_spare_name(self) -> str:
        spare = self._load_spare()
        return "" if spare is None else spare.name

    async def prepare_spare_wallet(self) -> None:
        """Make the next escrow's wallet now (multisig on, left open), if none is ready.

        Creating a wallet and turning multisig on costs 5-30 s on a small machine; a node
        calls this in the background when idle (and after each escrow's set-up takes the
        spare), so the next escrow's set-up starts from a ready wallet.
        """
        async with self.ops.lock:
            if self.ops.spare is not None:
                await self.ops.ensure_open(self.ops.spare.name, self.ops.spare.password)
                return
            name = f"escrow-{secrets.token_hex(8)}"
            password = secrets.token_urlsafe(24)
            keys = await self.ops.make_wallet(name, password)
            spare = {"name": name, "password": password, "keys": dict(keys.__dict__)}
            self.store.set_config(SPARE_KEY, json.dumps(spare))
            self.ops.spare = SpareWallet(name, password, keys)

    @property
    def has_spare_wallet(self) -> bool:
        return self.ops.spare is not None

    def _setting_up(self) -> bool:
        return any(m.state < State.S6_AWAITING_FUNDING for m in self._runs.values())

    async def serve_spare_wallets(
        self,
        *,
        check_interval: float = 1.0,
        task_status: Any = trio.TASK_STATUS_IGNORED,  # trio.TaskStatus[None]; stubs lack it
    ) -> None:
        """Keep one spare escrow wallet ready, forever (start it in the node's nursery).

        This is what makes escrow set-up fast: the costly wallet creation happens here, in
        the background, never inside an escrow's set-up. A spare is made whenever none is
        ready and no escrow of this party is in its set-up rounds (making one holds the
        wallet-rpc for several seconds, which would stall a key exchange in progress; an
        escrow that waits for funding or pays out only polls, so it can wait).
        Wallet trouble is retried with back-off; started() is reported at once.
        """
        task_status.started()
        backoff = 0.0
        while True:
            # When no escrow runs, (re)open the spare too: an escrow that ran since then left
            # its own wallet open, and the next set-up would pay for the switch.
            if (self.ops.spare is None and not self._setting_up()) or (
                self.ops.spare is not None and not self._runs
            ):
                try:
                    await self.prepare_spare_wallet()
                    backoff = 0.0
                except (WalletUnavailable, WalletRpcError, WalletError):
                    backoff = min(max(backoff * 2, check_interval), self.options.retry_max * 6)
                    await trio.sleep(backoff)
                    continue
            await trio.sleep(check_interval)

    def create_escrow(self, terms: EscrowTerms, role: Role) -> EscrowMachine:
        """Record a new escrow (state S0) with a fresh wallet name and password."""
        existing = self.store.load_escrow(terms.escrow_id)
        if existing is not None:
            return EscrowMachine(EscrowData.from_wire(existing.data))
        machine = EscrowMachine.create(
            terms,
            role,
            wallet_name=f"escrow-{terms.escrow_id}-{role}",
            wallet_password=secrets.token_urlsafe(24),
        )
        self.store.save_escrow(
            terms.escrow_id,
            role,
            int(machine.state),
            machine.data.to_wire(),
            [],
            [("", machine.state.name, "created", f"{role}, {terms.amount} piconero")],
        )
        return machine

    def load(self, escrow_id: str) -> EscrowMachine:
        stored = self.store.load_escrow(escrow_id)
        if stored is None:
            raise WalletError(f"no escrow {escrow_id!r} in this profile")
        return EscrowMachine(EscrowData.from_wire(stored.data))

    async def run_escrow(
        self,
        escrow_id: str,
        *,
        agreed: Payout | None = None,
        until: State = State.S10_PAID_OUT,
    ) -> EscrowMachine:
        """Run until the escrow reaches ``until`` (or a terminal state); safe to call again.

        Args:
            agreed: the payout our side agreed. Its proposer proposes it once funded (if
                none was proposed yet; stored as part of the step, so a restart does not
                repeat it); its co-signer will co-sign it and nothing else. Other roles, and
                a co-signer given none, sign nothing: a proposal to them waits.
        """
        stored = self.store.load_escrow(escrow_id)
        if stored is None:
            raise WalletError(f"no escrow {escrow_id!r} in this profile")
        machine = EscrowMachine(EscrowData.from_wire(stored.data))
        mailbox: EscrowMailbox = (
            Mailbox(Path(self.mailbox_root), escrow_id, machine.role)
            if self.mailbox_factory is None
            else self.mailbox_factory(escrow_id, machine.role)
        )
        run = _Run(self, machine, mailbox)
        self._runs[escrow_id] = machine
        try:
            # Re-send what the last committed step meant to send (duplicates are ignored).
            for to, data in stored.outbox:
                mailbox.send(to, data)
            if machine.state == State.S0_NEW and not machine.data.pending_op:
                await run.step(Start())
            else:
                await run.reopen_wallet()
                run.queue.extend(machine.resume())
            await run.loop(until, agreed)
        finally:
            del self._runs[escrow_id]
        return machine


class _Run:
    def __init__(self, party: EscrowParty, machine: EscrowMachine, mailbox: EscrowMailbox) -> None:
        self.party = party
        self.machine = machine
        self.mailbox = mailbox
        self.queue: list[EscrowAction] = []
        self.backoff = 0.0
        self.last_error = ""
        self.rebuilt_for: WalletOp | None = None
        self.sync_refusals = 0

    @property
    def _id(self) -> str:
        return self.machine.data.terms.escrow_id

    async def step(self, event: EscrowEvent) -> None:
        """handle → commit → queue the actions (sends go out right after the commit)."""
        before = self.machine.state
        try:
            actions = self.machine.handle(event)
        except EscrowProtocolError as exc:
            self._record(before, "rejected " + event_name(event), str(exc))
            self._notice("warning", f"rejected {event_name(event)}: {exc}")
            return
        after = self.machine.state
        sends = [(a.to, encode_message(a.message)) for a in actions if isinstance(a, Send)]
        audit = []
        if after != before or not isinstance(event, MessageReceived):
            audit.append((before.name, after.name, event_name(event), describe_for_audit(event)))
        for a in actions:
            if isinstance(a, Notify):
                audit.append((after.name, after.name, "notice:" + a.level, a.text))
        store = self.party.store
        with store.db.transaction():
            store.save_escrow(
                self._id, self.machine.role, int(after), self.machine.data.to_wire(), sends, audit
            )
            if isinstance(event, WalletCreated) and (self.party.stored_spare_name() == event.name):
                store.set_config(SPARE_KEY, "")  # the spare now belongs to this escrow
        spare = self.party.ops.spare
        if isinstance(event, WalletCreated) and spare is not None and spare.name == event.name:
            self.party.ops.spare = None
        for to, data in sends:
            self.mailbox.send(to, data)
        for a in actions:
            if isinstance(a, Notify) and a.level != "info":
                self._notice(a.level, a.text)
        self.queue.extend(a for a in actions if not isinstance(a, Send | Notify))
        if after != before and self.party.options.on_state is not None:
            self.party.options.on_state(self._id, after)

    def _notice(self, level: str, text: str) -> None:
        if self.party.options.on_notice is not None:
            self.party.options.on_notice(self._id, level, text)

    def _record(self, state: State, event: str, detail: str) -> None:
        self.party.store.save_escrow(
            self._id,
            self.machine.role,
            int(state),
            self.machine.data.to_wire(),
            [],
            [(state.name, state.name, event, detail)],
        )

    def _expected_address(self) -> str:
        d = self.machine.data
        return d.address if d.state >= State.S5_READY else ""

    async def reopen_wallet(self) -> None:
        d = self.machine.data
        while True:
            try:
                if d.keys is not None:
                    async with self.party.ops.lock:
                        await self.party.ops.ensure_open(
                            d.wallet_name, d.wallet_password, self._expected_address()
                        )
                return
            except (WalletUnavailable, WalletRpcError, WalletError) as exc:
                self._note_error("wallet-error:open", exc)
                await self._wait_after_error(exc)

    def _note_error(self, event: str, exc: Exception) -> None:
        """Record a wallet error in the audit log once (not on every retry)."""
        if str(exc) != self.last_error:
            self.last_error = str(exc)
            self._record(self.machine.state, event, str(exc))

    async def loop(self, until: State, agreed: Payout | None) -> None:
        opts = self.party.options
        role = self.machine.role
        propose = agreed if agreed is not None and agreed.proposer == role else None
        expect = agreed if agreed is not None and agreed.cosigner == role else None
        while self.machine.state not in TERMINAL and self.machine.state < until:
            if expect is not None:
                # Committed before any peer message is read: a request to co-sign that
                # arrives now is checked against it (one kept from earlier is, too).
                await self.step(PayoutExpected(expect))
                expect = None
                continue
            await self._drain_inbox()
            if self.machine.state in TERMINAL or self.machine.state >= until:
                # A peer's message just moved us there. Stop before the wallet call it
                # queued: a caller that asked to stop at S6 must not have the buyer pay.
                break
            d = self.machine.data
            now = opts.clock()
            if self.machine.funding_expired_at(now):
                # The machine either abandons the escrow or asks for one last look at the
                # wallet (its only action); the calls queued before are void either way.
                self.queue.clear()
                await self.step(FundingExpired(int(now)))
                continue
            if (
                propose is not None
                and d.state == State.S7_FUNDED
                and (d.seq == 0 or d.last_refusal)
            ):
                await self.step(ProposePayout(propose))
                propose = None  # once per call: after a refusal the user decides again
                continue
            if self.queue:
                op = self.queue.pop(0)
                assert not isinstance(op, Send | Notify)
                await self._run_op(op)
                continue
            await trio.sleep(opts.poll_interval)

    async def _drain_inbox(self) -> None:
        for path, data in self.mailbox.receive():
            try:
                message = decode_message(data)
            except EscrowProtocolError as exc:
                self._record(self.machine.state, "rejected message", str(exc))
            else:
                await self.step(MessageReceived(message))
            self.mailbox.ack(path)

    async def _run_op(self, op: WalletOp) -> None:
        d = self.machine.data
        if isinstance(op, WatchFunding) and self.backoff == 0.0:
            await trio.sleep(self.party.options.poll_interval)
        ops = self.party.ops
        try:
            async with ops.lock:
                if d.keys is not None and not isinstance(op, CreateWallet):
                    await ops.ensure_open(
                        d.wallet_name, d.wallet_password, self._expected_address()
                    )
                started = int(self.party.options.clock())
                event = await ops.run(op, d.wallet_password)
                if isinstance(event, FundingObserved):
                    event = dataclasses.replace(event, at=started)
        except (WalletUnavailable, WalletRpcError, WalletError) as exc:
            if isinstance(exc, WalletRpcError) and isinstance(op, SYNC_STEPS):
                ops.forget_open()  # reopen and re-check the wallet before the next try
                self.sync_refusals += 1
                if self.sync_refusals >= SYNC_REFUSALS_BEFORE_RESTART:
                    self.sync_refusals = 0
                    self._note_error("wallet-error:" + type(op).__name__, exc)
                    await self.step(SyncFailed(op.seq, exc.message))
                    return
            if (
                isinstance(exc, WalletRpcError)
                and isinstance(op, MakeMultisig | ExchangeKeys)
                and self.rebuilt_for != op
            ):
                self.rebuilt_for = op
                # The wallet is ahead of the store (killed after the call, before the
                # commit): rebuild it from its keys and replay the committed rounds.
                await self._rebuild(op)
                self.queue.insert(0, op)
                return
            if isinstance(exc, WalletRpcError) and exc.code == NO_WALLET_CODE:
                self.party.ops.forget_open()  # wallet-rpc restarted: open the wallet again
            self._note_error("wallet-error:" + type(op).__name__, exc)
            self.queue.insert(0, op)
            await self._wait_after_error(exc)
            if isinstance(exc, WalletRpcError) and exc.code == NO_WALLET_CODE:
                await self.reopen_wallet()
            return
        self.backoff = 0.0
        self.last_error = ""
        self.sync_refusals = 0
        await self.step(event)

    async def _rebuild(self, op: "MakeMultisig | ExchangeKeys") -> None:
        d = self.machine.data
        assert d.keys is not None
        done_rounds = 0 if isinstance(op, MakeMultisig) else op.round
        peer_rounds = [
            tuple(d.peer_info[r][role] for role in self.machine.others) for r in range(done_rounds)
        ]
        self._record(self.machine.state, "wallet-rebuild", f"replaying {done_rounds} round(s)")
        while True:
            try:
                async with self.party.ops.lock:
                    await self.party.ops.rebuild(
                        d.wallet_name, d.wallet_password, d.keys, peer_rounds
                    )
                return
            except (WalletUnavailable, WalletRpcError, WalletError) as exc:
                self._record(self.machine.state, "wallet-error:rebuild", str(exc))
                await self._wait_after_error(exc)

    async def _wait_after_error(self, exc: Exception) -> None:
        self.backoff = min(max(self.backoff * 2, 0.25), self.party.options.retry_max)
        await trio.sleep(self.backoff)
