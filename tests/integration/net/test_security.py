"""Noise only: a peer that offers only plaintext is refused, whichever side dials."""

from pathlib import Path

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

from umbra.net import yamux_only

from .conftest import nodes

pytestmark = pytest.mark.network


def _plaintext_host() -> object:
    key_pair = create_new_key_pair()
    return new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
        muxer_opt=yamux_only(),
    )


def test_plaintext_peer_is_refused_both_ways(tmp_path: Path) -> None:
    async def main() -> None:
        async with nodes(tmp_path, 1, first_ip=60) as [(node, _profile, _catalog)]:
            plain = _plaintext_host()
            listen = multiaddr.Multiaddr("/ip4/127.0.0.61/tcp/0")
            async with plain.run([listen]):  # type: ignore[attr-defined]
                # The plaintext peer dials us: the security negotiation must fail.
                with trio.fail_after(30), pytest.raises(Exception) as inbound:  # noqa: PT011
                    await plain.connect(info_from_p2p_addr(multiaddr.Multiaddr(node.addrs[0])))  # type: ignore[attr-defined]
                assert "Dial" in type(inbound.value).__name__ or "connect" in str(inbound.value)
                # We dial the plaintext peer: our node offers only Noise, so it fails too.
                addr = f"{plain.get_addrs()[0]}"  # type: ignore[attr-defined]
                with trio.fail_after(30):
                    assert await node.connect(addr) is False
                assert plain.get_id() not in node.host.get_connected_peers()  # type: ignore[attr-defined]
                assert node.host.get_id() not in plain.get_connected_peers()  # type: ignore[attr-defined]

    trio.run(main)


def test_default_libp2p_host_would_accept_plaintext(tmp_path: Path) -> None:
    """Why we pass the security options: py-libp2p's default host accepts a plaintext peer."""

    async def main() -> None:
        default = new_host(key_pair=create_new_key_pair())
        plain = _plaintext_host()
        a = multiaddr.Multiaddr("/ip4/127.0.0.62/tcp/0")
        b = multiaddr.Multiaddr("/ip4/127.0.0.63/tcp/0")
        async with default.run([a]), plain.run([b]):  # type: ignore[attr-defined]
            with trio.fail_after(30):
                await plain.connect(info_from_p2p_addr(default.get_addrs()[0]))  # type: ignore[attr-defined]
            assert default.get_id() in plain.get_connected_peers()  # type: ignore[attr-defined]

    trio.run(main)
