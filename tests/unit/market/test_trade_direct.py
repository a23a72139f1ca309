"""The buyer's side of a direct payment: pay once, also across a crash, and only in time.

The profiles, drivers and order machines are the real ones (see ``test_trade_driver``); the
buyer's wallet is a small in-memory stand-in that records transfers, because what is checked
is the bridge's bookkeeping around one ``transfer`` call. Real payments between real nodes on
a regtest chain are in ``tests/integration/trade/test_trade_flows.py``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from umbra.market._trade_direct import PAID, PAYING, DirectPaymentBridge
from umbra.wallet import WalletUnavailable

from . import test_trade_driver as driver_tests
from .test_trade_driver import PAYMENT_SUBADDRESS, Clock, DirectRecorder, Party, _listing, _pump

clock = driver_tests.clock  # the fixtures of the driver tests
parties = driver_tests.parties


@dataclass
class RecordingWallet:
    """Answers ``refresh``, ``get_transfers`` and ``transfer`` like monero-wallet-rpc."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    lose_answer_of_next_transfer: bool = False

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if method == "refresh":
            return {}
        if method == "get_transfers":
            return {"pending": list(self.sent)} if self.sent else {}
        assert method == "transfer" and params is not None
        tx = {"txid": f"{len(self.sent):064x}", "destinations": list(params["destinations"])}
        self.sent.append(tx)
        if self.lose_answer_of_next_transfer:  # sent, but the node dies before it hears back
            self.lose_answer_of_next_transfer = False
            raise WalletUnavailable("monero-wallet-rpc", "connection reset")
        return {"tx_hash": tx["txid"]}


def _accepted_direct_order(parties: dict[str, Party]) -> tuple[str, int]:
    cid = _listing(parties)
    buyer = parties["buyer"].service
    order_id, _ = buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    _pump(parties)
    parties["seller"].driver.direct = DirectRecorder()
    parties["seller"].service.accept(order_id)
    _pump(parties)
    return order_id, buyer.order(order_id).summary.total


def _bridge(party: Party, wallet: RecordingWallet) -> DirectPaymentBridge:
    bridge = DirectPaymentBridge(None, wallet)  # type: ignore[arg-type] # the buyer needs no desk
    bridge.attach(party.driver)
    return bridge


def test_buyer_pays_the_total_once_even_if_the_answer_is_lost(
    parties: dict[str, Party], clock: Clock
) -> None:
    order_id, total = _accepted_direct_order(parties)
    buyer = parties["buyer"]
    wallet = RecordingWallet(lose_answer_of_next_transfer=True)
    trio.run(_bridge(buyer, wallet).step_all)
    assert buyer.driver.store.order(bytes.fromhex(order_id)).escrow == PAYING  # type: ignore[union-attr]
    assert len(wallet.sent) == 1

    # A new bridge (as after a restart) finds the transfer instead of sending another.
    clock.now += 60
    trio.run(_bridge(buyer, wallet).step_all)
    trio.run(_bridge(buyer, wallet).step_all)
    assert buyer.driver.store.order(bytes.fromhex(order_id)).escrow == PAID  # type: ignore[union-attr]
    assert wallet.sent == [
        {"txid": f"{0:064x}", "destinations": [{"address": PAYMENT_SUBADDRESS, "amount": total}]}
    ]
    timeline = [e.detail for e in buyer.service.order(order_id).timeline]
    assert sum(d.startswith("paid ") for d in timeline) == 1
    assert any("is not reachable" in d for d in timeline)  # the lost answer was said


def test_buyer_does_not_pay_close_to_the_funding_deadline(
    parties: dict[str, Party], clock: Clock
) -> None:
    order_id, _ = _accepted_direct_order(parties)
    buyer = parties["buyer"]
    config = buyer.driver.config
    clock.now += config.fund_timeout_s - config.grace_s
    wallet = RecordingWallet()
    bridge = _bridge(buyer, wallet)
    trio.run(bridge.step_all)
    clock.now += 30  # retried later: still refused, and said only once
    trio.run(bridge.step_all)
    assert wallet.sent == []
    timeline = [e.detail for e in buyer.service.order(order_id).timeline]
    assert sum("too close to the funding deadline" in d for d in timeline) == 1
