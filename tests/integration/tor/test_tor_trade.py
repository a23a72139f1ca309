"""Whole trades over onion services only, with the regtest chain, and two ways to show that no
node process went around tor.

ONE world for the module (CI time): a private Tor network (3 authorities + 1 relay, in a
background thread), the regtest sandbox (monerod, wallet-rpc processes), and three `umbra
node` processes (buyer, seller, arbiter) in Tor mode exactly as users run them, each launching
its own tor that joins the private network (``--tor-network-file``); buyer and arbiter
bootstrap to the seller's ``/onion3`` address. Every node process records its connects and
name lookups (`tests.support.leak_audit.child_audit_env`). Then, in order:

1. an escrow trade to release, 2. a dispute decided by the arbiter (refund), both over onion
services; 3. a fourth node jailed in an empty network namespace with only an existing tor's
unix control and SOCKS sockets reachable (`tests.support.netns_jail`) syncs the seller's
listing and orders from it; 4. a wallet-rpc with Umbra's Tor-mode command line syncs the
chain from the sandbox's monerod published as an onion service, jailed the same way; 5. the
audits of the three trading nodes: only their tor's ports, their wallet-rpc processes and the
sandbox's daemon on 127.0.0.1, and no name lookups.

Cost, two runs here (2 cores shared with other test runs, load 5-10): 5 min 2 s and 7 min
11 s for the module: the world 128-142 s (network, chain, three nodes each bootstrapping its
own tor), the escrow to release 52-120 s, the dispute 63-97 s, the wallet-rpc over an onion
33-38 s, the jailed node 20-28 s. Up to 10 tor processes (~110 MB RSS each for the
network's, ~50 MB for clients), monerod, 7 wallet-rpc processes and 4 nodes at once.
Deadlines detect hangs; nothing asserts a duration.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

import umbra.store as store
from umbra.core import format_xmr
from umbra.net import read_node_status
from umbra.wallet import (
    Login,
    RpcClient,
    SocksProxy,
    WalletRpcError,
    WalletUnavailable,
    daemon_args,
    parse_daemon_address,
    wallet_rpc_argv,
)
from umbra.wallet._processes import free_port
from umbra.wallet._sandbox_wallet import write_login_file

from ...support.leak_audit import Endpoint, read_child_audit
from ...support.netns_jail import child_of, jail_argv, namespace_of, probe_from, relays
from ..net.cluster import CHEAP, PASSPHRASE
from ..trade.harness import PRICE, ROLES, SHIPPING_COST, TradeNode, TradeWorld, open_world
from ._tor_world import BackgroundTor

pytestmark = [pytest.mark.tor, pytest.mark.monero, pytest.mark.network, pytest.mark.slow]

TOTAL = PRICE + SHIPPING_COST
ONION_PREFIX = "/onion3/"
DAEMON_VIRTUAL_PORT = 18081
JAILED_SOCKS_PORT = 9050  # inside a jail: the relay to tor's unix SOCKS socket
SYNC_DEADLINE_S = 300.0


def _namespaces_refused() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (unshare --net)"
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        return "`ip` and `nsenter` are needed (Debian: iproute2, util-linux)"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"the kernel refused unshare --net: {probe.stderr.decode().strip()}"
    return None


@dataclass
class TorTrade:
    root: Path
    tor: BackgroundTor
    world: TradeWorld
    audit_dir: Path


@pytest.fixture(scope="module")
def tt(request: pytest.FixtureRequest) -> Iterator[TorTrade]:
    # Short paths (unix sockets live under it: 108 bytes at most); kept when a test failed.
    root = Path(tempfile.mkdtemp(prefix="umbra-tt-"))
    failed_before = request.session.testsfailed
    tor = BackgroundTor(root / "tor")
    audit_dir = root / "audit"
    audit_dir.mkdir()
    world: TradeWorld | None = None
    try:
        tor.start()
        world = open_world(root, tor_network_file=tor.network_file, audit_dir=audit_dir)
        yield TorTrade(root, tor, world, audit_dir)
    finally:
        try:
            if world is not None:
                world.close()
        finally:
            tor.close()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(root, ignore_errors=True)


def _paid_out(world: TradeWorld, role: str, order_id: str) -> Callable[[], bool]:
    def check() -> bool:
        view = world.order(role, order_id)
        return view is not None and bool(view["payout_txids"])

    return check


def test_nodes_know_each_other_only_by_onion_addresses(tt: TorTrade) -> None:
    world = tt.world
    for role in ROLES:
        node = world.nodes[role]
        assert node.addrs and all(a.startswith(ONION_PREFIX) for a in node.addrs), node.addrs
        assert node.tor_steps and node.tor_steps[-1]["percent"] == 100, node.tor_steps
        status = read_node_status(world.profile(role), now=time.time())
        assert status.network == "tor" and status.tor_socks, status


def test_escrow_trade_to_release_over_onion_services(tt: TorTrade) -> None:
    world = tt.world
    seller_before = world.balance("seller")
    order_id = world.buy()
    world.wait_state(order_id, "S1_requested", timeout=300)
    assert world.cli("seller", "order", "accept", order_id, "--wait", "120")["status"] == "done"
    world.wait_state(order_id, "S4_funded", timeout=600)
    shipped = world.cli("seller", "order", "ship", order_id, "--tracking", "RR9", "--wait", "120")
    assert shipped["status"] == "done"
    world.wait_state(order_id, "S5_shipped", timeout=300)
    assert world.cli("buyer", "order", "confirm", order_id, "--wait", "120")["status"] == "done"
    world.wait_state(order_id, "S6_completed", timeout=300)
    world.wait("the release is submitted", _paid_out(world, "buyer", order_id), timeout=900)
    world.wait(
        "the seller's wallet holds the payment",
        lambda: world.balance("seller") - seller_before >= TOTAL - 10**10,
        timeout=300,
    )


def test_dispute_decided_by_the_arbiter_over_onion_services(tt: TorTrade) -> None:
    world = tt.world
    order_id = world.buy()
    world.wait_state(order_id, "S1_requested", timeout=300)
    assert world.cli("seller", "order", "accept", order_id, "--wait", "120")["status"] == "done"
    world.wait_state(order_id, "S4_funded", timeout=600)
    buyer_before = world.balance("buyer")
    opened = world.cli(
        "buyer", "order", "dispute", order_id, "--evidence", "Never came.", "--wait", "120"
    )
    assert opened["status"] == "done"
    world.wait_state(order_id, "S7_disputed", timeout=300)
    (evidence,) = world.service("arbiter").evidence(order_id)
    assert evidence.sender == "buyer" and evidence.opened == "Never came."
    decided = world.cli(
        "arbiter", "order", "decide", order_id, "--to-buyer", format_xmr(TOTAL),
        "--reason", "No shipment shown.", "--wait", "120",
    )  # fmt: skip
    assert decided["status"] == "done"
    world.wait_state(order_id, "S8_resolved", timeout=300)
    world.wait("the refund is submitted", _paid_out(world, "arbiter", order_id), timeout=900)
    world.wait(
        "the buyer's wallet got the refund",
        lambda: world.balance("buyer") - buyer_before >= TOTAL - 10**10,
        timeout=300,
    )


# -- the second way: a node in an empty network namespace ------------------------------------


class JailedNode(TradeNode):
    """A trade node whose `umbra node` runs jailed; its CLI calls run outside (they only
    read and write its profile's database, and a second jail would replace the relay)."""

    jail: list[str] = []  # noqa: RUF012 - set per instance before launch

    def launch(self, *args: object, **kwargs: object) -> None:
        self.wrap = self.jail
        try:
            super().launch(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            self.wrap = []


def _listen_port(pid: int, ip: str) -> int:
    """The TCP port process ``pid`` listens on at ``ip`` (from ``ss``)."""
    out = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            host, _, port = local.rpartition(":")
            if host == ip:
                return int(port)
    raise AssertionError(f"process {pid} listens on no port of {ip}:\n{out}")


def test_a_node_in_an_empty_network_namespace_trades_through_tor_only(tt: TorTrade) -> None:
    refused = _namespaces_refused()
    if refused is not None:
        pytest.skip(refused)
    world = tt.world
    sockets = Path(tempfile.mkdtemp(prefix="j-", dir=tt.root))
    os.chmod(sockets, 0o700)
    control, socks, listen = sockets / "control", sockets / "socks", sockets / "listen"
    # An existing tor for the jailed node, reachable only through unix sockets.
    tt.tor.client("jail-tor", [f"ControlPort unix:{control}", f"SocksPort unix:{socks}"])
    port = free_port()
    with store.create_profile(tt.root, "jailed", PASSPHRASE, params=CHEAP):
        pass
    node = JailedNode("jailed", "127.0.0.1", tt.root)
    node.port = port
    node.network = ["--tor-control", f"unix:{control}", "--tor-socks", f"unix:{socks}"]
    node.audit_log = tt.audit_dir / "jailed.jsonl"
    # Its onion service forwards to 127.0.0.1:PORT here, which a relay carries into the
    # namespace's own 127.0.0.1:PORT, where the node listens: the one bridged TCP port.
    node.jail = jail_argv([(f"unix:{listen}", f"tcp:127.0.0.1:{port}")], [])
    world.nodes["jailed"] = node  # stopped by world.close
    with relays([(f"tcp:127.0.0.1:{port}", f"unix:{listen}")]):
        node.start([world.nodes["seller"].addrs[0]], timeout=world.start_timeout)
        assert node.addrs and all(a.startswith(ONION_PREFIX) for a in node.addrs), node.addrs
        pid = child_of(node.proc.pid) if node.proc else 0
        assert namespace_of(pid) != namespace_of(os.getpid())

        # It syncs the seller's listing over onion services ...
        # (Its current revision: each sale above made a new one.)
        listing_id = world.listing_id(world.listing)
        world.wait(
            "the jailed node synced the seller's listing",
            lambda: world.indexed("jailed", listing_id) is not None,
            timeout=SYNC_DEADLINE_S,
        )
        # ... and trades: a direct order reaches the seller, the acceptance comes back.
        listing = world.current("jailed", world.listing)
        placed = node.run(*world.buy_args(listing, True))
        assert placed["status"] == "done", placed
        order_id = str(placed["order"])
        world.wait_state(order_id, "S1_requested", ("jailed", "seller"), timeout=300)
        accepted = world.cli("seller", "order", "accept", order_id, "--wait", "120")
        assert accepted["status"] == "done"
        world.wait_state(order_id, "S2_accepted", ("jailed", "seller"), timeout=300)

        # Nothing could have gone around tor: from inside its namespace the seller's real
        # listener is not there and other addresses are unreachable; from ours it is there.
        seller = world.nodes["seller"]
        assert seller.proc is not None
        seller_port = _listen_port(seller.proc.pid, seller.ip)
        assert probe_from(pid, seller.ip, seller_port) == "ECONNREFUSED"
        assert probe_from(pid, "192.0.2.1", 443) == "ENETUNREACH"
        assert probe_from(os.getpid(), seller.ip, seller_port) == "ok"
        # And the node process itself connected only to its tor's two unix sockets, and to
        # the namespace's own loopback, where only its own children listen (the spare escrow
        # wallet-rpc it starts): the probes above show no other node can be reached there.
        audit = read_child_audit(node.audit_log)
        own: list[Endpoint] = [
            (c.host, c.port)
            for c in audit.connects
            if c.family == "inet" and c.host == "127.0.0.1" and c.port != seller_port
        ]
        audit.assert_only([str(control), str(socks), *own])
        node.stop()


# -- Monero over Tor ---------------------------------------------------------------------------

Connect = Callable[[], RpcClient]  # a fresh client per trio.run (one cannot be reused)


def _ask(connect: Connect, method: str, params: Mapping[str, object] | None = None) -> object:
    async def call() -> object:
        async with connect() as rpc:
            try:
                return await rpc.call(method, params, timeout=120)
            except (WalletUnavailable, WalletRpcError):
                return None

    return trio.run(call)


def _wait_height(connect: Connect, wanted: int, log: Path) -> None:
    deadline = time.monotonic() + SYNC_DEADLINE_S
    answer: object = None
    while time.monotonic() < deadline:
        answer = _ask(connect, "get_height")
        if isinstance(answer, dict) and int(answer["height"]) >= wanted:
            return
        time.sleep(1)
    raise AssertionError(f"the wallet answered {answer}, wanted height {wanted}; see {log}")


def test_wallet_rpc_syncs_an_onion_daemon_only_through_tor(tt: TorTrade) -> None:
    refused = _namespaces_refused()
    if refused is not None:
        pytest.skip(refused)
    sandbox = tt.world.sandbox
    daemon_port = int(sandbox.status()["monerod"]["rpc_port"])
    # The daemon's side: monerod's RPC port published as an onion service.
    onion = tt.tor.publish(tt.tor.client("daemon-tor"), DAEMON_VIRTUAL_PORT, daemon_port)
    # The wallet's side: a tor whose SOCKS port is also a unix socket (which crosses into the
    # wallet's namespace, where no TCP port of the host is).
    sockets = Path(tempfile.mkdtemp(prefix="w-", dir=tt.root))
    os.chmod(sockets, 0o700)
    socks, rpc_socket = sockets / "socks", sockets / "rpc"
    tt.tor.client("wallet-tor", [f"SocksPort unix:{socks}"])

    # The command line Umbra builds for a Tor-mode wallet-rpc and a daemon off this machine.
    rpc_port = free_port()
    password = secrets.token_urlsafe(16)
    login_file = sockets / "login.conf"
    write_login_file(login_file, "umbra", password)
    log = tt.root / "jailed-wallet.log"
    argv = wallet_rpc_argv(
        daemon_args(
            parse_daemon_address(f"{onion}:{DAEMON_VIRTUAL_PORT}"),
            tor_mode=True,
            tor_socks=SocksProxy("127.0.0.1", JAILED_SOCKS_PORT),
        ),
        port=rpc_port,
        login_file=login_file,
        wallet_dir=tt.root / "jailed-wallet",
        ringdb_dir=tt.root / "jailed-ringdb",
        log_file=log,
    )
    assert argv[argv.index("--proxy") + 1] == f"127.0.0.1:{JAILED_SOCKS_PORT}"
    assert argv[argv.index("--daemon-address") + 1] == f"{onion}:{DAEMON_VIRTUAL_PORT}"
    (tt.root / "jailed-wallet").mkdir()
    inside = [
        (f"tcp:127.0.0.1:{JAILED_SOCKS_PORT}", f"unix:{socks}"),
        (f"unix:{rpc_socket}", f"tcp:127.0.0.1:{rpc_port}"),  # its RPC port, for the test
    ]
    with open(tt.root / "jail.out", "ab") as out:
        jail = subprocess.Popen(jail_argv(inside, argv), stdout=out, stderr=subprocess.STDOUT)
    try:
        wallet_pid = child_of(jail.pid)
        with relays([(f"tcp:127.0.0.1:{rpc_port}", f"unix:{rpc_socket}")]):

            def connect() -> RpcClient:
                url = f"http://127.0.0.1:{rpc_port}"
                return RpcClient(url, what="the jailed wallet-rpc", login=Login("umbra", password))

            deadline = time.monotonic() + 60
            while _ask(connect, "get_version") is None:
                assert time.monotonic() < deadline, f"the jailed wallet-rpc is silent; see {log}"
                time.sleep(0.2)
            params = {"filename": "viewer", "password": "", "language": "English"}
            assert _ask(connect, "create_wallet", params) is not None
            height = trio.run(sandbox.height)
            _wait_height(connect, height, log)
            trio.run(sandbox.mine, 3)
            _wait_height(connect, height + 3, log)  # it follows the daemon

            # None of it went around tor: in its namespace the daemon's real port is not
            # there and no other address can be reached; from ours the same probe succeeds.
            assert namespace_of(wallet_pid) != namespace_of(os.getpid())
            assert probe_from(wallet_pid, "127.0.0.1", daemon_port) == "ECONNREFUSED"
            assert probe_from(wallet_pid, "192.0.2.1", DAEMON_VIRTUAL_PORT) == "ENETUNREACH"
            assert probe_from(os.getpid(), "127.0.0.1", daemon_port) == "ok"
    finally:
        jail.terminate()
        try:
            jail.wait(timeout=30)
        except subprocess.TimeoutExpired:
            jail.kill()
            jail.wait(timeout=10)


# -- the first way: every connect and name lookup of the trading nodes -------------------------


def _tcp(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def test_trading_nodes_used_only_their_tor_and_local_wallets(tt: TorTrade) -> None:
    """Runs last: covers everything the nodes did in this module (start, sync, two escrows,
    the jailed node's order)."""
    world = tt.world
    state = world.sandbox.status()
    daemon = ("127.0.0.1", int(state["monerod"]["rpc_port"]))
    # The nodes' own libp2p listeners (loopback, for their tors): no node may dial another's.
    listeners: set[Endpoint] = set()
    through_tor: list[bool] = []
    for role in ROLES:
        node = world.nodes[role]
        assert node.proc is not None
        listeners.add((node.ip, _listen_port(node.proc.pid, node.ip)))
    for role in ROLES:
        status = read_node_status(world.profile(role), now=time.time())
        assert status.running and status.tor_control and status.tor_socks, status
        allowed: list[Endpoint] = [_tcp(status.tor_control), _tcp(status.tor_socks), daemon]
        allowed += [("127.0.0.1", world.sandbox.wallet(n).port) for n in (role, f"{role}.escrow")]
        audit = read_child_audit(tt.audit_dir / f"{role}.jsonl")
        assert audit.connects, f"the {role}'s audit recorded nothing: is the hook installed?"
        # Wallet-rpc processes of its own that came and went during the module (a restarted
        # escrow wallet, a spare one) listened on other loopback ports: allowed, unless the
        # port is a node's listener (that would be a direct connection between nodes).
        local = [
            (c.host, c.port)
            for c in audit.connects
            if c.family == "inet"
            and str(c.host).startswith("127.")
            and (c.host, c.port) not in listeners
        ]
        audit.assert_only([*allowed, *local])
        assert not [c for c in audit.connects if (c.host, c.port) in listeners], role
        # Whether it talked to its tor's SOCKS port: a node restarted in this module has a new
        # tor with a new SOCKS port, so only the nodes together must show it (the trades above
        # went through tor).
        through_tor.append(any((c.host, c.port) == _tcp(status.tor_socks) for c in audit.connects))
    assert any(through_tor), "no node's audit shows a dial through its tor's SOCKS port"
