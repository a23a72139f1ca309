"""A peer that comes back on a new port: py-libp2p's dialer keeps dialling the old address,
and our workaround (`PeerReacher`, used by the sync and delivery clients) finds the new one
through the DHT; and a stopped node's listening port is closed (`close_listeners`). Three real
nodes in this process on 127.0.0.150-152."""

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio
from multiaddr import Multiaddr

from umbra.net import CLEARNET, NetError, NodeConfig, open_node
from umbra.net._config import NetLimits
from umbra.net._sync import SyncClient
from umbra.store import create_profile

from .conftest import CHEAP

pytestmark = pytest.mark.network


async def _wait(check: object, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.05)


def _transport_part(addr: str) -> Multiaddr:
    return Multiaddr(addr.split("/p2p/")[0])


def test_restarted_peer_is_reached_at_its_new_address(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncExitStack() as stack:
            profiles = [
                stack.enter_context(create_profile(tmp_path, f"r{i}", "pw", params=CHEAP))
                for i in range(3)
            ]

            def config(i: int, boot: tuple[str, ...]) -> NodeConfig:
                return NodeConfig(
                    network=CLEARNET,
                    listen=(f"/ip4/127.0.0.{150 + i}/tcp/0",),
                    bootstrap=boot,
                    status_interval=0.5,
                )

            hub = await stack.enter_async_context(open_node(profiles[0], config(0, ())))
            boot = (hub.addrs[0],)
            caller = await stack.enter_async_context(open_node(profiles[1], config(1, boot)))
            async with open_node(profiles[2], config(2, boot)) as first_life:
                moved = first_life.host.get_id()
                old = _transport_part(first_life.addrs[0])
                assert await caller.connect(first_life.addrs[0])
            network = caller.host.get_network()
            await _wait(lambda: not network.get_connections(moved))
            # A stopped node's port is closed (py-libp2p alone leaves it accepting).
            with pytest.raises(OSError, match="connect"):
                await trio.open_tcp_stream(
                    str(old.value_for_protocol("ip4")), int(old.value_for_protocol("tcp"))
                )

            second_life = await stack.enter_async_context(open_node(profiles[2], config(2, boot)))
            assert second_life.host.get_id() == moved
            new = _transport_part(second_life.addrs[0])
            assert new != old, "the OS gave the restarted node its old port again"
            await _wait(lambda: hub.host.get_network().get_connections(moved))
            await trio.sleep(1)  # the restarted node's own lookups settle

            store = caller.host.get_peerstore()

            async def forget_connection(addrs: list[Multiaddr]) -> None:
                await caller.host.disconnect(moved)
                store.clear_addrs(moved)
                store.add_addrs(moved, addrs, 3600)
                network.unblock_peer(moved)  # type: ignore[attr-defined]

            # The library: with the old address first, the new one is never dialled.
            await forget_connection([old, new])
            with pytest.raises(Exception):  # noqa: B017, PT011 - SwarmException, its wording varies
                await network.dial_peer(moved)
            # … and the peer is then refused outright for a minute (negative cache).
            store.clear_addrs(moved)
            store.add_addrs(moved, [new], 3600)
            with pytest.raises(Exception, match="negative cache"):
                await network.dial_peer(moved)

            # Ours: only the stale address is known; a sync request finds the new one.
            await forget_connection([old])
            plain = SyncClient(caller.host, limits=NetLimits())
            with pytest.raises(NetError):
                await plain.fetch_heads(moved, 10)
            network.unblock_peer(moved)  # type: ignore[attr-defined]
            reaching = SyncClient(caller.host, limits=NetLimits(), reach=caller.reach)
            assert await reaching.fetch_heads(moved, 10) == []  # it publishes nothing
            # The working address now comes first, so the library's own dials use it too.
            known = [_transport_part(str(a)) for a in store.addrs(moved)]
            assert known[0] == new
            assert old not in known
            assert await caller.reach(moved)

    trio.run(main)
