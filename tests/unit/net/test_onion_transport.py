"""The onion dialler and the listen-only TCP transport: what they dial, what they send to tor.

A dial of anything but ``/onion3`` is refused before a socket is opened (the leak auditor sees
no connection); an onion dial sends tor the ``.onion`` name (remote resolution) and the
profile's isolation username, here to a small SOCKS5 server on loopback that records them.
"""

from functools import partial

import pytest
import trio
from multiaddr import Multiaddr

from tests.support.leak_audit import leak_audit
from umbra.net._onion_transport import (
    ListenOnlyTCP,
    NotAnOnionAddress,
    OnionDialer,
    onion_target,
)
from umbra.net.tor import TcpEndpoint
from umbra.net.tor._socks5 import ISOLATION_PASSWORD

ONION_ID = "a" * 55 + "d"
PEER = "12D3KooWGRYZDHBembyGJQqQ6WgLqJWYNjnECGmPF8vtDLRyaEbm"


def test_onion_target_takes_onion3_addresses_only() -> None:
    assert onion_target(Multiaddr(f"/onion3/{ONION_ID}:4001")) == (f"{ONION_ID}.onion", 4001)
    assert onion_target(Multiaddr(f"/onion3/{ONION_ID}:9000/p2p/{PEER}")) == (
        f"{ONION_ID}.onion",
        9000,
    )
    for text in ("/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/1", "/dns4/example.com/tcp/443"):
        with pytest.raises(NotAnOnionAddress):
            onion_target(Multiaddr(text))


def test_only_onions_are_dialled_and_the_listener_never_dials() -> None:
    dialer = OnionDialer(TcpEndpoint("127.0.0.1", 9), isolation="x" * 32)
    listener = ListenOnlyTCP()
    onion, tcp = Multiaddr(f"/onion3/{ONION_ID}:4001"), Multiaddr("/ip4/127.0.0.1/tcp/4001")
    assert dialer.can_dial(onion) and not dialer.can_dial(tcp) and not dialer.can_listen(tcp)
    assert not listener.can_dial(tcp) and not listener.can_dial(onion)
    assert listener.can_listen(tcp) and not listener.can_listen(onion)
    assert dialer.protocols() == ["onion3"]


def test_a_non_onion_dial_is_refused_before_any_socket() -> None:
    dialer = OnionDialer(TcpEndpoint("127.0.0.1", 9), isolation="x" * 32)

    async def main() -> None:
        for text in ("/ip4/127.0.0.1/tcp/4001", "/dns4/example.com/tcp/443"):
            with pytest.raises(NotAnOnionAddress):
                await dialer.dial(Multiaddr(text))

    with leak_audit() as audit:
        trio.run(main)
    assert audit.events == []


async def _fake_socks(stream: trio.SocketStream, seen: dict[str, object]) -> None:
    """Just enough SOCKS5 (RFC 1928/1929) to record what the dialler asks, then echo."""
    buffer = b""

    async def take(count: int) -> bytes:
        nonlocal buffer
        while len(buffer) < count:
            buffer += await stream.receive_some()
        out, buffer = buffer[:count], buffer[count:]
        return out

    _, methods = await take(2)
    seen["methods"] = set(await take(methods))
    await stream.send_all(b"\x05\x02")  # username/password
    _, user_length = await take(2)
    seen["username"] = (await take(user_length)).decode()
    (password_length,) = await take(1)
    seen["password"] = (await take(password_length)).decode()
    await stream.send_all(b"\x01\x00")
    _, command, _, address_type = await take(4)
    seen["command"] = command
    (name_length,) = await take(1)
    seen["target"] = (address_type, (await take(name_length)).decode())
    seen["port"] = int.from_bytes(await take(2), "big")
    await stream.send_all(b"\x05\x00\x00\x01" + bytes(4) + bytes(2))
    async for data in stream:
        await stream.send_all(data)


def test_an_onion_dial_sends_the_name_and_the_isolation_username_to_tor() -> None:
    seen: dict[str, object] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, partial(_fake_socks, seen=seen), 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            dialer = OnionDialer(TcpEndpoint("127.0.0.1", port), isolation="profile-token")
            conn = await dialer.dial(Multiaddr(f"/onion3/{ONION_ID}:4001/p2p/{PEER}"))
            await conn.write(b"hello")
            assert await conn.read(5) == b"hello"  # the bytes after the reply are libp2p's
            await conn.close()
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen["target"] == (3, f"{ONION_ID}.onion")  # DOMAINNAME: tor resolves it
    assert seen["port"] == 4001 and seen["command"] == 1  # CONNECT
    assert seen["username"] == "profile-token" and seen["password"] == ISOLATION_PASSWORD
