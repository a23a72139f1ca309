"""A profile that uses the user's own monero-wallet-rpc (not one the sandbox started).

The test starts monero-wallet-rpc itself, the way docs/operations.md tells a user to (own
wallet directory, digest login in a 0600 ``--config-file``, never on the command line), pointed
at the session's regtest node, and then drives the real
`umbra` command: ``wallet connect`` (checked before it is saved), ``address``, ``balance``,
``history`` and ``send`` all go through the saved host, port and login.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.wallet import Login, RpcClient, WalletRpcError, WalletUnavailable
from umbra.wallet._processes import free_port

from .conftest import Chain

pytestmark = pytest.mark.monero

UMBRA = shutil.which("umbra", path=str(Path(sys.executable).parent)) or "umbra"


def umbra(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    env.update(UMBRA_HOME=str(data), UMBRA_PASSPHRASE="correct horse battery")
    proc = subprocess.run(
        [UMBRA, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, f"umbra {' '.join(args)}: {proc.stderr}"
    return proc


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def own_wallet_rpc(chain: Chain, tmp_path: Path) -> Iterator[tuple[int, Login]]:
    """A monero-wallet-rpc the user runs: own directory, own login, a wallet open."""
    daemon_port = chain.sandbox.status()["monerod"]["rpc_port"]
    port, login = free_port(), Login("alice", secrets.token_urlsafe(12))
    wallet_dir = tmp_path / "my-wallets"
    wallet_dir.mkdir(mode=0o700)
    config = wallet_dir / "rpc.conf"
    config.touch(mode=0o600)
    config.write_text(f"rpc-login={login.user}:{login.password}\n", encoding="ascii")
    argv = [
        "monero-wallet-rpc", "--daemon-address", f"127.0.0.1:{daemon_port}",
        "--trusted-daemon", "--daemon-ssl", "disabled",
        "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", str(port), "--rpc-ssl", "disabled",
        "--config-file", str(config),
        "--wallet-dir", str(wallet_dir), "--shared-ringdb-dir", str(wallet_dir / "ringdb"),
        "--non-interactive", "--no-dns", "--log-file", str(wallet_dir / "rpc.log"),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        async def create_wallet() -> None:
            async with RpcClient(f"http://127.0.0.1:{port}", login=login) as rpc:
                for _ in range(600):
                    try:
                        await rpc.call("get_version", timeout=2)
                        break
                    except (WalletUnavailable, WalletRpcError):  # not up yet
                        await trio.sleep(0.1)
                await rpc.call(
                    "create_wallet", {"filename": "mine", "password": "", "language": "English"}
                )

        trio.run(create_wallet)
        yield port, login
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_cli_uses_the_users_own_wallet_rpc_with_digest_login(
    chain: Chain, tmp_path: Path, own_wallet_rpc: tuple[int, Login]
) -> None:
    port, login = own_wallet_rpc
    data = tmp_path / "data"
    umbra(data, "init")
    wrong = tmp_path / "wrong-pass"
    wrong.write_text("not-it\n")
    refused = umbra(
        data, "wallet", "connect", "--port", str(port), "--user", login.user,
        "--password-file", str(wrong), check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "refused the login" in refused.stderr
    no_wallet = umbra(data, "wallet", "balance", check=False)
    assert no_wallet.returncode != 0 and "umbra wallet connect" in no_wallet.stderr

    secret = tmp_path / "rpc-pass"
    secret.write_text(login.password + "\n")
    connected = last_json(
        umbra(
            data,
            "wallet",
            "connect",
            "--port",
            str(port),
            "--user",
            login.user,
            "--password-file",
            str(secret),
            "--json",
        )
    )
    assert connected["network"] == "mainnet"  # regtest uses mainnet-style addresses
    assert connected["port"] == port
    # No node runs, and Tor is the default mode: the hint names the flag that keeps the
    # user's wallet-rpc on Tor (the node's own SOCKS port, once a Tor node runs).
    assert "--proxy IP:PORT" in connected["tor_hint"]

    added = last_json(umbra(data, "wallet", "address", "--amount", "1.5", "--json"))
    assert added["uri"] == f"monero:{added['address']}?tx_amount=1.50"

    async def fund() -> None:
        async with chain.sandbox.wallet("faucet").client() as faucet:
            await faucet.call("refresh")
            await faucet.call(
                "transfer",
                {"destinations": [{"address": added["address"], "amount": 2 * PICONERO_PER_XMR}]},
            )
        await chain.sandbox.mine(11)

    trio.run(fund)
    balance: dict[str, int] = {}
    for _ in range(30):  # the wallet picks the block up on its own refresh
        balance = last_json(umbra(data, "wallet", "balance", "--json"))
        if balance["unlocked"] >= 2 * PICONERO_PER_XMR:
            break
        trio.run(chain.sandbox.mine, 1)
    assert balance["unlocked"] == 2 * PICONERO_PER_XMR
    history = last_json(umbra(data, "wallet", "history", "--json"))
    assert [(t["direction"], t["amount"]) for t in history] == [("in", 2 * PICONERO_PER_XMR)]

    sent = last_json(
        umbra(data, "wallet", "send", chain.addresses["seller"], "0.25", "--yes", "--json")
    )
    assert sent["amount"] == PICONERO_PER_XMR // 4 and 0 < sent["fee"] < 10**10
    after = last_json(umbra(data, "wallet", "balance", "--json"))
    assert after["total"] == 2 * PICONERO_PER_XMR - PICONERO_PER_XMR // 4 - sent["fee"]
