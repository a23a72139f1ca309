"""The three-node demo marketplace behind `umbra demo`: chain, wallets, nodes, miner.

The demo directory is a data directory of its own:

- ``profiles/demo-seller|demo-buyer|demo-arbiter/``: the three profiles (passphrase ``demo``);
  the seller gets sample listings the first time and accepts the demo arbiter in its catalog
  (its default arbiter, so the buyer's one-click buy needs no arbiter set-up).
- ``sandbox/``: the regtest chain and one wallet-rpc per profile (`umbra.wallet.Sandbox`).
- ``demo/nodes.json``: PIDs of the node processes while the demo runs; ``demo/logs/``.

Everything in it is owner-only (directories 0700, files 0600), fixed at each start for
demo directories an older version made. Each profile's sandbox wallet has its own random
password, kept in the profile.

Bring-up: the profiles (and the seller's listings) are made in worker threads while the chain
and the wallets (and, with ``--tor``, a private Tor network on loopback: ``demo/tor-network/``,
its client lines in ``demo/tor-network.torrc`` for the nodes' ``--tor-network-file``) come
up; then, while the buyer gets its coins, the seller's node starts and the buyer's and
arbiter's nodes join through it (a node looks for its sandbox wallets when it starts, so they
must run first); then a miner adds a block every few seconds so payments get confirmations.
Each node is a real `umbra node` process serving its own web app; with ``--tor`` each runs
its own tor joining the private network and is reached only at its onion address.

Stop (Ctrl-C, SIGTERM, or an error during bring-up): the miner and (``--tor``) the private
Tor network stop with the demo's nursery; then the nodes (SIGTERM, SIGKILL after a grace
period; each node's own tor dies with it), then wallets and chain (`Sandbox.down`). Node
processes run in their own session so a terminal's Ctrl-C reaches only this process, which
stops them in order.
A demo killed outright leaves its PIDs in ``nodes.json`` and the sandbox's ``state.json``; the
next run stops those leftovers (after checking each PID's command line) or reuses them.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio

from umbra.core import PICONERO_PER_XMR, UsageError
from umbra.core.crypto import encode_public_key
from umbra.market import SellerCatalog, TradeService, sample_drafts
from umbra.store import (
    PRIVATE_UMASK,
    ProfileExists,
    create_profile,
    make_private_dirs,
    open_private_append,
    open_profile,
    tighten_private_tree,
    write_private_file,
)
from umbra.wallet import Sandbox, UserWallet, WalletError, WalletStore
from umbra.wallet._config import sandbox_wallet_password
from umbra.wallet._processes import stop_pid

log = logging.getLogger(__name__)

DEMO_PASSPHRASE = "demo"  # noqa: S105 - throwaway demo profiles, printed to the user
ROLES = {"seller": "demo-seller", "buyer": "demo-buyer", "arbiter": "demo-arbiter"}
BUYER_FUNDS = 50 * PICONERO_PER_XMR
NODE_START_TIMEOUT_S = 180.0
# Over Tor a node first waits for its tor's bootstrap (it gives up after 3 minutes by itself)
# and the publication of its onion service.
TOR_NODE_START_TIMEOUT_S = 300.0
NODE_STOP_GRACE_S = 20.0
FAUCET_ATTEMPTS = 1
FAUCET_TIMEOUT_S = 120.0
APPROX_BLOCK_REWARD = 30 * PICONERO_PER_XMR  # ~35 XMR a block early on the regtest chain
COINBASE_UNLOCK_BLOCKS = 61

Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DemoOptions:
    demo_dir: Path
    listings: int
    mine_interval: float
    buyer_funds: int = BUYER_FUNDS
    # Over a private Tor network on loopback (onion services only), else clearnet TCP.
    tor: bool = False


@dataclass
class DemoNode:
    role: str
    profile: str
    process: trio.Process
    started: dict[str, Any]  # the node's "listening" line

    def describe(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "pid": self.process.pid,
            "peer_id": self.started["peer_id"],
            "addrs": self.started["addrs"],
            "url": self.started["url"],
            "base": self.started["base"],
        }


@dataclass
class DemoRun:
    """One run of the demo; `bring_up` then `shut_down` (always, shielded)."""

    options: DemoOptions
    report: Report
    nodes: dict[str, DemoNode] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    sandbox_started: bool = False
    # Each profile's main wallet password (from its encrypted store), once profiles are ready.
    wallet_passwords: dict[str, str] = field(default_factory=dict)
    profiles_ready: trio.Event = field(default_factory=trio.Event)
    # With ``--tor``: the private Tor network's torrc lines for the nodes' own tors, and the
    # event that stops the task holding the network (set by `shut_down`).
    tor_network_file: Path | None = None
    tor_stop: trio.Event = field(default_factory=trio.Event)
    tor_stopped: trio.Event = field(default_factory=trio.Event)

    @property
    def root(self) -> Path:
        return self.options.demo_dir

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox(self.root)

    @property
    def _state_dir(self) -> Path:
        return self.root / "demo"

    # -- bring-up ------------------------------------------------------------------------------

    async def bring_up(self, nursery: trio.Nursery) -> dict[str, Any]:
        """Start everything; returns the ready data. The miner runs in ``nursery``."""
        started = time.monotonic()
        make_private_dirs(self.root)
        os.chmod(self.root, 0o700)  # the demo directory is Umbra's own
        tighten_private_tree(self.root)
        make_private_dirs(self._state_dir / "logs")
        self._stop_leftover_nodes()
        # The nodes start once their wallets run: a node looks for its wallets when it starts.
        async with trio.open_nursery() as first:
            first.start_soon(self._timed, "profiles", self._profiles)
            if self.options.tor:
                # Held by a task of the demo's nursery, so it lives until `shut_down`.
                first.start_soon(self._timed, "tor_network", partial(nursery.start, self._tor))
            await self._timed("chain", self._chain)
            await self._timed("wallets", self._wallets)
        async with trio.open_nursery() as second:
            second.start_soon(self._timed, "buyer_funds", self._fund_buyer)
            await self._timed("nodes", self._start_nodes)
        nursery.start_soon(self._mine_forever)
        self.timings["total"] = round(time.monotonic() - started, 2)
        return {
            "event": "ready",
            "ready": True,
            "demo_dir": str(self.root),
            "passphrase": DEMO_PASSPHRASE,
            "nodes": {role: node.describe() for role, node in self.nodes.items()},
            "mine_interval": self.options.mine_interval,
            "network": "tor" if self.options.tor else "clearnet",
            "timings": self.timings,
            **self.facts,
        }

    async def _timed(self, step: str, fn: Callable[[], Any]) -> None:
        t0 = time.monotonic()
        await fn()
        self.timings[step] = round(time.monotonic() - t0, 2)
        self.report({"event": "progress", "step": step, "seconds": self.timings[step]})

    async def _profiles(self) -> None:
        # The arbiter first: the buyer and the seller trust its persona key as their arbiter.
        arbiter = await trio.to_thread.run_sync(self._prepare_profile, "arbiter", None)
        async with trio.open_nursery() as nursery:
            for role in ("seller", "buyer"):
                nursery.start_soon(trio.to_thread.run_sync, self._prepare_profile, role, arbiter)
        self.facts["arbiter_id"] = encode_public_key(arbiter)
        self.profiles_ready.set()

    def _prepare_profile(self, role: str, arbiter: bytes | None) -> bytes:
        """Create the profile (or reopen it): the seller gets its sample listings and lists the
        demo arbiter in its catalog (its default arbiter). Returns the profile's persona key."""
        name = ROLES[role]
        try:
            profile = create_profile(self.root, name, DEMO_PASSPHRASE)
            self.facts.setdefault("created_profiles", []).append(name)
        except ProfileExists:
            profile = open_profile(self.root, name, DEMO_PASSPHRASE)
        with profile:
            self.wallet_passwords[name] = sandbox_wallet_password(WalletStore(profile.db))
            if role == "seller":
                catalog = SellerCatalog(profile)
                if not catalog.own_listings():
                    for draft in sample_drafts(self.options.listings):
                        catalog.create(draft)
                self.facts["listings"] = len(catalog.own_listings())
            if arbiter is not None and role == "seller":
                trades = TradeService(profile)
                if trades.accepted_arbiters() != [encode_public_key(arbiter)]:
                    trades.set_accepted_arbiters([encode_public_key(arbiter)])
            return profile.identity.signing_public

    async def _tor(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the private Tor network (3 authorities + 1 relay on 127.0.0.1) until
        `shut_down` sets ``tor_stop`` (or the demo is cancelled); its tors stop with it."""
        from umbra.net.tor import PrivateTorNetwork

        root = self._state_dir / "tor-network"
        # A new network each run: the keys of the last one would be refused (tor-gencert will
        # not overwrite an identity key), and its cached consensus names old relays.
        await trio.to_thread.run_sync(partial(shutil.rmtree, root, ignore_errors=True))
        try:
            async with PrivateTorNetwork(root) as network:
                path = network.write_client_torrc(self._state_dir / "tor-network.torrc")
                self.tor_network_file = path
                self.facts["tor_relays"] = len(network.running)
                task_status.started()
                await self.tor_stop.wait()
        finally:
            self.tor_stopped.set()

    async def _chain(self) -> None:
        """monerod and the faucet wallet (the first time: mines the first blocks to it)."""
        self.sandbox_started = True
        await self.sandbox.up(())

    async def _wallets(self) -> None:
        """All wallet-rpc processes at once (each costs seconds), main wallets open (with
        the passwords the profiles keep, so once the profiles are ready)."""
        box = self.sandbox
        async with trio.open_nursery() as nursery:
            for name in ROLES.values():
                nursery.start_soon(box.ensure_wallet, f"{name}.escrow")
                nursery.start_soon(self._open_main_wallet, name)

    async def _open_main_wallet(self, name: str) -> None:
        await self.sandbox.ensure_wallet(name)
        await self.profiles_ready.wait()
        await self.sandbox.open_main_wallet(name, self.wallet_passwords[name])

    async def _fund_buyer(self) -> None:
        box = self.sandbox
        buyer = ROLES["buyer"]
        proc = await box.open_main_wallet(buyer, self.wallet_passwords[buyer])
        async with proc.client() as rpc:
            await rpc.call("refresh")
            balance = await UserWallet(rpc).balance()
            if balance.total < self.options.buyer_funds // 2:
                address = str((await rpc.call("get_address"))["address"])
                await self._send_coins(buyer, address)
                await rpc.call("refresh")
                balance = await UserWallet(rpc).balance()
        self.facts["buyer_balance"] = balance.total
        self.facts["buyer_unlocked"] = balance.unlocked
        self.facts["height"] = await box.height()

    async def _send_coins(self, name: str, address: str) -> None:
        """From the faucet; else mine coins straight to ``address``.

        monero-wallet-rpc 0.18 on a young regtest chain sometimes refuses the faucet's
        transfer with "Daemon response did not include the requested real output" (two of
        five cold starts here; retries of that run failed too, or hung for minutes). A
        coinbase needs no transfer: mined to the buyer, it is spendable 60 blocks later.
        """
        box = self.sandbox
        for attempt in range(1, FAUCET_ATTEMPTS + 1):
            try:
                # A refused or stuck transfer must not hold the demo up for long.
                with trio.fail_after(FAUCET_TIMEOUT_S):
                    await box.faucet(name, self.options.buyer_funds)
                return
            except (WalletError, trio.TooSlowError) as exc:
                reason = str(exc) or f"no answer within {FAUCET_TIMEOUT_S:.0f} s"
                self.report({"event": "warning", "message": f"faucet: {reason}"})
                if attempt < FAUCET_ATTEMPTS:
                    await box.mine(5)
        self.report({"event": "progress", "step": "mining-coins-for-the-buyer"})
        reward_blocks = -(-self.options.buyer_funds // APPROX_BLOCK_REWARD)
        await box.mine(reward_blocks, address)
        await box.mine(COINBASE_UNLOCK_BLOCKS)

    async def _start_nodes(self) -> None:
        seller = await self._start_node("seller", bootstrap=None)
        seller_addr = seller.started["addrs"][0]
        async with trio.open_nursery() as nursery:
            for role in ("buyer", "arbiter"):
                nursery.start_soon(self._start_node, role, seller_addr)
        self._save_node_pids()

    async def _start_node(self, role: str, bootstrap: str | None) -> DemoNode:
        name = ROLES[role]
        argv = [
            sys.executable,
            "-c",
            "import sys; from umbra.cli import main; main(sys.argv[1:])",
            "--data-dir",
            str(self.root),
            "--profile",
            name,
            "--json",
            "node",
            *self._network_args(),
            "--web-port",
            "0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--verbose",
        ]
        if bootstrap is not None:
            argv += ["--bootstrap", bootstrap]
        if role == "arbiter" and _node_has_option("arbiter"):
            argv += ["--arbiter", "--arbiter-name", "Demo arbiter", "--arbiter-fee", "none"]
            argv += ["--arbiter-terms", "Decides disputes of the demo within a day."]
        env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
        env["UMBRA_PASSPHRASE"] = DEMO_PASSPHRASE
        # The node writes its own log (rotated, bounded); stderr only gets what escapes logging
        # (an exit message), so its file stays small.
        log_path = self._state_dir / "logs" / f"node-{role}.log"
        argv += ["--log-file", str(log_path)]
        with open(open_private_append(log_path.with_suffix(".err")), "ab") as log_file:
            # trio hands ``umask`` to Popen; its type stubs do not list it.
            process = await trio.lowlevel.open_process(  # type: ignore[call-overload]
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
                start_new_session=True,
                umask=PRIVATE_UMASK,
            )
        node = DemoNode(role, name, process, {})
        self.nodes[role] = node
        self._save_node_pids()
        assert process.stdout is not None
        lines = _JsonLines(process.stdout)
        timeout = TOR_NODE_START_TIMEOUT_S if self.options.tor else NODE_START_TIMEOUT_S
        with trio.move_on_after(timeout):
            while (event := await lines.next()) is not None:
                if event.get("event") == "web":  # its web app serves while the node starts
                    continue
                if event.get("event") != "tor-bootstrap":
                    node.started = event
                    break
                # A Tor-mode node prints its tor's bootstrap first: pass it on.
                self.report(
                    {
                        "event": "progress",
                        "step": f"tor-{role}",
                        "percent": event.get("percent"),
                        "summary": str(event.get("summary", ""))[:200],
                    }
                )
        if node.started.get("event") != "listening" or not node.started.get("url"):
            said = f": {node.started['error']}" if node.started.get("error") else ""
            raise UsageError(
                f"the {role}'s node did not start{said} (exit code {process.poll()});"
                f" see {log_path} and {log_path.with_suffix('.err')}"
            )
        self.report({"event": "progress", "step": f"node-{role}", "url": node.started["url"]})
        return node

    def _network_args(self) -> list[str]:
        if not self.options.tor:
            return ["--clearnet"]  # plain TCP on 127.0.0.1: every node sees the others' IPs
        if self.tor_network_file is None:
            raise UsageError("the private Tor network did not start")
        # Each node starts its own tor, which joins the demo's private Tor network.
        return ["--tor-network-file", str(self.tor_network_file)]

    def _save_node_pids(self) -> None:
        data = {role: n.process.pid for role, n in self.nodes.items()}
        write_private_file(self._state_dir / "nodes.json", json.dumps(data).encode("utf-8"))

    def _stop_leftover_nodes(self) -> None:
        """Stop node processes a previous demo run left behind (killed without cleanup)."""
        path = self._state_dir / "nodes.json"
        try:
            pids = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for role, pid in pids.items():
            needles = [str(self.root), ROLES.get(role, role), "node"]
            if isinstance(pid, int) and stop_pid(pid, needles, grace=NODE_STOP_GRACE_S):
                self.report({"event": "progress", "step": "stopped-leftover-node", "role": role})
        path.unlink(missing_ok=True)

    async def _mine_forever(self) -> None:
        box = self.sandbox
        failures = 0
        while True:
            await trio.sleep(self.options.mine_interval)
            try:
                await box.mine(1)
                failures = 0
            except WalletError as exc:
                failures += 1
                if failures == 1:  # say it once, keep trying: the chain may come back
                    self.report({"event": "warning", "message": f"mining failed: {exc}"})

    # -- watching and stopping -----------------------------------------------------------------

    async def watch_nodes(self) -> None:
        """Report a node process that ends while the demo runs (the others keep running)."""
        async with trio.open_nursery() as nursery:
            for node in self.nodes.values():
                nursery.start_soon(self._watch, node)

    async def _watch(self, node: DemoNode) -> None:
        code = await node.process.wait()
        self.report(
            {
                "event": "warning",
                "message": f"the {node.role}'s node exited with code {code}; see "
                f"{self._state_dir / 'logs' / f'node-{node.role}.log'} and .err",
            }
        )

    async def shut_down(self) -> list[str]:
        """Stop nodes, then wallets and chain. Call shielded from cancellation."""
        stopped: list[str] = []
        async with trio.open_nursery() as nursery:
            for node in self.nodes.values():
                nursery.start_soon(_stop_process, node.process)
        stopped += [f"node {role}" for role in self.nodes]
        (self._state_dir / "nodes.json").unlink(missing_ok=True)
        if self.tor_network_file is not None:
            self.tor_stop.set()
            with trio.move_on_after(NODE_STOP_GRACE_S):
                await self.tor_stopped.wait()
            stopped.append("private Tor network")
        if self.sandbox_started:
            try:
                stopped += await self.sandbox.down()
            except (WalletError, OSError) as exc:
                self.report({"event": "warning", "message": f"stopping the sandbox: {exc}"})
        return stopped


async def _stop_process(process: trio.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(NODE_STOP_GRACE_S):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()


class _JsonLines:
    """The JSON objects a node prints on stdout, one a line (None once its stdout ends)."""

    def __init__(self, stream: trio.abc.ReceiveStream, limit: int = 64 * 1024) -> None:
        self._stream = stream
        self._limit = limit
        self._buffer = bytearray()

    async def next(self) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > self._limit:
                raise UsageError("a demo node printed an overlong line")
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        try:
            value = json.loads(line)
        except ValueError:
            raise UsageError(f"a demo node printed other than JSON: {line[:80]!r}") from None
        return value if isinstance(value, dict) else {}


def _node_has_option(name: str) -> bool:
    """Whether `umbra node` takes ``--<name>`` (the arbiter role is added by the trade work)."""
    from ._node_cmds import node

    return any(param.name == name for param in node.params)
