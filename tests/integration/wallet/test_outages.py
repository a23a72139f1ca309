"""Escrows on the real regtest chain when things go wrong outside Umbra: the node (monerod)
stops answering in the middle of a payout, or is killed and started again, and the buyer
never funds the escrow in time.

(A wallet-rpc SIGKILLed mid-flow is covered by test_crash_resume.py.)
"""

import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.wallet import (
    EscrowParty,
    EscrowTerms,
    Payout,
    SandboxError,
    State,
    WalletRpcError,
    WalletUnavailable,
)

from .conftest import PARTIES, Chain, make_party
from .test_escrow_flows import balance_of, terms_for, wait_gain

pytestmark = pytest.mark.monero

AMOUNT = 2 * PICONERO_PER_XMR
HOUR = 3600


async def patient_miner(chain: Chain, stop: trio.Event) -> None:
    """Mine a block every 0.3 s; while the node is down or restarting, keep trying."""
    while not stop.is_set():
        # Right after its restart monerod may refuse a block ("Block not accepted").
        with contextlib.suppress(WalletUnavailable, WalletRpcError, SandboxError):
            await chain.sandbox.mine(1)
        with trio.move_on_after(0.3):
            await stop.wait()


Outage = Callable[[Chain], Awaitable[None]]


def _escrow_through_an_outage(
    chain: Chain, tmp_path: Path, escrow_id: str, outage: Outage
) -> tuple[list[State], list[str]]:
    """Run a released escrow; once the buyer saw it funded, run ``outage`` against monerod.

    Returns the buyer's state when the outage began and the wallet errors in the audit logs;
    asserts that every party paid out and the seller got the money.
    """
    parties = {r: make_party(chain, r, tmp_path, tmp_path / "mail") for r in PARTIES}
    for role, party in parties.items():
        party.create_escrow(terms_for(chain, escrow_id), role)  # type: ignore[arg-type]
    payout = Payout("release", "buyer", "seller", AMOUNT, 0)
    buyer_funded = trio.Event()
    original = parties["buyer"].options.on_state

    def watch(escrow_id: str, state: State) -> None:
        if original is not None:
            original(escrow_id, state)
        if state == State.S7_FUNDED:
            buyer_funded.set()

    parties["buyer"].options.on_state = watch
    results: dict[str, State] = {}
    began_in: list[State] = []

    async def main() -> None:
        before = await balance_of(chain, "seller")
        stop = trio.Event()

        async def one(role: str) -> None:
            results[role] = (await parties[role].run_escrow(escrow_id, agreed=payout)).state

        async def outage_when_funded() -> None:
            await buyer_funded.wait()
            began_in.append(parties["buyer"].load(escrow_id).state)
            await outage(chain)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(patient_miner, chain, stop)
            with trio.fail_after(900):  # a deadline for a loaded machine, not a timing check
                async with trio.open_nursery() as inner:
                    inner.start_soon(outage_when_funded)
                    for role in PARTIES:
                        inner.start_soon(one, role)
            stop.set()
        assert results == {r: State.S10_PAID_OUT for r in PARTIES}
        gained = await wait_gain(chain, "seller", before)
        assert AMOUNT - 10**10 < gained < AMOUNT

    trio.run(main)
    errors = [
        e.detail
        for r in PARTIES
        for e in parties[r].store.audit_log(escrow_id)
        if e.event.startswith("wallet-error:")
    ]
    return began_in, errors


def test_escrow_completes_after_monerod_stops_answering_during_the_payout(
    chain: Chain, tmp_path: Path
) -> None:
    async def freeze(chain: Chain) -> None:
        # SIGSTOP: monerod stops answering (every call to it hangs), longer than our 30 s RPC
        # timeout, then SIGCONT.
        pid = int(chain.sandbox.status()["monerod"]["pid"])
        os.kill(pid, signal.SIGSTOP)
        try:
            await trio.sleep(45)
        finally:
            os.kill(pid, signal.SIGCONT)

    frozen_in, errors = _escrow_through_an_outage(chain, tmp_path, "outage-1", freeze)
    # The freeze hit the payout (the buyer had proposed, nobody had paid out yet) and was
    # survived. A frozen node makes calls slow, not failed: wallet-rpc waits for it, and our
    # slow calls (refresh, transfer) allow 300 s; any error recorded must say Umbra retries.
    assert frozen_in == [State.S8_SYNCING] or frozen_in == [State.S7_FUNDED], frozen_in
    assert all("retry" in d for d in errors if "not reachable" in d), errors


def test_escrow_completes_after_monerod_is_killed_and_started_again(
    chain: Chain, tmp_path: Path
) -> None:
    heights: list[int] = []

    async def crash_and_restart(chain: Chain) -> None:
        heights.append(await chain.sandbox.height())
        pid = int(chain.sandbox.status()["monerod"]["pid"])
        os.kill(pid, signal.SIGKILL)  # a crash: no chance to save anything
        await trio.sleep(20)  # the parties meet a node that is gone
        await chain.sandbox.up()  # same chain, same ports: the running wallets reconnect
        heights.append(await chain.sandbox.height())

    killed_in, errors = _escrow_through_an_outage(chain, tmp_path, "outage-2", crash_and_restart)
    assert killed_in == [State.S8_SYNCING] or killed_in == [State.S7_FUNDED], killed_in
    # The restarted monerod kept its chain (a regtest monerod deletes it unless told not to),
    # so the wallets saw no reorg and the funded escrow was still funded.
    assert heights[1] >= heights[0], heights
    assert all("retry" in d for d in errors if "not reachable" in d), errors


class MovableClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


# This once hung (issue #3): the driver ran the buyer's payment although the run was asked
# to stop at S6, and the seller and arbiter expired without looking at their wallets again.
def test_escrow_not_funded_in_time_is_abandoned_and_recorded(chain: Chain, tmp_path: Path) -> None:
    clock = MovableClock()
    parties: dict[str, EscrowParty] = {}
    for role in PARTIES:
        parties[role] = make_party(chain, role, tmp_path, tmp_path / "mail")
        parties[role].options.clock = clock
    base = terms_for(chain, "expire-1")
    terms = EscrowTerms(
        base.escrow_id,
        base.amount,
        base.buyer_address,
        base.seller_address,
        funding_expires_at=int(clock()) + HOUR,
    )
    for role, party in parties.items():
        party.create_escrow(terms, role)  # type: ignore[arg-type]

    async def run_all(until: State, limit: float) -> dict[str, State]:
        results: dict[str, State] = {}

        async def one(role: str) -> None:
            results[role] = (await parties[role].run_escrow("expire-1", until=until)).state

        with trio.fail_after(limit):
            async with trio.open_nursery() as nursery:
                for role in PARTIES:
                    nursery.start_soon(one, role)
        return results

    async def main() -> None:
        # Set-up completes; the buyer stops right before paying (its payment is queued).
        ready = await run_all(State.S6_AWAITING_FUNDING, 600)
        assert ready == {r: State.S6_AWAITING_FUNDING for r in PARTIES}
        clock.offset = 2 * HOUR  # the buyer stayed away past the deadline
        # Expiry needs no chain work, only a last look at each wallet.
        done = await run_all(State.S10_PAID_OUT, 180)
        assert done == {r: State.S98_EXPIRED for r in PARTIES}
        for role in PARTIES:
            machine = parties[role].load("expire-1")
            assert machine.state == State.S98_EXPIRED and not machine.data.funding_txid
            audit = parties[role].store.audit_log("expire-1")
            assert any(e.event == "funding_expired" and e.to_state == "S98_EXPIRED" for e in audit)
            assert any("not funded in time" in e.detail for e in audit)
        # The buyer never paid into the abandoned escrow.
        address = parties["buyer"].load("expire-1").data.address
        async with chain.sandbox.wallet("buyer").client() as c:
            out = await c.call("get_transfers", {"out": True, "pool": True, "pending": True})
        paid = [
            t
            for kind in ("out", "pool", "pending")
            for t in out.get(kind, [])
            for d in t.get("destinations", [])
            if d["address"] == address
        ]
        assert paid == []

    trio.run(main)
