"""The local regtest sandbox: a private chain plus the wallet-rpc processes profiles need.

Layout under ``<data>/sandbox/``: ``state.json`` (ports, PIDs, RPC logins, the faucet's wallet
password), ``monerod/`` (chain), ``wallets/<name>/`` (one wallet-rpc ``--wallet-dir`` per
process), ``ringdb/``, ``logs/``, ``pids/``, ``secrets/`` (a wallet-rpc's login file, only
while it starts). Names: ``faucet`` (holds the mined coins), ``<profile>`` (the profile's own
wallet) and ``<profile>.escrow`` (a second process for that profile's escrow wallets, so the
user wallet never has to be closed). Everything listens on free loopback ports; every process
is tracked by PID and stopped cleanly by `Sandbox.down`.

Secrets: each wallet-rpc gets a random digest login, handed over in a 0600 ``--config-file``
(deleted once it answers), never on its command line, which every local user can read. The
login stays in ``state.json`` (0600), because the sandbox serves every profile and is run
(``sandbox up/down/mine/faucet``) without unlocking one. Each wallet file has its own random
password: a profile's main wallet password comes from the caller, who keeps it in the
profile's encrypted store (`umbra.wallet._config.sandbox_wallet_password`); the faucet's,
which belongs to no profile and holds only mined test coins, is in ``state.json``. Wallets
made by older versions with the shared password ``sandbox`` are opened with it once and
given their own (`LEGACY_WALLET_PASSWORD`). Everything under ``sandbox/`` is owner-only.
"""

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import trio

from umbra.store import make_private_dirs, tighten_private_tree, write_private_file

from ._block_time import UNLOCK_BLOCKS, BlockPace, daemon_pace
from ._daemon_route import DaemonAddress, daemon_args
from ._errors import SandboxError, WalletRpcError, WalletUnavailable
from ._processes import free_port, port_free, process_matches, rss_bytes, start_process, stop_pid
from ._rpc import RpcClient, RpcStats
from ._sandbox_wallet import (
    RPC_USER,
    WALLET_RPC,
    WalletProcess,
    open_or_create_main,
    wait_ready,
    wallet_process,
    wallet_rpc_argv,
    write_login_file,
)

MONEROD = "monerod"
FAUCET = "faucet"
INITIAL_BLOCKS = 80  # coinbase unlocks after 60 blocks: leaves ~20 spendable coinbases


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
        make_private_dirs(self.root)
        text = json.dumps(state, indent=2, sort_keys=True)
        write_private_file(self._state_file, text.encode("utf-8"))

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
        return wallet_process(name, w)

    # -- up / down -----------------------------------------------------------------------------

    async def up(self, wallets: tuple[str, ...] = ()) -> dict[str, Any]:
        """Start monerod (mining the first blocks to the faucet) and the named wallets.

        Also takes group and other permissions away from anything under ``sandbox/`` (an
        older Umbra left directories 0755 and logs 0644).
        """
        ensure_monero_installed()
        make_private_dirs(self.root)
        tighten_private_tree(self.root)
        state = self._load()
        if not self._monerod_alive(state):
            if state.get("monerod") is None:  # first start, or after `down`
                # The faucet's wallet file stays, so its password must stay too.
                state = {
                    "monerod": None,
                    "wallets": {},
                    "faucet_address": "",
                    "faucet_password": state.get("faucet_password", ""),
                }
            # else monerod exited under running wallets: same chain, same ports, so the
            # wallets (started with ``--daemon-address``) reconnect on their own.
            await self._start_monerod(state)
        await self.ensure_wallet(FAUCET)
        state = self._load()
        if not state.get("faucet_address"):
            faucet = await self.open_faucet()
            async with faucet.client(self.stats) as client:
                address = str((await client.call("get_address"))["address"])
            state = self._load()
            state["faucet_address"] = address
            self._save(state)
            await self.mine(INITIAL_BLOCKS)
        for name in wallets:
            await self.ensure_wallet(name)
        return self.status()

    async def _start_monerod(self, state: dict[str, Any]) -> None:
        data = self.root / "monerod"
        make_private_dirs(data)
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
            await wait_ready(client, "get_info", pid, MONEROD)

    async def ensure_wallet(self, name: str) -> WalletProcess:
        """Start the wallet-rpc process ``name`` if it is not running.

        A process an older Umbra started with its login on the command line is stopped and
        started again the new way, with a new login.
        """
        state = self._load()
        if not self._monerod_alive(state):
            raise SandboxError("the sandbox is not running: run `umbra sandbox up`")
        w = state["wallets"].get(name)
        needles = [WALLET_RPC, str(self.root)]
        leaked = False
        if w and process_matches(int(w["pid"]), needles):
            leaked = process_matches(int(w["pid"]), [*needles, "--rpc-login"])
            if not leaked:
                return self.wallet(name)
            await self._stop_wallet(name, int(w["pid"]))
        wallet_dir = self.root / "wallets" / name
        make_private_dirs(wallet_dir)
        # Restarting a crashed process: same port and login, so clients reconnect; but a
        # login an older Umbra put on a command line (no "login_hidden") is replaced.
        if w and not leaked and w.get("login_hidden"):
            port, user, password = int(w["port"]), str(w["user"]), str(w["password"])
        else:
            port = int(w["port"]) if w else free_port()
            user, password = RPC_USER, secrets.token_urlsafe(24)
        login_file = self.root / "secrets" / f"wallet-{name}.conf"
        make_private_dirs(login_file.parent)
        write_login_file(login_file, user, password)
        # The sandbox's daemon is on loopback: reached directly in either network mode
        # (nothing leaves the machine; tor would refuse a loopback target anyway).
        daemon = DaemonAddress("127.0.0.1", int(state["monerod"]["rpc_port"]))
        argv = wallet_rpc_argv(
            daemon_args(daemon, tor_mode=True, tor_socks=None),
            port=port,
            login_file=login_file,
            wallet_dir=wallet_dir,
            ringdb_dir=self.root / "ringdb",
            log_file=self.root / "logs" / f"wallet-{name}.log",
        )
        try:
            pid = start_process(
                argv,
                log=self.root / "logs" / f"wallet-{name}.out",
                pid_file=self.root / "pids" / f"wallet-{name}.pid",
            )
            state = self._load()
            state["wallets"][name] = {
                "pid": pid,
                "port": port,
                "user": user,
                "password": password,
                "wallet_dir": str(wallet_dir),
                "login_hidden": True,
            }
            self._save(state)
            proc = wallet_process(name, state["wallets"][name])
            async with proc.client(self.stats) as client:
                await wait_ready(client, "get_version", pid, WALLET_RPC)
        finally:
            # Read at start; once it answers (or failed) the copy in state.json is enough.
            login_file.unlink(missing_ok=True)
        return proc

    async def open_main_wallet(self, name: str, password: str) -> WalletProcess:
        """Make sure wallet process ``name`` runs and has its ``main`` wallet open.

        Args:
            name: the wallet process (a profile's name).
            password: the main wallet's own password (the caller keeps it, for a profile in
                its encrypted store); the wallet is created with it the first time.

        Raises:
            SandboxError: the wallet file opens neither with ``password`` nor (migration)
                with the old shared password.
        """
        proc = await self.ensure_wallet(name)
        async with proc.client(self.stats) as client:
            try:
                await client.call("get_address")
            except WalletRpcError:
                await open_or_create_main(client, proc.wallet_dir, name, password)
        return proc

    async def open_faucet(self) -> WalletProcess:
        """The faucet's wallet process with its wallet open (its password is in state.json)."""
        state = self._load()
        password = str(state.get("faucet_password") or "")
        if not password:
            password = secrets.token_urlsafe(24)
            state["faucet_password"] = password
            self._save(state)  # before the wallet gets it: never a password nobody kept
        return await self.open_main_wallet(FAUCET, password)

    async def _stop_wallet(self, name: str, pid: int) -> None:
        """Save and stop one wallet-rpc process."""
        proc = self.wallet(name)
        async with proc.client(self.stats) as client:
            try:
                with trio.fail_after(10):
                    await client.call("stop_wallet")
            except (WalletUnavailable, WalletRpcError, trio.TooSlowError):
                pass
        stop_pid(pid, [WALLET_RPC, str(self.root)])

    async def down(self) -> list[str]:
        """Stop every sandbox process (wallets first, saving them); returns what was stopped."""
        state = self._load()
        stopped = []
        for name, w in sorted(state.get("wallets", {}).items()):
            pid = int(w["pid"])
            if process_matches(pid, [WALLET_RPC, str(self.root)]):
                await self._stop_wallet(name, pid)
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

    async def block_pace(self) -> BlockPace:
        """How fast the sandbox chain makes blocks now (a miner may run, or none)."""
        async with self.daemon() as d:
            return await daemon_pace(d)

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

        That wallet must be open (`open_main_wallet`: only its profile knows its password).
        Mines one block at a time until the coins are spendable (or just confirmed).
        Returns the txid.
        """
        proc = self.wallet(name)
        faucet = await self.open_faucet()
        async with proc.client(self.stats) as target, faucet.client(self.stats) as source:
            try:
                address = str((await target.call("get_address"))["address"])
            except WalletRpcError as exc:
                raise SandboxError(
                    f"the sandbox wallet of {name!r} is not open: run "
                    f"`umbra --profile {name} sandbox up` first"
                ) from exc
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
