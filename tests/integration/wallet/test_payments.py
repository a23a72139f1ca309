"""Direct payments for orders on the real regtest chain: exact, under- and over-payment,
expiry (with a late top-up), a restart in the middle, and a wallet that is down.

The faucet pays (it holds many spendable coinbase outputs); the seller's own wallet
receives on a fresh subaddress per order. Expiry uses an injected clock that the test moves
forward, so nothing waits for wall-clock time.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.store import Database
from umbra.wallet import (
    DirectPayments,
    PaymentState,
    PaymentStatus,
    RpcClient,
    WalletStore,
    WalletUnavailable,
)
from umbra.wallet._processes import free_port

from .conftest import Chain

pytestmark = pytest.mark.monero

AMOUNT = PICONERO_PER_XMR // 10
HOUR = 3600


class MovableClock:
    """Wall time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def pay(chain: Chain, address: str, amount: int) -> str:
    async with chain.sandbox.wallet("faucet").client() as faucet:
        await faucet.call("refresh")
        r = await faucet.call(
            "transfer", {"destinations": [{"address": address, "amount": amount}]}
        )
        return str(r["tx_hash"])


async def check_until(
    chain: Chain,
    desk: DirectPayments,
    order_id: str,
    done: Callable[[PaymentStatus], bool],
    *,
    mine: bool,
) -> tuple[PaymentStatus, list[str]]:
    """Check (mining a block between checks if asked) until ``done``; collect notices."""
    kinds: list[str] = []
    for _ in range(80):
        status = await desk.check(order_id)
        kinds += [n.kind for n in status.notices]
        if done(status):
            return status, kinds
        if mine:
            await chain.sandbox.mine(1)
        else:
            await trio.sleep(0.1)
    raise AssertionError(f"never reached the expected status: {status}")


def open_store(path: Path, key: bytes) -> tuple[Database, WalletStore]:
    db = Database.open(path, key, create=not path.exists())
    return db, WalletStore(db)


def test_exact_payment_seen_in_pool_then_paid_and_survives_a_restart(
    chain: Chain, tmp_path: Path
) -> None:
    key = os.urandom(32)

    async def main() -> None:
        db, store = open_store(tmp_path / "seller.db", key)
        async with chain.sandbox.wallet("seller").client() as rpc:
            desk = DirectPayments(store, rpc)
            expires = int(time.time()) + HOUR
            asked = await desk.request("order-exact", AMOUNT, expires_at=expires)
            assert asked.state == PaymentState.P0_AWAITING
            assert asked.confirmations_required == 10  # the default
            assert asked.uri.startswith(f"monero:{asked.address}?tx_amount=0.1")
            assert asked.missing == AMOUNT and 0 < asked.seconds_left <= HOUR
            again = await desk.request("order-exact", AMOUNT, expires_at=expires)
            assert again.address == asked.address  # idempotent: no second subaddress
            other = await desk.request("order-other", AMOUNT, expires_at=expires)
            assert other.address != asked.address  # a fresh subaddress per order

            txid = await pay(chain, asked.address, AMOUNT)
            seen, kinds = await check_until(
                chain, desk, "order-exact", lambda s: s.received > 0, mine=False
            )
            assert seen.state == PaymentState.P1_SEEN and kinds == ["seen"]
            assert seen.txids == (txid,) and seen.missing == 0 and seen.confirmed == 0
            assert "confirmations 0/10" in seen.message
        db.close()

        # Restart: a new process would open the store again and carry on from disk.
        db, store = open_store(tmp_path / "seller.db", key)
        async with chain.sandbox.wallet("seller").client() as rpc:
            desk = DirectPayments(store, rpc)
            assert desk.status("order-exact").state == PaymentState.P1_SEEN
            assert set(desk.open_orders()) == {"order-exact", "order-other"}
            paid, kinds = await check_until(
                chain, desk, "order-exact", lambda s: s.final, mine=True
            )
            assert paid.state == PaymentState.P3_PAID and kinds == ["paid"]
            assert paid.confirmed == AMOUNT and paid.confirmations >= 10
            assert paid.excess == 0 and paid.message == "Paid: 0.10 XMR confirmed"
            assert desk.open_orders() == ["order-other"]
            events = [e.event for e in store.audit_log("order-exact")]
            assert events == ["requested", "seen", "paid"]
        db.close()

    trio.run(main)


def test_underpaid_then_topped_up_beyond_the_amount(chain: Chain, tmp_path: Path) -> None:
    async def main() -> None:
        db, store = open_store(tmp_path / "seller.db", os.urandom(32))
        async with chain.sandbox.wallet("seller").client() as rpc:
            desk = DirectPayments(store, rpc, confirmations=3)  # configurable
            asked = await desk.request("order-under", AMOUNT, expires_at=int(time.time()) + HOUR)
            assert asked.confirmations_required == 3
            await pay(chain, asked.address, AMOUNT // 4)
            under, kinds = await check_until(
                chain, desk, "order-under", lambda s: s.received > 0, mine=False
            )
            assert under.state == PaymentState.P2_UNDERPAID and kinds == ["underpaid"]
            assert under.missing == AMOUNT - AMOUNT // 4
            assert "0.075 XMR missing" in under.message and "left" in under.message
            extra = PICONERO_PER_XMR // 100
            await pay(chain, asked.address, AMOUNT - AMOUNT // 4 + extra)
            paid, kinds = await check_until(
                chain, desk, "order-under", lambda s: s.final, mine=True
            )
            assert paid.state == PaymentState.P3_PAID
            assert "paid" in kinds and "overpaid" in kinds
            assert paid.excess == extra and len(paid.txids) == 2
            assert "0.01 XMR more than asked" in paid.message
        db.close()

    trio.run(main)


def test_expiry_with_a_partial_payment_and_late_coins(chain: Chain, tmp_path: Path) -> None:
    clock = MovableClock()

    async def main() -> None:
        db, store = open_store(tmp_path / "seller.db", os.urandom(32))
        async with chain.sandbox.wallet("seller").client() as rpc:
            desk = DirectPayments(store, rpc, clock=clock)
            expires = int(clock()) + HOUR
            part = await desk.request("order-part", AMOUNT, expires_at=expires)
            await desk.request("order-none", AMOUNT, expires_at=expires)
            await pay(chain, part.address, AMOUNT // 2)
            await check_until(chain, desk, "order-part", lambda s: s.received > 0, mine=False)

            clock.offset = 2 * HOUR  # the deadline passes
            expired = await desk.check("order-part")
            assert expired.state == PaymentState.P4_EXPIRED and expired.final
            assert [n.kind for n in expired.notices] == ["expired"]
            assert expired.received == AMOUNT // 2 and expired.seconds_left == 0
            assert expired.message == "Expired with 0.05 XMR of 0.10 XMR received: refund it"
            nothing = await desk.check("order-none")
            assert nothing.state == PaymentState.P4_EXPIRED
            assert nothing.message == "Expired: nothing received of 0.10 XMR"

            await pay(chain, part.address, AMOUNT // 2)  # too late
            late, kinds = await check_until(
                chain, desk, "order-part", lambda s: s.received == AMOUNT, mine=False
            )
            assert late.state == PaymentState.P4_EXPIRED and kinds == ["late"]
        db.close()

    trio.run(main)


def test_a_wallet_that_is_down_changes_nothing(chain: Chain, tmp_path: Path) -> None:
    async def main() -> None:
        db, store = open_store(tmp_path / "seller.db", os.urandom(32))
        async with chain.sandbox.wallet("seller").client() as rpc:
            desk = DirectPayments(store, rpc)
            await desk.request("order-down", AMOUNT, expires_at=int(time.time()) + HOUR)
        before = store.load_payment("order-down")
        async with RpcClient(f"http://127.0.0.1:{free_port()}", what="wallet") as down:
            desk = DirectPayments(store, down)
            with pytest.raises(WalletUnavailable, match="retry"):
                await desk.check("order-down")
            errors: list[str] = []
            with trio.move_on_after(1.0):  # watch keeps retrying; it reports, never gives up
                await desk.watch(
                    "order-down", poll_interval=0.1, on_error=lambda e: errors.append(str(e))
                )
            assert errors and all("not reachable" in e for e in errors)
        assert store.load_payment("order-down") == before
        assert desk.status("order-down").state == PaymentState.P0_AWAITING
        db.close()

    trio.run(main)
