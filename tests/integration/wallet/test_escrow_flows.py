"""Full escrows on the real regtest chain: release (+ double submit), refund, dispute split
(after a tampered payout is refused)."""

import time
from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.wallet import EscrowParty, EscrowTerms, Payout, State
from umbra.wallet._escrow_ops import EscrowOps
from umbra.wallet._escrow_types import BuildTxset, SubmitTx
from umbra.wallet._wallet import UserWallet

from .conftest import PARTIES, Chain, make_party

pytestmark = pytest.mark.monero

AMOUNT = 2 * PICONERO_PER_XMR


def terms_for(chain: Chain, escrow_id: str, amount: int = AMOUNT) -> EscrowTerms:
    return EscrowTerms(
        escrow_id=escrow_id,
        amount=amount,
        buyer_address=chain.addresses["buyer"],
        seller_address=chain.addresses["seller"],
        confirmations=10,
    )


async def miner(chain: Chain, stop: trio.Event) -> None:
    """Mine a block every 0.3 s while the parties wait for confirmations."""
    while not stop.is_set():
        await chain.sandbox.mine(1)
        with trio.move_on_after(0.3):
            await stop.wait()


async def run_all(
    chain: Chain,
    parties: dict[str, EscrowParty],
    escrow_id: str,
    payout: Payout,
    *,
    stop_when: "trio.Event | None" = None,
) -> dict[str, State]:
    results: dict[str, State] = {}
    stop = trio.Event()

    async def one(role: str) -> None:
        machine = await parties[role].run_escrow(escrow_id, agreed=payout)
        results[role] = machine.state

    async with trio.open_nursery() as nursery:
        nursery.start_soon(miner, chain, stop)
        with trio.move_on_after(300) as timeout:  # a deadline, not a timing assertion
            async with trio.open_nursery() as inner:
                for role in PARTIES:
                    inner.start_soon(one, role)
                if stop_when is not None:
                    await stop_when.wait()
                    inner.cancel_scope.cancel()
        stop.set()
    if timeout.cancelled_caught:
        for r in PARTIES:
            for e in parties[r].store.audit_log(escrow_id)[-6:]:
                print(r, e.from_state, e.to_state, e.event, e.detail)
    assert not timeout.cancelled_caught, f"escrow {escrow_id} did not finish in time"
    return {r: parties[r].load(escrow_id).state for r in PARTIES}


def start(chain: Chain, tmp: Path, escrow_id: str) -> dict[str, EscrowParty]:
    parties = {r: make_party(chain, r, tmp, tmp / "mail") for r in PARTIES}
    for role, party in parties.items():
        party.create_escrow(terms_for(chain, escrow_id), role)  # type: ignore[arg-type]
    return parties


async def balance_of(chain: Chain, name: str) -> int:
    proc = chain.sandbox.wallet(name)
    async with proc.client() as c:
        await c.call("refresh")
        return int((await c.call("get_balance"))["balance"])


async def wait_gain(chain: Chain, name: str, before: int) -> int:
    for _ in range(30):
        await chain.sandbox.mine(1)
        now = await balance_of(chain, name)
        if now > before:
            return now - before
    return 0


def test_release_then_double_submit_is_harmless(chain: Chain, tmp_path: Path) -> None:
    parties = start(chain, tmp_path, "release-1")
    payout = Payout("release", "buyer", "seller", AMOUNT, 0)

    async def main() -> None:
        before = await balance_of(chain, "seller")
        started = time.monotonic()
        results = await run_all(chain, parties, "release-1", payout)
        print(f"release escrow took {time.monotonic() - started:.1f} s")
        assert results == {r: State.S10_PAID_OUT for r in PARTIES}
        gained = await wait_gain(chain, "seller", before)
        assert AMOUNT - 10**10 < gained < AMOUNT
        # Submitting the same signed transaction again changes nothing.
        seller = parties["seller"]
        data = seller.load("release-1").data
        event = await seller.ops.run(SubmitTx(data.seq, data.tx_data, data.txids), "")
        assert event.txids == data.txids  # type: ignore[union-attr]
        # A duplicate proposal to the finished co-signer only repeats "done".
        assert (await balance_of(chain, "seller")) - before == gained
        audit = seller.store.audit_log("release-1")
        assert [e.to_state for e in audit if e.event == "submitted"] == ["S10_PAID_OUT"]

    trio.run(main)


def test_refund_by_seller(chain: Chain, tmp_path: Path) -> None:
    parties = start(chain, tmp_path, "refund-1")
    payout = Payout("refund", "seller", "buyer", 0, AMOUNT)

    async def main() -> None:
        before = await balance_of(chain, "buyer")
        results = await run_all(chain, parties, "refund-1", payout)
        assert results == {r: State.S10_PAID_OUT for r in PARTIES}
        # The buyer paid AMOUNT + fee into the escrow and gets AMOUNT - fee back.
        after = before
        for _ in range(30):
            await chain.sandbox.mine(1)
            after = await balance_of(chain, "buyer")
            if after > before - AMOUNT // 2:
                break
        assert before - 2 * 10**10 < after <= before

    trio.run(main)


class TamperingOps(EscrowOps):
    """An arbiter whose first transaction set quietly pays the seller more than agreed."""

    tampered = 0

    async def _build_txset(self, op: BuildTxset) -> str:
        if not self.tampered:
            self.tampered += 1
            bad = Payout(op.payout.kind, op.payout.proposer, op.payout.cosigner,
                         op.payout.to_seller + PICONERO_PER_XMR // 10,
                         op.payout.to_buyer - PICONERO_PER_XMR // 10)  # fmt: skip
            op = BuildTxset(op.seq, bad, op.seller_address, op.buyer_address)
        return await super()._build_txset(op)


def test_dispute_split_after_tampered_payout_is_refused(chain: Chain, tmp_path: Path) -> None:
    parties = start(chain, tmp_path, "dispute-1")
    arbiter = parties["arbiter"]
    honest_ops = arbiter.ops
    tampering = TamperingOps(arbiter.wallets)
    arbiter.ops = tampering
    to_seller = PICONERO_PER_XMR // 2
    payout = Payout("dispute", "arbiter", "buyer", to_seller, AMOUNT - to_seller)

    async def main() -> None:
        seller_before = await balance_of(chain, "seller")
        refused = trio.Event()
        buyer = parties["buyer"]
        original = buyer.options.on_state

        def watch(escrow_id: str, state: State) -> None:
            if original:
                original(escrow_id, state)
            if state == State.S7_FUNDED and buyer.load(escrow_id).data.last_refusal:
                refused.set()

        buyer.options.on_state = watch
        results = await run_all(chain, parties, "dispute-1", payout, stop_when=refused)
        assert results["buyer"] == State.S7_FUNDED
        assert "amounts differ" in buyer.load("dispute-1").data.last_refusal
        audit = buyer.store.audit_log("dispute-1")
        assert any(e.event == "notice:warning" and "refused" in e.detail for e in audit)
        # The arbiter tries again, honestly this time.
        tampering.spare = None
        honest_ops._open = tampering._open
        arbiter.ops = honest_ops
        results = await run_all(chain, parties, "dispute-1", payout)
        assert results == {r: State.S10_PAID_OUT for r in PARTIES}
        gained = await wait_gain(chain, "seller", seller_before)
        assert gained == to_seller  # the loser's share is exact; the winner paid the fee
        # The winner (the co-signer) pays exactly the network fee, nothing more: no guessed
        # fee is left behind in the escrow as change. Its wallet shows the payout and its fee.
        txids = buyer.load("dispute-1").data.txids
        async with chain.sandbox.wallet("buyer").client() as rpc:
            [payout_in] = await UserWallet(rpc).received(txids)
        assert 0 < payout_in.fee < AMOUNT // 100
        assert payout_in.amount == AMOUNT - to_seller - payout_in.fee

    trio.run(main)
