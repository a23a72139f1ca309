"""Three real `umbra node` processes (buyer, seller, arbiter) on a real regtest chain.

Used by the trade tests and by ``bench/messaging.py``. Everything started here is stopped by
`TradeWorld.close`: the nodes (SIGTERM, then SIGKILL), the block miner thread, and the
sandbox (monerod and every wallet-rpc). Waits have deadlines; nothing asserts durations.

- The sandbox lives in the shared data directory (``<root>/sandbox``), so each node finds its
  profile's wallets (``<profile>`` and ``<profile>.escrow``) the way `umbra node` does.
- Orders are driven through the real CLI (`umbra order ...`); their state is read from each
  profile's database directly (a second connection, like the CLI's), which costs no CPU for
  a subprocess per poll on a two-core machine.
- A miner thread adds one block every `MINE_EVERY_S` while a trade runs: the escrow needs one
  confirmation (``--escrow-confirmations 1``) and Monero's 10-block unlock before a payout.
- Clearnet (``--clearnet``) by default; `open_world(tor_network_file=...)` runs the nodes in
  Tor mode instead, each with its own tor joining a private Tor network, bootstrapping to the
  seller's onion address (tests/integration/tor/test_tor_trade.py).
"""

import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from multiformats import CID

import umbra.store as store
from tests.support.leak_audit import child_audit_env
from umbra.core import PICONERO_PER_XMR, ShippingOption
from umbra.core.crypto import decode_public_key, encode_public_key
from umbra.market import ListingDraft, SellerCatalog, TradeService
from umbra.wallet import Sandbox, WalletStore

from ..net.cluster import CHEAP, PASSPHRASE, NodeProc, _env, umbra_argv, wait_until

ROLES = ("buyer", "seller", "arbiter")
IPS = {
    "seller": "127.0.0.60",
    "buyer": "127.0.0.61",
    "arbiter": "127.0.0.62",
    "buyer2": "127.0.0.63",  # a second buyer without a wallet, started by `add_buyer`
}
MINE_EVERY_S = 1.0
PRICE = PICONERO_PER_XMR // 2  # 0.5 XMR
SHIPPING_COST = PICONERO_PER_XMR // 100


class TradeNode(NodeProc):
    """A node process with trade options (no web app, small escrow confirmations)."""

    extra: Sequence[str] = ()
    port: int = 0  # its listen port (0: any free one)

    def launch(
        self,
        bootstrap: Sequence[str] = (),
        *,
        args: Sequence[str] = (),
        debug: bool = True,
        web: bool = False,
    ) -> None:
        """`NodeProc.launch` for a trading node: its own profile, 1 confirmation, no web app."""
        assert not web, "trade nodes are driven through the CLI, not the web app"
        # ``network``: --clearnet, or Tor options (`open_world(tor_network_file=...)`).
        argv = [*self.wrap, *umbra_argv(), "--profile", self.name, "--json", "node"]
        argv += [*self.network, "--verbose", "--no-web"]
        argv += ["--listen", f"/ip4/{self.ip}/tcp/{self.port}", "--escrow-confirmations", "1"]
        argv += self.extra
        argv += list(args)
        for addr in bootstrap:
            argv += ["--bootstrap", addr]
        env = _env(self.data_dir, {"UMBRA_DEBUG": "1" if debug else "0"})
        if self.audit_log is not None:
            env = child_audit_env(self.audit_log, env)
        self._launched_at = time.monotonic()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, text=True, env=env
            )

    def kill(self) -> None:
        """SIGKILL: the node gets no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


class Miner:
    """Mines one block every ``period`` seconds in a thread while started."""

    def __init__(self, sandbox: Sandbox, period: float = MINE_EVERY_S) -> None:
        self.sandbox = sandbox
        self.period = period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                trio.run(self.sandbox.mine, 1)
            except Exception:
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None


@dataclass
class TradeWorld:
    root: Path
    sandbox: Sandbox
    nodes: dict[str, TradeNode]
    ids: dict[str, str]  # role -> persona id
    listing: str  # the seller's listing CID
    miner: Miner
    # How long a node may take to print "listening" (Tor mode: its tor's bootstrap and the
    # onion service's publication come first).
    start_timeout: float = 90.0
    _profiles: dict[str, store.Profile] = field(default_factory=dict)

    # -- reading a party's orders (its database, a connection of our own) --------------------

    def profile(self, role: str) -> store.Profile:
        profile = self._profiles.get(role)
        if profile is None:
            profile = store.open_profile(self.root, role, PASSPHRASE)
            self._profiles[role] = profile
        return profile

    def service(self, role: str) -> TradeService:
        return TradeService(self.profile(role))

    def order(self, role: str, order_id: str) -> dict[str, Any] | None:
        try:
            return self.service(role).order(order_id).to_json()
        except Exception:
            return None

    def state(self, role: str, order_id: str) -> str | None:
        view = self.order(role, order_id)
        return None if view is None else str(view["state"])

    def wait_state(
        self, order_id: str, wanted: str, roles: Sequence[str] = ROLES, *, timeout: float = 180
    ) -> None:
        self.wait(
            f"{', '.join(roles)} in {wanted}",
            lambda: all(self.state(r, order_id) == wanted for r in roles),
            timeout=timeout,
            order_id=order_id,
        )

    def wait(
        self, what: str, check: Callable[[], bool], *, timeout: float = 180, order_id: str = ""
    ) -> None:
        try:
            wait_until(what, check, timeout=timeout, pause=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe(order_id)}") from None

    def describe(self, order_id: str) -> str:
        """Each party's view of the order and its escrow, for a failure message."""
        lines = []
        for role in ROLES:
            view = self.order(role, order_id) if order_id else None
            lines.append(f"--- {role}: {None if view is None else view['state']}")
            for e in [] if view is None else view["timeline"]:
                lines.append(f"    {e['at']} {e['kind']} {e['state']} {e['detail']}")
            if order_id:
                try:
                    audit = WalletStore(self.profile(role).db).audit_log(order_id)
                except Exception as exc:
                    lines.append(f"    (no escrow audit: {exc})")
                else:
                    for a in audit[-15:]:
                        step = f"{a.from_state}->{a.to_state} {a.event}"
                        lines.append(f"    escrow {step} {a.detail[:120]}")
            lines.append(f"    log: {self.nodes[role].log_path}")
        return "\n".join(lines)

    # -- the CLI ------------------------------------------------------------------------------

    def cli(self, role: str, *args: str) -> Any:
        return self.nodes[role].run(*args)

    def buy(self, *, direct: bool = False) -> str:
        # No --arbiter: an escrow order takes the seller's default arbiter from its catalog.
        # Each sale makes a new revision of the listing: order the one the buyer holds now.
        result = self.cli("buyer", *self.buy_args(self.current("buyer", self.listing), direct))
        assert result["status"] == "done", result
        return str(result["order"])

    @staticmethod
    def buy_args(listing: str, direct: bool) -> list[str]:
        return [
            "order", "buy", listing, "--shipping-option", "0",
            "--address", "Jane Doe, 1 Main St, Springfield", "--wait", "180",
            *(["--direct"] if direct else []),
        ]  # fmt: skip

    def listing_id(self, listing: str) -> bytes:
        """The id of the seller's listing ``listing`` is a revision of."""
        found = SellerCatalog(self.profile("seller")).listing_id_of(CID.decode(listing))
        assert found is not None, f"{listing} is not a listing of the seller"
        return found

    def indexed(self, role: str, listing_id: bytes) -> tuple[str, int | None] | None:
        """(CID, quantity) of the revision of the listing that ``role``'s index holds now."""
        row = self.profile(role).db.query_one(
            "SELECT cid, quantity FROM search_listings WHERE listing_id = ?", (listing_id,)
        )
        return None if row is None else (str(row[0]), None if row[1] is None else int(row[1]))

    def current(self, role: str, listing: str) -> str:
        found = self.indexed(role, self.listing_id(listing))
        return listing if found is None else found[0]

    def add_buyer(self, name: str = "buyer2") -> TradeNode:
        """Start a second buyer (no wallet: it can order directly, not pay)."""
        node = self.nodes.get(name)
        if node is None:
            with store.create_profile(self.root, name, PASSPHRASE, params=CHEAP) as profile:
                self.ids[name] = encode_public_key(profile.identity.signing_public)
            node = self.nodes[name] = TradeNode(name, IPS[name], self.root)
        if node.proc is None:
            node.start([self.nodes["seller"].addrs[0]], timeout=self.start_timeout)
        return node

    # -- processes ----------------------------------------------------------------------------

    def start(self, role: str) -> None:
        node = self.nodes[role]
        boot = [] if role == "seller" else [self.nodes["seller"].addrs[0]]
        if role == "seller" and any(n.proc for r, n in self.nodes.items() if r != "seller"):
            boot = [self.nodes[r].addrs[0] for r in ("buyer", "arbiter") if self.nodes[r].proc]
        node.start(boot, timeout=self.start_timeout)

    def close(self) -> None:
        self.miner.stop()
        for profile in self._profiles.values():
            profile.close()
        self._profiles.clear()
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes.values():
            node.stop()
        trio.run(self.sandbox.down)

    def balance(self, role: str) -> int:
        async def get() -> int:
            async with self.sandbox.wallet(role).client() as c:
                await c.call("refresh")
                return int((await c.call("get_balance"))["balance"])

        return trio.run(get)


def open_world(
    root: Path, *, tor_network_file: Path | None = None, audit_dir: Path | None = None
) -> TradeWorld:
    """Sandbox up, profiles and a listing, the three nodes started and connected.

    Args:
        tor_network_file: run the nodes in Tor mode, each with its own tor joining the private
            Tor network this file describes (``--tor-network-file``); else ``--clearnet``.
        audit_dir: record each node process's connects and name lookups in
            ``<audit_dir>/<role>.jsonl`` (`tests.support.leak_audit.child_audit_env`).
    """
    sandbox = Sandbox(root)
    miner = Miner(sandbox)
    nodes = {r: TradeNode(r, IPS[r], root) for r in ROLES}
    nodes["arbiter"].extra = (
        "--arbiter", "--arbiter-name", "Test arbiter", "--arbiter-terms", "decides within 3 days",
    )  # fmt: skip
    for role, node in nodes.items():
        if tor_network_file is not None:
            node.network = ["--tor-network-file", str(tor_network_file)]
        if audit_dir is not None:
            node.audit_log = audit_dir / f"{role}.jsonl"
    world = TradeWorld(root, sandbox, nodes, {}, "", miner)
    if tor_network_file is not None:
        world.start_timeout = 300.0
    try:

        async def chain() -> None:
            names = tuple(n for r in ROLES for n in (r, f"{r}.escrow"))
            await sandbox.up(names)
            for role in ROLES:
                await sandbox.open_main_wallet(role, secrets.token_urlsafe(16))
            await sandbox.faucet("buyer", 10 * PICONERO_PER_XMR)

        trio.run(chain)
        for role in ROLES:
            with store.create_profile(root, role, PASSPHRASE, params=CHEAP) as profile:
                world.ids[role] = encode_public_key(profile.identity.signing_public)
                if role == "seller":
                    signed = SellerCatalog(profile).create(
                        ListingDraft(
                            title="Brass telescope",
                            description="A 1920s brass telescope, working.",
                            price=PRICE,
                            quantity=20,  # every test of a module buys one; five at once
                            category="electronics",
                            condition="used-good",
                            ships_from="DE",
                            shipping=(
                                ShippingOption(name="Post", regions=["WW"], cost=SHIPPING_COST),
                            ),
                        )
                    )
                    world.listing = str(signed.cid)
        with store.open_profile(root, "seller", PASSPHRASE) as profile:
            # The seller accepts the arbiter in its catalog: buyers' default arbiter.
            SellerCatalog(profile).set_arbiters([decode_public_key(world.ids["arbiter"])])
        world.start("seller")
        for role in ("buyer", "arbiter"):
            nodes[role].launch([nodes["seller"].addrs[0]])
        for role in ("buyer", "arbiter"):
            nodes[role].wait_listening(timeout=world.start_timeout)
        world.wait("the buyer synced the seller's listing", _has_listing(world), timeout=180)
        miner.start()
    except BaseException:
        world.close()
        raise
    return world


def _has_listing(world: TradeWorld) -> Callable[[], bool]:
    from umbra.market import stored_listing

    def check() -> bool:
        return stored_listing(world.profile("buyer"), CID.decode(world.listing)) is not None

    return check
