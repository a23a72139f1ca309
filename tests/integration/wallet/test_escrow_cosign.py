"""A dishonest proposer on the real regtest chain: the co-signer signs only what its order
agreed, the coins stay in the escrow, and the agreed payout still completes afterwards."""

from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.wallet import EscrowParty, Payout, State, SyncInfo, decode_message

from .conftest import PARTIES, Chain
from .test_escrow_flows import AMOUNT, balance_of, miner, start

pytestmark = pytest.mark.monero

ESCROW = "cosign-1"
DEADLINE_S = 300  # detects a hang; not a timing assertion


async def run_parties(
    chain: Chain,
    parties: dict[str, EscrowParty],
    agreed: dict[str, Payout | None],
    *,
    stop_when: "trio.Event | None" = None,
) -> dict[str, State]:
    """Run every party's escrow with its own agreed payout until all end (or ``stop_when``)."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(miner, chain, stop)
        with trio.move_on_after(DEADLINE_S) as timeout:
            async with trio.open_nursery() as inner:
                for role in PARTIES:
                    inner.start_soon(lambda r=role: parties[r].run_escrow(ESCROW, agreed=agreed[r]))
                if stop_when is not None:
                    await stop_when.wait()
                    inner.cancel_scope.cancel()
        stop.set()
    if timeout.cancelled_caught:
        for r in PARTIES:
            for e in parties[r].store.audit_log(ESCROW)[-8:]:
                print(r, e.from_state, e.to_state, e.event, e.detail)
    assert not timeout.cancelled_caught, "the escrow did not get there in time"
    return {r: parties[r].load(ESCROW).state for r in PARTIES}


async def wait_until_kept(buyer: EscrowParty, found: trio.Event) -> None:
    """Set ``found`` once the funded buyer keeps the arbiter's request to co-sign."""
    while True:
        data = buyer.load(ESCROW).data
        waiting = [decode_message(raw) for raw in data.deferred]
        if data.state == State.S7_FUNDED and any(
            isinstance(m, SyncInfo) and m.sender == "arbiter" for m in waiting
        ):
            found.set()
            return
        await trio.sleep(0.2)


def test_cosigner_refuses_a_payout_its_order_did_not_agree(chain: Chain, tmp_path: Path) -> None:
    parties = start(chain, tmp_path, ESCROW)
    buyer = parties["buyer"]
    notices: list[tuple[str, str, str]] = []
    buyer.options.on_notice = lambda escrow_id, level, text: notices.append(
        (escrow_id, level, text)
    )
    # The arbiter's escrow asks the buyer to co-sign a split that pays the seller nearly all,
    # though nothing was disputed; later the seller cancels and the buyer's order agrees a refund.
    greedy = Payout("dispute", "arbiter", "buyer", AMOUNT - PICONERO_PER_XMR // 100,
                    PICONERO_PER_XMR // 100)  # fmt: skip
    refund = Payout("refund", "seller", "buyer", 0, AMOUNT)

    async def main() -> None:
        seller_before = await balance_of(chain, "seller")
        buyer_before = await balance_of(chain, "buyer")

        # 1. Funded, no payout agreed by the buyer's order: the request is kept, not signed.
        kept = trio.Event()
        async with trio.open_nursery() as watch:
            watch.start_soon(wait_until_kept, buyer, kept)
            phase1 = await run_parties(
                chain, parties, {"buyer": None, "seller": None, "arbiter": greedy}, stop_when=kept
            )
        assert phase1["buyer"] == State.S7_FUNDED
        data = buyer.load(ESCROW).data
        assert data.seq == 0 and data.txids == () and data.expected is None
        assert all(not parties[r].load(ESCROW).data.txids for r in PARTIES)

        # 2. Restarted with the refund agreed: the kept request is refused (a one-line reason
        # to the arbiter, on the buyer's notices), and the agreed refund is co-signed.
        results = await run_parties(
            chain, parties, {"buyer": refund, "seller": refund, "arbiter": greedy}
        )
        assert results == {r: State.S10_PAID_OUT for r in PARTIES}
        data = buyer.load(ESCROW).data
        assert data.expected == refund and data.payout == refund
        refusals = [t for _e, level, t in notices if level == "warning" and "differs in" in t]
        assert refusals, notices
        assert "refused a dispute by the arbiter" in refusals[0]
        assert "from the agreed refund by the seller" in refusals[0]
        audit = buyer.store.audit_log(ESCROW)
        assert any(e.event == "notice:warning" and e.detail == refusals[0] for e in audit)

        # The coins went back to the buyer (less two fees), none to the seller.
        after = buyer_before - AMOUNT
        for _ in range(30):
            await chain.sandbox.mine(1)
            after = await balance_of(chain, "buyer")
            if after > buyer_before - AMOUNT // 2:
                break
        assert buyer_before - 2 * 10**10 < after <= buyer_before
        assert await balance_of(chain, "seller") == seller_before

    trio.run(main)
