"""A monero-wallet-rpc started the way Umbra starts it reaches a remote daemon only through Tor.

The regtest sandbox's monerod is published as an onion service (ADD_ONION to its RPC port)
on the private Tor network. A wallet-rpc gets the command line Umbra builds in Tor mode
(`wallet_rpc_argv` + `daemon_args`: ``--daemon-address <onion>:18081 --proxy 127.0.0.1:P``)
and runs in an empty network namespace (`tests.support.netns_jail`), where 127.0.0.1:P is a
relay to tor's SOCKS port, a unix socket, and 127.0.0.1:W (its RPC port) is bridged out to
the same port on the host so that the test can ask it things. It syncs the chain (its
height follows the daemon as blocks are mined), while from inside its namespace the daemon's
real port is refused and any other address unreachable: every byte it exchanged with the
daemon went through tor.

Cost: one private Tor network (4 tors) + 2 client tors, the sandbox chain (monerod, the
faucet's wallet-rpc, 80 blocks) and one more wallet-rpc: ~60-90 s on 2 busy cores.
"""

import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from umbra.wallet import (
    Login,
    RpcClient,
    Sandbox,
    SocksProxy,
    WalletRpcError,
    WalletUnavailable,
    daemon_args,
    parse_daemon_address,
    wallet_rpc_argv,
)
from umbra.wallet._processes import free_port
from umbra.wallet._sandbox_wallet import write_login_file

from ...support.netns_jail import jail_argv, namespace_of, probe_from, relays
from ._tor_world import BackgroundTor

pytestmark = [pytest.mark.tor, pytest.mark.monero]

DAEMON_VIRTUAL_PORT = 18081
JAILED_SOCKS_PORT = 9050  # inside the wallet's namespace: the relay to tor's unix SOCKS port
SYNC_DEADLINE_S = 240.0  # detects a hang; Tor round trips make the first sync slow


def _skip_unless_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (unshare --net)")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"the kernel refused unshare --net: {probe.stderr.decode().strip()}")


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tor = BackgroundTor(root / "tor")
        self.sandbox = Sandbox(root / "data")

    def start(self) -> None:
        self.tor.start()
        trio.run(self.sandbox.up, ())

    def close(self) -> None:
        try:
            trio.run(self.sandbox.down)
        finally:
            self.tor.close()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    _skip_unless_namespaces()
    # Short paths: a unix socket path must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="umbra-xmr-tor-"))
    w = World(root)
    try:
        w.start()
        yield w
    finally:
        w.close()


def _daemon_height(sandbox: Sandbox) -> int:
    return trio.run(sandbox.height)


Connect = Callable[[], RpcClient]  # a fresh client per trio.run (one cannot be reused)


def _wallet_height(connect: Connect) -> int | None:
    async def ask() -> int | None:
        async with connect() as rpc:
            try:
                return int((await rpc.call("get_height", timeout=10))["height"])
            except (WalletUnavailable, WalletRpcError):
                return None

    return trio.run(ask)


def _wait_height(connect: Connect, wanted: int, log: Path) -> int:
    deadline = time.monotonic() + SYNC_DEADLINE_S
    height = None
    while time.monotonic() < deadline:
        height = _wallet_height(connect)
        if height is not None and height >= wanted:
            return height
        time.sleep(1)
    raise AssertionError(f"the wallet stayed at height {height}, wanted {wanted}; see {log}")


def _child_of(pid: int) -> int:
    """The one child process of ``pid`` (the jail runs the wallet-rpc as its child)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError(f"process {pid} started no child")


def test_wallet_rpc_syncs_an_onion_daemon_only_through_tor(world: World) -> None:
    daemon_port = int(world.sandbox.status()["monerod"]["rpc_port"])
    # The daemon's side: an onion service forwarding to monerod's RPC port.
    host_tor = world.tor.client("daemon-tor")
    onion = world.tor.publish(host_tor, DAEMON_VIRTUAL_PORT, daemon_port)
    # The wallet's side: a tor whose SOCKS port is also a unix socket (reachable from the
    # wallet's namespace, where no TCP port of the host is).
    sockets = Path(tempfile.mkdtemp(prefix="ux-", dir=world.root))
    os.chmod(sockets, 0o700)
    socks_path = sockets / "socks"
    world.tor.client("wallet-tor", [f"SocksPort unix:{socks_path}"])

    # The command line Umbra builds for a Tor-mode wallet-rpc and a remote daemon.
    rpc_port = free_port()
    wallet_dir = world.root / "jailed-wallet"
    wallet_dir.mkdir()
    login_file = sockets / "login.conf"
    password = secrets.token_urlsafe(16)
    write_login_file(login_file, "umbra", password)
    route = daemon_args(
        parse_daemon_address(f"{onion}:{DAEMON_VIRTUAL_PORT}"),
        tor_mode=True,
        tor_socks=SocksProxy("127.0.0.1", JAILED_SOCKS_PORT),
    )
    log = world.root / "jailed-wallet.log"
    argv = wallet_rpc_argv(
        route,
        port=rpc_port,
        login_file=login_file,
        wallet_dir=wallet_dir,
        ringdb_dir=world.root / "ringdb",
        log_file=log,
    )
    assert argv[argv.index("--proxy") + 1] == f"127.0.0.1:{JAILED_SOCKS_PORT}"
    assert argv[argv.index("--daemon-address") + 1] == f"{onion}:{DAEMON_VIRTUAL_PORT}"
    rpc_socket = sockets / "rpc"
    inside = [
        (f"tcp:127.0.0.1:{JAILED_SOCKS_PORT}", f"unix:{socks_path}"),
        (f"unix:{rpc_socket}", f"tcp:127.0.0.1:{rpc_port}"),
    ]
    with open(world.root / "jail.out", "ab") as out:
        jail = subprocess.Popen(jail_argv(inside, argv), stdout=out, stderr=subprocess.STDOUT)
    try:
        wallet_pid = _child_of(jail.pid)
        # The test reaches the wallet's RPC port through the same bridge, from outside.
        with relays([(f"tcp:127.0.0.1:{rpc_port}", f"unix:{rpc_socket}")]):

            def connect() -> RpcClient:
                login = Login("umbra", password)
                url = f"http://127.0.0.1:{rpc_port}"
                return RpcClient(url, what="the jailed wallet-rpc", login=login)

            _wait_answer(connect, log)

            async def create() -> None:
                async with connect() as rpc:
                    await rpc.call(
                        "create_wallet",
                        {"filename": "viewer", "password": "", "language": "English"},
                        timeout=120,
                    )

            trio.run(create)
            target = _daemon_height(world.sandbox)
            first = _wait_height(connect, target, log)
            assert first >= target
            trio.run(world.sandbox.mine, 3)
            _wait_height(connect, target + 3, log)

            # Nothing of this went around tor: the wallet is in a namespace of its own, where
            # the daemon's real port is not there and no other address can be reached.
            assert namespace_of(wallet_pid) != namespace_of(os.getpid())
            assert probe_from(wallet_pid, "127.0.0.1", daemon_port) == "ECONNREFUSED"
            assert probe_from(wallet_pid, "192.0.2.1", DAEMON_VIRTUAL_PORT) == "ENETUNREACH"
            # ... and the same probe from our namespace does reach the daemon (the probe works).
            assert probe_from(os.getpid(), "127.0.0.1", daemon_port) == "ok"
    finally:
        jail.terminate()
        try:
            jail.wait(timeout=30)
        except subprocess.TimeoutExpired:
            jail.kill()
            jail.wait(timeout=10)


def _wait_answer(connect: Connect, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:

        async def ask() -> bool:
            async with connect() as rpc:
                try:
                    await rpc.call("get_version", timeout=2)
                    return True
                except (WalletUnavailable, WalletRpcError):
                    return False

        if trio.run(ask):
            return
        time.sleep(0.2)
    raise AssertionError(f"the jailed wallet-rpc did not answer; see {log}")
