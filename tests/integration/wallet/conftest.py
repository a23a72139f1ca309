"""One regtest chain per test session, shared by every monero test; nothing leaks.

The session fixture starts monerod, the faucet and, for each party (buyer, seller,
arbiter), a main wallet-rpc and an escrow wallet-rpc. The teardown stops them all and
asserts that no process started here is left.
"""

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.store import Database
from umbra.wallet import (
    DriverOptions,
    EscrowParty,
    PartyWallets,
    RpcStats,
    Sandbox,
    WalletStore,
)

PARTIES = ("buyer", "seller", "arbiter")


@dataclass
class Chain:
    sandbox: Sandbox
    root: Path
    addresses: dict[str, str]  # party -> main wallet address
    stats: RpcStats
    passwords: dict[str, str]  # party -> main wallet password (a profile would keep it)


def _pgrep(root: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("umbra-monero")
    stats = RpcStats()
    sandbox = Sandbox(root, stats=stats)
    passwords = {party: secrets.token_urlsafe(16) for party in PARTIES}

    async def start() -> dict[str, str]:
        names = [*PARTIES, *(f"{p}.escrow" for p in PARTIES)]
        await sandbox.up(tuple(names))
        addresses = {}
        for party in PARTIES:
            proc = await sandbox.open_main_wallet(party, passwords[party])
            async with proc.client() as c:
                addresses[party] = str((await c.call("get_address"))["address"])
        # The buyer needs coins for several escrows; one faucet run unlocks them.
        await sandbox.faucet("buyer", 60 * PICONERO_PER_XMR)
        return addresses

    try:
        addresses = trio.run(start)
        yield Chain(sandbox, root, addresses, stats, passwords)
    finally:
        trio.run(sandbox.down)
        left = _pgrep(root)
        assert not left, f"leaked processes: {left}"


def open_db(path: Path) -> Database:
    return Database.open(path, os.urandom(32), create=True)


def make_party(chain: Chain, role: str, tmp: Path, mailbox: Path) -> EscrowParty:
    main = chain.sandbox.wallet(role)
    escrow = chain.sandbox.wallet(f"{role}.escrow")
    wallets = PartyWallets(
        escrow_rpc=escrow.client(chain.stats),
        wallet_dir=escrow.wallet_dir,
        ringdb_dir=chain.sandbox.root / "ringdb",
        main_rpc=main.client(chain.stats),
    )
    store = WalletStore(open_db(tmp / f"{role}.db"))
    t0 = time.monotonic()
    opts = DriverOptions(
        poll_interval=0.1,
        on_state=lambda e, s: print(f"{time.monotonic() - t0:7.2f} {role:8} {e} {s.name}"),
    )
    return EscrowParty(store, wallets, mailbox, opts)
