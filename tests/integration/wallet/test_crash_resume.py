"""SIGKILL every party at every escrow state (and kill a wallet-rpc mid-flow): it completes.

Each party runs in its own process (``python -m umbra.wallet._party_main``). Whenever a
party reports a state listed in KILL_AT, it is SIGKILLed at once and started again on the
same store. The buyer is also killed while waiting for confirmations (S6) right after
paying: it must not pay twice. The seller's escrow wallet-rpc is SIGKILLed during set-up
and restarted a second later on the same port.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.store import Database
from umbra.wallet import Payout, WalletStore
from umbra.wallet._processes import kill_pid

from .conftest import PARTIES, Chain
from .test_escrow_flows import balance_of, miner, terms_for, wait_gain

pytestmark = pytest.mark.monero

KILL_AT = {
    ("buyer", "S1_WALLET_READY"),
    ("seller", "S2_PREPARED"),
    ("arbiter", "S3_MADE"),
    ("buyer", "S4_EXCHANGED"),
    ("seller", "S6_AWAITING_FUNDING"),  # S5 may pass in the same step as S4→S6
    ("buyer", "S6_AWAITING_FUNDING"),
    ("arbiter", "S6_AWAITING_FUNDING"),
    ("buyer", "S7_FUNDED"),
    ("seller", "S8_SYNCING"),
    ("buyer", "S9_PROPOSED"),
}
KILL_WALLET_RPC_AT = ("seller", "S4_EXCHANGED")


def party_config(chain: Chain, role: str, tmp: Path, escrow_id: str, payout: Payout) -> str:
    main = chain.sandbox.wallet(role)
    escrow = chain.sandbox.wallet(f"{role}.escrow")
    return json.dumps(
        {
            "db": str(tmp / f"{role}.db"),
            "key": os.urandom(32).hex(),
            "role": role,
            "mailbox": str(tmp / "mail"),
            "escrow_url": escrow.url,
            "escrow_login": f"{escrow.user}:{escrow.password}",
            "main_url": main.url,
            "main_login": f"{main.user}:{main.password}",
            "wallet_dir": str(escrow.wallet_dir),
            "ringdb_dir": str(chain.sandbox.root / "ringdb"),
            "terms": terms_for(chain, escrow_id).to_wire(),
            "payout": payout.to_wire(),
        }
    )


def kill_group(proc: trio.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def print_audit_tails(configs: dict[str, str], escrow_id: str) -> None:
    for role, text in configs.items():
        cfg = json.loads(text)
        if not Path(cfg["db"]).exists():
            continue
        db = Database.open(Path(cfg["db"]), bytes.fromhex(cfg["key"]))
        try:
            for e in WalletStore(db).audit_log(escrow_id)[-8:]:
                print(role, e.from_state, e.to_state, e.event, e.detail[:160])
        finally:
            db.close()


def test_sigkill_at_every_state_then_restart_completes(chain: Chain, tmp_path: Path) -> None:
    escrow_id = "crash-1"
    payout = Payout("release", "buyer", "seller", 2 * PICONERO_PER_XMR, 0)
    configs = {r: party_config(chain, r, tmp_path, escrow_id, payout) for r in PARTIES}
    done_kills: set[tuple[str, str]] = set()
    restarts = {r: 0 for r in PARTIES}

    async def kill_wallet_rpc() -> None:
        proc = chain.sandbox.wallet("seller.escrow")
        kill_pid(proc.pid, ["monero-wallet-rpc"])
        await trio.sleep(1.0)
        await chain.sandbox.ensure_wallet("seller.escrow")

    async def run_party(role: str, nursery: trio.Nursery) -> None:
        while True:
            argv = [sys.executable, "-m", "umbra.wallet._party_main"]
            # Its own process group: a kill also takes the monero-wallet-cli it may be running,
            # so nothing the test started outlives it. Its secrets go on stdin.
            proc = await trio.lowlevel.open_process(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
            )
            assert proc.stdin is not None
            await proc.stdin.send_all(configs[role].encode())
            await proc.stdin.aclose()
            # A party left running after a failed or timed-out test would keep using the
            # shared escrow wallet-rpc and break the tests that follow: always stop it.
            try:
                assert proc.stdout is not None
                killed, buffer = False, b""
                async for chunk in proc.stdout:
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        state = line.decode().split()[-1]
                        print(f"{role:8} {state}")
                        if (role, state) == KILL_WALLET_RPC_AT and (role, "rpc") not in done_kills:
                            done_kills.add((role, "rpc"))
                            nursery.start_soon(kill_wallet_rpc)
                        if (role, state) in KILL_AT and (role, state) not in done_kills:
                            done_kills.add((role, state))
                            kill_group(proc)
                            killed = True
                            break
                    if killed:
                        break
                await proc.wait()
                if not killed:
                    assert proc.returncode == 0, f"{role} exited with {proc.returncode}"
                    return
            finally:
                if proc.returncode is None:
                    kill_group(proc)
            restarts[role] += 1

    async def main() -> None:
        before = await balance_of(chain, "seller")
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(miner, chain, stop)
            try:
                with trio.fail_after(1200):  # a deadline, generous for a loaded 2-core machine
                    async with trio.open_nursery() as parties:
                        for role in PARTIES:
                            parties.start_soon(run_party, role, nursery)
            except BaseException:
                print_audit_tails(configs, escrow_id)  # where each party was stuck, and why
                raise
            stop.set()
        assert done_kills >= KILL_AT, f"states never reached: {KILL_AT - done_kills}"
        assert (("seller", "rpc")) in done_kills
        gained = await wait_gain(chain, "seller", before)
        assert 2 * PICONERO_PER_XMR - 10**10 < gained < 2 * PICONERO_PER_XMR
        # The buyer paid the escrow exactly once despite being killed right after paying.
        cfg = json.loads(configs["buyer"])
        db = Database.open(Path(cfg["db"]), bytes.fromhex(cfg["key"]))
        try:
            stored = WalletStore(db).load_escrow(escrow_id)
        finally:
            db.close()
        assert stored is not None
        address = stored.data["address"]
        buyer = chain.sandbox.wallet("buyer")
        async with buyer.client() as c:
            out = await c.call("get_transfers", {"out": True, "pool": True, "pending": True})
        payments = {
            t["txid"]
            for kind in ("out", "pool", "pending")
            for t in out.get(kind, [])
            for d in t.get("destinations", [])
            if d["address"] == address
        }
        assert len(payments) == 1
        print("restarts:", restarts)

    trio.run(main)
