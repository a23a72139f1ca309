"""The local regtest sandbox: a private chain plus the wallet-rpc processes profiles need.

Layout under ``<data>/sandbox/``: ``state.json`` (ports, PIDs, logins), ``monerod/`` (chain),
``wallets/<name>/`` (one wallet-rpc ``--wallet-dir`` per process), ``ringdb/``, ``logs/``.
Names: ``faucet`` (holds the mined coins), ``<profile>`` (the profile's own wallet) and
``<profile>.escrow`` (a second process for that profile's escrow wallets, so the user wallet
never has to be closed). Everything listens on free loopback ports; every process is
tracked by PID and stopped cleanly by `Sandbox.down`.
"""

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from ._errors import SandboxError, WalletRpcError, WalletUnavailable
from ._processes import free_port, port_free, process_matches, rss_bytes, start_process, stop_pid
from ._rpc import Login, RpcClient, RpcStats

MONEROD = "monerod"
WALLET_RPC = "monero-wallet-rpc"
FAUCET = "faucet"
INITIAL_BLOCKS = 80  # coinbase unlocks after 60 blocks: leaves ~20 spendable coinbases
UNLOCK_BLOCKS = 10
WALLET_PASSWORD = "sandbox"  # noqa: S105  (regtest coins only)


def ensure_monero_installed() -> None:
    """Install Debian's monero package when root, else say exactly what to install."""
    if shutil.which(MONEROD) and shutil.which(WALLET_RPC):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "monero"]):
            if subprocess.run(argv, env=env, check=False).returncode != 0:
                break
        if shutil.which(MONEROD):
            return
    raise SandboxError(
        "monerod is not installed: run `sudo apt-get install monero` (Debian/Ubuntu), "
        "or put monerod and monero-wallet-rpc on PATH"
    )


@dataclass(frozen=True)
class WalletProcess:
    name: str
    pid: int
    port: int
    user: str
    password: str
    wallet_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, stats: RpcStats | None = None) -> RpcClient:
        return RpcClient(
            self.url,
            what=f"monero-wallet-rpc ({self.name})",
            login=Login(self.user, self.password),
            stats=stats,
        )


class Sandbox:
    """Start/stop/inspect the sandbox under ``data_dir/sandbox``."""

    def __init__(self, data_dir: Path, *, stats: RpcStats | None = None) -> None:
        self.root = Path(data_dir) / "sandbox"
        self.stats = stats if stats is not None else RpcStats()

    # -- state file ----------------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.root / "state.json"

    def _load(self) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"monerod": None, "wallets": {}, "faucet_address": ""}
        return value

    def _save(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(self._state_file)

    def _monerod_alive(self, state: dict[str, Any]) -> bool:
        m = state.get("monerod")
        return m is not None and process_matches(int(m["pid"]), [MONEROD, str(self.root)])

    def daemon(self) -> RpcClient:
        state = self._load()
        if not self._monerod_alive(state):
            raise SandboxError("the sandbox is not running: run `umbra sandbox up`")
        return RpcClient(
            f"http://127.0.0.1:{state['monerod']['rpc_port']}", what="monerod", stats=self.stats
        )

    def wallet(self, name: str) -> WalletProcess:
        state = self._load()
        w = state["wallets"].get(name)
        if not w or not process_matches(int(w["pid"]), [WALLET_RPC, str(self.root)]):
            raise SandboxError(f"no sandbox wallet {name!r} is running: run `umbra sandbox up`")
        return _wallet_process(name, w)

    # -- up / down -----------------------------------------------------------------------------

    async def up(self, wallets: tuple[str, ...] = ()) -> dict[str, Any]:
        """Start monerod (mining the first blocks to the faucet) and the named wallets."""
        ensure_monero_installed()
        state = self._load()
        if not self._monerod_alive(state):
            if state.get("monerod") is None:  # first start, or after `down`
                state = {"monerod": None, "wallets": {}, "faucet_address": ""}
            # else monerod exited under running wallets: same chain, same ports, so the
            # wallets (started with ``--daemon-address``) reconnect on their own.
            await self._start_monerod(state)
        await self.ensure_wallet(FAUCET)
        state = self._load()
        if not state.get("faucet_address"):
            faucet = self.wallet(FAUCET).client(self.stats)
            async with faucet:
                address = await self._open_or_create(faucet, FAUCET)
            state["faucet_address"] = address
            self._save(state)
            await self.mine(INITIAL_BLOCKS)
        for name in wallets:
            await self.ensure_wallet(name)
        return self.status()

    async def _start_monerod(self, state: dict[str, Any]) -> None:
        data = self.root / "monerod"
        data.mkdir(parents=True, exist_ok=True)
        previous = state.get("monerod")
        if previous is not None:
            rpc_port, p2p_port = int(previous["rpc_port"]), int(previous["p2p_port"])
            if not (port_free(rpc_port) and port_free(p2p_port)):
                raise SandboxError(
                    f"cannot restart monerod on its ports {rpc_port}/{p2p_port} (in use): "
                    "run `umbra sandbox down`, then `umbra sandbox up`"
                )
        else:
            rpc_port, p2p_port = free_port(), free_port()
        # --keep-fakechain: without it a regtest monerod deletes its chain at start, and the
        # wallets would see the new chain as a deep reorg and refuse it.
        argv = [
            MONEROD, "--regtest", "--offline", "--fixed-difficulty", "1", "--keep-fakechain",
            "--data-dir", str(data),
            "--p2p-bind-ip", "127.0.0.1", "--p2p-bind-port", str(p2p_port),
            "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", str(rpc_port),
            "--no-zmq", "--no-igd", "--hide-my-port", "--non-interactive",
            "--disable-dns-checkpoints", "--check-updates", "disabled", "--rpc-ssl", "disabled",
            "--log-file", str(self.root / "logs" / "monerod.log"),
        ]  # fmt: skip
        pid = start_process(
            argv, log=self.root / "logs" / "monerod.out", pid_file=self.root / "monerod.pid"
        )
        state["monerod"] = {"pid": pid, "rpc_port": rpc_port, "p2p_port": p2p_port}
        self._save(state)
        client = RpcClient(f"http://127.0.0.1:{rpc_port}", what="monerod", stats=self.stats)
        async with client:
            await _wait_ready(client, "get_info", pid, MONEROD)

    async def ensure_wallet(self, name: str) -> WalletProcess:
        """Start the wallet-rpc process ``name`` if it is not running."""
        state = self._load()
        if not self._monerod_alive(state):
            raise SandboxError("the sandbox is not running: run `umbra sandbox up`")
        w = state["wallets"].get(name)
        if w and process_matches(int(w["pid"]), [WALLET_RPC, str(self.root)]):
            return self.wallet(name)
        wallet_dir = self.root / "wallets" / name
        wallet_dir.mkdir(parents=True, exist_ok=True)
        if w:  # restarting a crashed process: same port and login, so clients reconnect
            port, user, password = int(w["port"]), str(w["user"]), str(w["password"])
        else:
            port, user, password = free_port(), "umbra", secrets.token_urlsafe(16)
        argv = [
            WALLET_RPC,
            "--daemon-address", f"127.0.0.1:{state['monerod']['rpc_port']}",
            "--trusted-daemon", "--daemon-ssl", "disabled",
            "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", str(port), "--rpc-ssl", "disabled",
            "--rpc-login", f"{user}:{password}",
            "--wallet-dir", str(wallet_dir),
            "--shared-ringdb-dir", str(self.root / "ringdb"),
            "--non-interactive", "--no-dns",
            "--log-file", str(self.root / "logs" / f"wallet-{name}.log"),
        ]  # fmt: skip
        pid = start_process(
            argv,
            log=self.root / "logs" / f"wallet-{name}.out",
            pid_file=self.root / "pids" / f"wallet-{name}.pid",
        )
        state["wallets"][name] = {
            "pid": pid,
            "port": port,
            "user": user,
            "password": password,
            "wallet_dir": str(wallet_dir),
        }
        self._save(state)
        proc = _wallet_process(name, state["wallets"][name])
        async with proc.client(self.stats) as client:
            await _wait_ready(client, "get_version", pid, WALLET_RPC)
        return proc

    async def _open_or_create(self, client: RpcClient, name: str) -> str:
        """Open the process's main wallet (named ``main``), creating it the first time."""
        # Checking the file first: a failing open_wallet still costs seconds (TLS key).
        if (self.root / "wallets" / name / "main.keys").exists():
            await client.call("open_wallet", {"filename": "main", "password": WALLET_PASSWORD})
        else:
            await client.call(
                "create_wallet",
                {"filename": "main", "password": WALLET_PASSWORD, "language": "English"},
            )
        r = await client.call("get_address")
        return str(r["address"])

    async def open_main_wallet(self, name: str) -> WalletProcess:
        """Make sure wallet process ``name`` runs and has its ``main`` wallet open."""
        proc = await self.ensure_wallet(name)
        async with proc.client(self.stats) as client:
            try:
                await client.call("get_address")
            except WalletRpcError:
                await self._open_or_create(client, name)
        return proc

    async def down(self) -> list[str]:
        """Stop every sandbox process (wallets first, saving them); returns what was stopped."""
        state = self._load()
        stopped = []
        for name, w in sorted(state.get("wallets", {}).items()):
            pid = int(w["pid"])
            if process_matches(pid, [WALLET_RPC, str(self.root)]):
                proc = self.wallet(name)
                async with proc.client(self.stats) as client:
                    try:
                        with trio.fail_after(10):
                            await client.call("stop_wallet")
                    except (WalletUnavailable, WalletRpcError, trio.TooSlowError):
                        pass
                stop_pid(pid, [WALLET_RPC, str(self.root)])
                stopped.append(f"wallet {name}")
        if await self.stop_monerod():
            stopped.append("monerod")
        state = self._load()
        state["monerod"] = None
        state["wallets"] = {}
        self._save(state)
        return stopped

    async def stop_monerod(self) -> bool:
        """Stop monerod only (it saves its chain); the wallets keep running, and ``up``
        starts monerod again on the same ports. Returns whether it was running."""
        m = self._load().get("monerod")
        if not m or not process_matches(int(m["pid"]), [MONEROD, str(self.root)]):
            return False
        client = RpcClient(f"http://127.0.0.1:{m['rpc_port']}", what="monerod")
        async with client:
            try:
                with trio.fail_after(10):
                    await client.call_path("/stop_daemon")
            except (WalletUnavailable, WalletRpcError, trio.TooSlowError):
                pass
        stop_pid(int(m["pid"]), [MONEROD, str(self.root)], grace=30)
        return True

    def status(self) -> dict[str, Any]:
        state = self._load()
        m = state.get("monerod")
        out: dict[str, Any] = {"root": str(self.root), "running": self._monerod_alive(state)}
        if m:
            out["monerod"] = {
                "pid": m["pid"],
                "rpc_port": m["rpc_port"],
                "alive": self._monerod_alive(state),
                "rss": rss_bytes(int(m["pid"])),
            }
        out["wallets"] = {
            name: {
                "pid": w["pid"],
                "port": w["port"],
                "alive": process_matches(int(w["pid"]), [WALLET_RPC, str(self.root)]),
                "rss": rss_bytes(int(w["pid"])),
            }
            for name, w in sorted(state.get("wallets", {}).items())
        }
        out["faucet_address"] = state.get("faucet_address", "")
        return out

    # -- chain ---------------------------------------------------------------------------------

    async def height(self) -> int:
        async with self.daemon() as d:
            return int((await d.call("get_info"))["height"])

    async def mine(self, blocks: int, address: str | None = None) -> int:
        """Mine ``blocks`` blocks (to the faucet by default); returns the new height."""
        target = address or self._load().get("faucet_address")
        if not target:
            raise SandboxError("the sandbox has no faucet wallet yet: run `umbra sandbox up`")
        async with self.daemon() as d:
            r = await d.call(
                "generateblocks", {"amount_of_blocks": int(blocks), "wallet_address": target}
            )
            return int(r["height"])

    async def faucet(self, name: str, amount: int, *, wait_unlocked: bool = True) -> str:
        """Send ``amount`` piconero from the faucet to wallet ``name``'s main wallet.

        Mines one block at a time until the coins are spendable (or just confirmed).
        Returns the txid.
        """
        proc = await self.open_main_wallet(name)
        faucet = await self.open_main_wallet(FAUCET)
        async with proc.client(self.stats) as target, faucet.client(self.stats) as source:
            address = str((await target.call("get_address"))["address"])
            await source.call("refresh")
            r = await source.call(
                "transfer", {"destinations": [{"address": address, "amount": int(amount)}]}
            )
            txid = str(r["tx_hash"])
            for _ in range(60):
                await self.mine(1)
                await target.call("refresh")
                t = await target.call("get_transfer_by_txid", {"txid": txid})
                transfer = t.get("transfer", {})
                confirmations = int(transfer.get("confirmations", 0))
                if confirmations >= (UNLOCK_BLOCKS if wait_unlocked else 1):
                    break
        return txid


def _wallet_process(name: str, w: dict[str, Any]) -> WalletProcess:
    return WalletProcess(
        name, int(w["pid"]), int(w["port"]), w["user"], w["password"], Path(w["wallet_dir"])
    )


async def _wait_ready(client: RpcClient, method: str, pid: int, binary: str) -> None:
    with trio.move_on_after(60):
        while True:
            if not process_matches(pid, [binary]):
                raise SandboxError(f"{binary} exited at start; see the logs under sandbox/logs")
            try:
                await client.call(method, timeout=2)
                return
            except (WalletUnavailable, WalletRpcError):
                await trio.sleep(0.1)
    raise SandboxError(f"{binary} did not answer within 60 s; see the logs under sandbox/logs")
