"""The node's Tor-mode address rules against real libp2p peers (in this process, 127.0.0.17x).

A Tor-mode node whose transport would announce an IP address refuses to run. To drive the
address rules (peer store, dialling) against a clearnet peer in this process, a node runs in
Tor mode on `_OnionAnnouncingTcp`: TCP that announces a made-up onion address, standing in
for the onion transport (which cannot dial an IP address at all: the Tor tier,
tests/integration/tor/). It could dial IP addresses; the test checks that the node never asks
it to.
"""

from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from tests.support.leak_audit import leak_audit
from umbra.net import (
    CLEARNET,
    NetError,
    Node,
    NodeConfig,
    TcpNoiseTransport,
    open_node,
)
from umbra.net._transport import connection_config, noise_only_security, yamux_only
from umbra.store import create_profile

from .conftest import CHEAP

pytestmark = pytest.mark.network

ONION_A = f"/onion3/{'a' * 55}d:9000"
ONION_B = f"/onion3/{'b' * 55}d:9000"


class _OnionAnnouncingTcp(TcpNoiseTransport):
    name = "tcp-announcing-onion"

    def build_host(
        self, key_pair: KeyPair, listen: Sequence[multiaddr.Multiaddr], **_: object
    ) -> IHost:
        return new_host(
            key_pair=key_pair,
            sec_opt=noise_only_security(key_pair),
            muxer_opt=yamux_only(),
            listen_addrs=list(listen),
            announce_addrs=[multiaddr.Multiaddr(ONION_A)],
            disable_identify_address_discovery=True,
            connection_config=connection_config(None),
            enable_mDNS=False,
            enable_upnp=False,
        )


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _ip_addrs(node: Node, peer: ID) -> list[str]:
    try:
        known = node.host.get_peerstore().addrs(peer)
    except Exception:  # not known yet
        return []
    return [str(a) for a in known if str(a).startswith("/ip4/")]


def _listen_addr(node: Node) -> str:
    listeners = node.host.get_network().listeners  # type: ignore[attr-defined]
    return str(next(iter(listeners.values())).get_addrs()[0])


def test_tor_mode_dials_and_keeps_onion_addresses_only(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncExitStack() as stack:
            a, b = (
                stack.enter_context(create_profile(tmp_path, name, "pw", params=CHEAP))
                for name in ("tor", "clear")
            )
            tor = NodeConfig(listen=("/ip4/127.0.0.170/tcp/0",))
            # A transport that would announce the real address: refused before serving.
            try:
                async with open_node(a, tor, transport=TcpNoiseTransport()):
                    pytest.fail("a Tor-mode node announced an IP address")
            except BaseException as exc:  # trio wraps it in an exception group
                refused = _leaf(exc)
            assert isinstance(refused, NetError)
            assert "would announce '/ip4/127.0.0.170/tcp/" in str(refused)

            node_a = await stack.enter_async_context(
                open_node(a, tor, transport=_OnionAnnouncingTcp())
            )
            assert [addr.split("/p2p/")[0] for addr in node_a.addrs] == [ONION_A]
            assert node_a.statistics().network == "tor"
            config_b = NodeConfig(
                network=CLEARNET,
                listen=("/ip4/127.0.0.171/tcp/0",),
                bootstrap=(f"{_listen_addr(node_a)}/p2p/{node_a.peer_id}",),
            )
            node_b = await stack.enter_async_context(open_node(b, config_b))
            assert node_b.statistics().network == "clearnet"
            peer_b = ID.from_base58(node_b.peer_id)
            with trio.fail_after(30):  # identify tells A the clearnet peer's IP address
                while not _ip_addrs(node_a, peer_b):
                    await trio.sleep(0.05)

            # The peer store keeps B's onion address, never its IP address.
            node_a.host.get_peerstore().add_addrs(peer_b, [multiaddr.Multiaddr(ONION_B)], 3600)
            await node_a._save_peers()
            assert await trio.to_thread.run_sync(node_a.state.known_peers, 20) == [
                (node_b.peer_id, [ONION_B])
            ]
            # An IP address is not dialled, even when asked for by hand.
            b_addr = _listen_addr(node_b)
            b_port = int(b_addr.rsplit("/", 1)[1])
            with leak_audit() as audit:
                assert not await node_a.connect(f"{b_addr}/p2p/{node_b.peer_id}")
            assert not [c for c in audit.connects if c.port == b_port]

    trio.run(main)
