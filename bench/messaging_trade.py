"""One whole escrow trade between three real node processes on regtest, timed by phase.

Run: ``.venv/bin/python bench/messaging_trade.py`` (needs Debian's ``monero``; 5-15 min).
Merges its result under the key ``trade`` into ``bench/results/messaging.json`` (the
other keys, written by ``bench/messaging.py``, are kept; that script keeps this one). It
reuses the integration tests' harness
(``tests/integration/trade/harness.py``): a sandbox chain, three `umbra node` processes
(buyer, seller, arbiter; ``--escrow-confirmations 1``), a miner thread adding one block per
second, and the real CLI for every user move (each CLI call is a new Python process: its
start-up is part of the phase it starts).

Phases (wall time, seconds, from when the previous one was observed; states are polled in
the parties' databases every 0.1 s):

- ``placed``: `umbra order buy` started → the buyer's node committed and queued the order;
- ``accepted``: the seller's node has it → `umbra order accept` → the buyer sees the
  acceptance;
- ``escrow_set_up``: → the buyer's escrow has its multisig address (set-up rounds done);
- ``funding_sent``: → the buyer's escrow sent the funding transaction;
- ``funding_confirmation_wait``: → the buyer's escrow saw it confirmed (EXCLUDED from the
  target: it is the chain, here one block per second);
- ``funded``: → every party's order is funded;
- ``shipped``: `umbra order ship` → every party sees it;
- ``released``: `umbra order confirm` → the release payout is submitted (includes Monero's
  10-block unlock of the escrow funds, also chain time).

Target: order placed → escrow funded ≤ 30 s excluding confirmation waiting, i.e.
``placed + accepted + escrow_set_up + funding_sent + funded``.
"""

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.trade.harness import TradeWorld, open_world  # noqa: E402
from umbra.wallet import EscrowData, WalletStore  # noqa: E402

TARGET_S = 30.0
POLL_S = 0.1


def _until(what: str, check: Callable[[], bool], timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(POLL_S)
    raise TimeoutError(f"timed out waiting for {what}")


def _escrow(world: TradeWorld, role: str, order_id: str) -> EscrowData | None:
    stored = WalletStore(world.profile(role).db).load_escrow(order_id)
    return None if stored is None else EscrowData.from_wire(stored.data)


def _all(world: TradeWorld, order_id: str, state: str) -> Callable[[], bool]:
    return lambda: all(world.state(r, order_id) == state for r in ("buyer", "seller", "arbiter"))


def run_trade(world: TradeWorld) -> dict[str, float]:
    marks: dict[str, float] = {}
    t0 = time.monotonic()
    order_id = world.buy()
    marks["placed"] = _until("placed", lambda: world.state("buyer", order_id) == "S1_requested")
    _until("the seller has it", lambda: world.state("seller", order_id) == "S1_requested")
    world.cli("seller", "order", "accept", order_id)
    marks["accepted"] = _until(
        "accepted", lambda: world.state("buyer", order_id) in ("S2_accepted", "S3_escrow_setup")
    )

    def escrow_at(check: Callable[[EscrowData], bool]) -> Callable[[], bool]:
        def probe() -> bool:
            data = _escrow(world, "buyer", order_id)
            return data is not None and check(data)

        return probe

    marks["escrow_set_up"] = _until("multisig address", escrow_at(lambda d: bool(d.address)))
    marks["funding_sent"] = _until("funding sent", escrow_at(lambda d: bool(d.funding_txid)))
    marks["funding_confirmation_wait"] = _until(
        "funding confirmed", escrow_at(lambda d: d.funded_amount > 0)
    )
    marks["funded"] = _until("funded everywhere", _all(world, order_id, "S4_funded"))
    world.cli("seller", "order", "ship", order_id, "--tracking", "RR1")
    marks["shipped"] = _until("shipped everywhere", _all(world, order_id, "S5_shipped"))
    world.cli("buyer", "order", "confirm", order_id)

    def released() -> bool:
        view = world.order("buyer", order_id)
        return view is not None and bool(view["payout_txids"])

    marks["released"] = _until("released", released)
    phases: dict[str, float] = {}
    previous = t0
    for name, at in marks.items():
        phases[name] = round(at - previous, 2)
        previous = at
    return phases


def bench_trade() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="umbra-bench-trade-"))
    world = open_world(root)
    try:
        phases = run_trade(world)
    finally:
        world.close()
        shutil.rmtree(root, ignore_errors=True)
    to_funded = sum(
        phases[p] for p in ("placed", "accepted", "escrow_set_up", "funding_sent", "funded")
    )
    return {
        "unit": "seconds of wall time per phase (see bench/messaging_trade.py)",
        "phases_s": phases,
        "placed_to_funded_excluding_confirmations_s": round(to_funded, 2),
        "target_s": TARGET_S,
        "meets_target": to_funded <= TARGET_S,
        "chain": "regtest, 1 block/s mined, 1 funding confirmation",
    }


def main() -> None:
    out = ROOT / "bench/results/messaging.json"
    result = bench_trade()
    result["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    report: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    report["trade"] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
