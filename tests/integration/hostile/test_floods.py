"""Floods: more connections, peers and streams than any honest neighbour would open.

- Raw TCP: many sockets at once on the victim's libp2p port, from many loopback addresses;
  some send junk, some a multistream header and then nothing, some nothing at all. They are
  held open together for a while, then dropped.
- libp2p peers: many hosts (each a new peer id) connected at once, each asking for heads.
- Streams: one connection opens many streams at once on each Umbra protocol and on the DHT,
  writes half a frame on each and stalls (each stream holds a handler until its deadline).

Afterwards an honest peer must still get in and be served: no flood may leave the victim's
connection slots taken.
"""

import contextlib

import multiaddr
import pytest
import trio
from libp2p.abc import IHost
from libp2p.custom_types import TProtocol

from umbra.net import SYNC_PROTOCOL_ID, head_key
from umbra.net.messaging import MSG_PROTOCOL_ID

from ._crafted import UINT, Scale, canonical_map, head, text
from ._peer import KAD_PROTOCOL_ID, Attacker, attacker_ip, frame, running_host
from ._victim import Victim
from .conftest import guarded, honest_get

pytestmark = pytest.mark.hostile

HOLD_S = 5.0  # how long each flood is held at its peak while the watchdog probes
MULTISTREAM = b"\x13/multistream/1.0.0\n"
# An honest request for heads, and the first 8 bytes of a 100-byte frame (then a stall).
HEADS_REQUEST = frame(canonical_map({"t": text("get-heads"), "v": head(UINT, 1),
                                     "limit": head(UINT, 16)}))  # fmt: skip
HALF_FRAME = frame(b"\xa3" * 8, declared=100)


def _tcp_port(addr: str) -> int:
    return int(multiaddr.Multiaddr(addr).value_for_protocol("tcp"))


async def _raw_connection(ip: str, port: int, opening: bytes, done: trio.Event) -> None:
    with contextlib.suppress(OSError):
        stream = await trio.open_tcp_stream(ip, port, local_address=attacker_ip())
        async with stream:
            if opening:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(opening)
            await done.wait()


async def _tcp_flood(victim: Victim, count: int) -> None:
    port = _tcp_port(victim.addr)
    openings = [b"", b"\x00" * 64, MULTISTREAM, b"GET / HTTP/1.1\r\n\r\n"]
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(_raw_connection, victim.node.ip, port, openings[i % 4], done)
        await trio.sleep(HOLD_S)
        done.set()


async def _peer_flood(attacker: Attacker, count: int) -> None:
    """``count`` peers at once, each with an honest heads request, then all gone."""
    async with contextlib.AsyncExitStack() as stack:
        hosts: list[IHost] = []
        for _ in range(count):
            host = await stack.enter_async_context(running_host())
            hosts.append(host)
        async with trio.open_nursery() as nursery:
            for host in hosts:
                nursery.start_soon(_connect_and_ask, host, attacker)
        await trio.sleep(HOLD_S)


async def _connect_and_ask(host: IHost, attacker: Attacker) -> None:
    with contextlib.suppress(Exception), trio.move_on_after(30):  # refused is a fine answer
        await host.connect(attacker.victim)
        stream = await host.new_stream(attacker.victim.peer_id, [TProtocol(SYNC_PROTOCOL_ID)])
        await stream.write(HEADS_REQUEST)
        await stream.read(64 * 1024)


async def _stream_flood(attacker: Attacker, count: int) -> None:
    """``count`` streams at once per protocol on one connection, each stalled mid-frame."""
    host = await attacker.fresh_peer()
    done = trio.Event()

    async def stall(protocol: str, opening: bytes) -> None:
        with contextlib.suppress(Exception):
            stream = await host.new_stream(attacker.victim.peer_id, [TProtocol(protocol)])
            await stream.write(opening)
            await done.wait()
            await stream.reset()

    async with trio.open_nursery() as nursery:
        for protocol, opening in (
            (SYNC_PROTOCOL_ID, HALF_FRAME),
            (MSG_PROTOCOL_ID, HALF_FRAME),
            (KAD_PROTOCOL_ID, b"\x80\x80\x04"),  # a varint announcing 64 KiB, then nothing
        ):
            for _ in range(count):
                nursery.start_soon(stall, protocol, opening)
        await trio.sleep(HOLD_S)
        done.set()


def test_floods(victim: Victim, scale: Scale) -> None:
    async def attack() -> None:
        dog.label = f"{scale.tcp_connections} raw TCP connections"
        await _tcp_flood(victim, scale.tcp_connections)
        async with Attacker(victim.addr) as attacker:
            dog.label = f"{scale.hosts} libp2p peers at once"
            await _peer_flood(attacker, scale.hosts)
            dog.label = f"{scale.streams} stalled streams per protocol on one connection"
            await _stream_flood(attacker, scale.streams)
        dog.label = "after the floods"
        await trio.sleep(2)

    with guarded(victim) as dog:
        trio.run(attack)
    # The floods are over: an honest peer that comes now is let in and served.
    head = honest_get(victim.addr, head_key(victim.seller_persona))
    assert head == victim.seller_head, "after the floods an honest peer is not served"
