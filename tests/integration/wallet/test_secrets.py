"""Wallet secrets on the real monerod and monero-wallet-rpc: other local users can read none.

- No process we start (wallet-rpc, monero-wallet-cli) shows an RPC login or a wallet password
  in its command line or environment, sampled from /proc while it runs.
- Every wallet has its own password (none is the old shared ``sandbox``), checked against the
  real wallet files.
- A sandbox made by an older Umbra (login on the command line, main wallets and faucet with
  the shared password, loose modes) is migrated, and its coins are still spendable.
- Afterwards every file and directory under the data directory is owner-only.

The commands here run under umask 022, as a user's shell usually does, so owner-only modes
come from Umbra, not from the test.
"""

import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.core.crypto import Argon2Params
from umbra.store import create_profile
from umbra.wallet import PartyWallets, RpcClient, WalletRpcError, WalletStore
from umbra.wallet._config import sandbox_wallet_password
from umbra.wallet._escrow_ops import EscrowOps
from umbra.wallet._processes import free_port, process_matches, start_process
from umbra.wallet._sandbox import FAUCET
from umbra.wallet._sandbox_wallet import LEGACY_WALLET_PASSWORD, WALLET_RPC, wait_ready

from .conftest import PARTIES, Chain

pytestmark = pytest.mark.monero

CHEAP = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
SAMPLE_EVERY_S = 0.02


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def state_of(chain: Chain) -> dict:  # type: ignore[type-arg]
    return json.loads((chain.sandbox.root / "state.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def known_secrets(chain: Chain) -> set[str]:
    """Every RPC login and wallet password the sandbox knows now."""
    state = state_of(chain)
    found = {str(w["password"]) for w in state["wallets"].values()}
    found |= set(chain.passwords.values())
    found.add(str(state["faucet_password"]))
    return found


class ProcessWatcher:
    """Samples the command line and environment of every Monero process while it runs."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[bytes, bytes]] = {}

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                if b"monero" not in cmdline:
                    continue
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue  # gone meanwhile
            self.seen[int(entry.name)] = (cmdline, environ)

    async def run(self) -> None:
        while True:
            self.sample()
            await trio.sleep(SAMPLE_EVERY_S)

    def binaries(self) -> set[str]:
        return {Path(c.split(b"\0", 1)[0].decode()).name for c, _ in self.seen.values()}

    def leaks(self, secret_values: set[str]) -> list[str]:
        out = []
        for pid, (cmdline, environ) in self.seen.items():
            for value in secret_values:
                if value.encode() in cmdline or value.encode() in environ:
                    out.append(f"pid {pid} {cmdline[:80]!r} shows a secret")
        return out


async def password_is(rpc: RpcClient, password: str) -> bool:
    """Whether the open wallet's password is ``password`` (wallet-rpc checks the old one)."""
    try:
        await rpc.call(
            "change_wallet_password", {"old_password": password, "new_password": password}
        )
    except WalletRpcError:
        return False
    return True


def test_no_secret_on_a_command_line_or_in_an_environment(chain: Chain) -> None:
    escrow_password = secrets.token_urlsafe(24)
    watcher = ProcessWatcher()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.run)
            # A new wallet-rpc, and an escrow wallet in it (monero-wallet-cli turns on multisig).
            probe = await chain.sandbox.ensure_wallet("probe.escrow")
            ops = EscrowOps(
                PartyWallets(probe.client(), probe.wallet_dir, chain.sandbox.root / "ringdb")
            )
            await ops.make_wallet("escrow-secrets", escrow_password)
            await ops.rpc.call("close_wallet")
            await ops.rpc.aclose()
            watcher.sample()
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert {WALLET_RPC, "monero-wallet-cli", "monerod"} <= watcher.binaries()
    assert watcher.leaks(known_secrets(chain) | {escrow_password}) == []
    # The login file a wallet-rpc reads at start is gone once it answers.
    assert list((chain.sandbox.root / "secrets").iterdir()) == []


def test_every_wallet_has_its_own_password(chain: Chain) -> None:
    state = state_of(chain)
    logins = [str(w["password"]) for w in state["wallets"].values()]
    wallets = [*chain.passwords.values(), str(state["faucet_password"])]
    everything = logins + wallets
    assert len(set(everything)) == len(everything)
    assert LEGACY_WALLET_PASSWORD not in everything

    async def main() -> None:
        for name in PARTIES:
            async with chain.sandbox.wallet(name).client() as rpc:
                assert await password_is(rpc, chain.passwords[name]), name
                assert not await password_is(rpc, LEGACY_WALLET_PASSWORD), name
        faucet = await chain.sandbox.open_faucet()
        async with faucet.client() as rpc:
            assert await password_is(rpc, str(state["faucet_password"]))
            assert not await password_is(rpc, LEGACY_WALLET_PASSWORD)

    trio.run(main)


def start_old_style_wallet(chain: Chain, name: str, password: str) -> None:
    """Start a wallet-rpc the way Umbra did before: its login on the command line."""
    root = chain.sandbox.root
    state = state_of(chain)
    wallet_dir = root / "wallets" / name
    wallet_dir.mkdir(parents=True)
    port = int(state["monerod"]["rpc_port"])
    rpc_port = free_port()
    argv = [
        WALLET_RPC,
        "--daemon-address", f"127.0.0.1:{port}",
        "--trusted-daemon", "--daemon-ssl", "disabled",
        "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", str(rpc_port), "--rpc-ssl", "disabled",
        "--rpc-login", f"umbra:{password}",
        "--wallet-dir", str(wallet_dir),
        "--shared-ringdb-dir", str(root / "ringdb"),
        "--non-interactive", "--no-dns",
        "--log-file", str(root / "logs" / f"wallet-{name}.log"),
    ]  # fmt: skip
    pid = start_process(
        argv, log=root / "logs" / f"wallet-{name}.out", pid_file=root / "pids" / f"{name}.pid"
    )
    state["wallets"][name] = {
        "pid": pid,
        "port": rpc_port,
        "user": "umbra",
        "password": password,
        "wallet_dir": str(wallet_dir),
    }
    (root / "state.json").write_text(json.dumps(state), encoding="utf-8")


def loosen(root: Path) -> None:
    """The modes an older Umbra left: directories 0755, files 0644."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def test_an_old_style_sandbox_is_migrated_and_its_coins_stay_spendable(chain: Chain) -> None:
    box = chain.sandbox
    old_login = secrets.token_urlsafe(16)
    start_old_style_wallet(chain, "legacy", old_login)

    async def before_upgrade() -> None:
        legacy = box.wallet("legacy")
        async with legacy.client() as rpc:
            await wait_ready(rpc, "get_version", legacy.pid, WALLET_RPC)
            await rpc.call(
                "create_wallet",
                {"filename": "main", "password": LEGACY_WALLET_PASSWORD, "language": "English"},
            )
        await box.faucet("legacy", 2 * PICONERO_PER_XMR)
        # The faucet as an older Umbra left it: the shared password, none in state.json.
        faucet = await box.open_faucet()
        async with faucet.client() as rpc:
            await rpc.call(
                "change_wallet_password",
                {"old_password": state_of(chain)["faucet_password"], "new_password": "sandbox"},
            )
            await rpc.call("close_wallet")

    trio.run(before_upgrade)
    state = state_of(chain)
    del state["faucet_password"]
    (box.root / "state.json").write_text(json.dumps(state), encoding="utf-8")
    loosen(box.root)
    assert process_matches(int(state["wallets"]["legacy"]["pid"]), [old_login])

    # The upgrade: a profile from before (no wallet password kept yet) opens its wallet.
    with create_profile(chain.root, "legacy", "passphrase", params=CHEAP) as profile:
        password = sandbox_wallet_password(WalletStore(profile.db))

    async def after_upgrade() -> str:
        await box.up()
        proc = await box.open_main_wallet("legacy", password)
        assert proc.password != old_login  # the login every user could read is retired
        assert not process_matches(proc.pid, ["--rpc-login"])
        async with proc.client() as rpc:
            assert await password_is(rpc, password)
            assert not await password_is(rpc, LEGACY_WALLET_PASSWORD)
            await rpc.call("refresh")
            sent = await rpc.call(
                "transfer",
                {"destinations": [{"address": chain.addresses["seller"], "amount": 10**11}]},
            )
        # The faucet is migrated the first time it is used.
        await box.faucet("legacy", PICONERO_PER_XMR // 10, wait_unlocked=False)
        return str(sent["tx_hash"])

    txid = trio.run(after_upgrade)
    assert len(txid) == 64
    faucet_password = state_of(chain)["faucet_password"]
    assert faucet_password and faucet_password != LEGACY_WALLET_PASSWORD

    async def faucet_password_is_its_own() -> bool:
        async with box.wallet(FAUCET).client() as rpc:
            return await password_is(rpc, faucet_password)

    assert trio.run(faucet_password_is_its_own)


def test_everything_under_the_data_dir_is_owner_only(chain: Chain) -> None:
    """Run last in this file: after wallet operations, an escrow wallet and a migration."""
    loose = []
    for path in [chain.root, *chain.root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if not path.is_symlink() and mode & 0o077:
            loose.append(f"{oct(mode)} {path.relative_to(chain.root)}")
    assert loose == []
    names = {p.name for p in chain.root.rglob("*")}
    assert {"state.json", "monerod.log", "wallet-legacy.log", "main.keys", "umbra.db"} <= names
