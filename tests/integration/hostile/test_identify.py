"""Identify: a hostile peer describes itself absurdly, both ways the victim listens.

- As the answer to the victim's own identify request (the victim asks every peer that
  connects): tens of thousands of listen addresses, junk protocols, a huge agent string.
- Pushed unasked on ``/ipfs/id/push/1.0.0``: the same, plus a length prefix of 2^63 and a
  message over the library's 1 MiB cap.

Each description comes from a new peer id: what the victim keeps per peer (its peer store)
must not let one attacker with many ids grow it without bound.
"""

import os
from collections.abc import Callable

import pytest
import trio
import varint
from libp2p.abc import IHost, INetStream
from libp2p.identity.identify.identify import ID as IDENTIFY_ID
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.identity.identify_push.identify_push import ID_PUSH

from ._crafted import Scale
from ._peer import Attacker, send_raw
from ._victim import Victim
from .conftest import guarded

pytestmark = pytest.mark.hostile


def _tcp_addr(i: int) -> bytes:
    # /ip4/10.a.b.c/tcp/port in multiaddr binary form: a plausible, dialable-looking address.
    return b"\x04\x0a" + i.to_bytes(3, "big") + b"\x06" + (1024 + i % 60000).to_bytes(2, "big")


def _descriptions() -> list[tuple[str, Identify]]:
    many_addrs = Identify(listen_addrs=[_tcp_addr(i) for i in range(40_000)])
    junk_addrs = Identify(listen_addrs=[os.urandom(24) for _ in range(30_000)])
    protocols = Identify(protocols=[f"/junk/{i}/" + "x" * 64 for i in range(10_000)])
    agent = Identify(agent_version="A" * 900_000)
    keys = Identify(public_key=os.urandom(500_000), signedPeerRecord=os.urandom(400_000))
    observed = Identify(observed_addr=os.urandom(900_000))
    return [
        ("40k listen addrs", many_addrs),
        ("30k junk addrs", junk_addrs),
        ("10k protocols", protocols),
        ("900 kB agent", agent),
        ("junk key and peer record", keys),
        ("junk observed addr", observed),
    ]


def _answering(message: bytes) -> Callable[[IHost], None]:
    """Prepares a host to answer identify requests with ``message``."""

    async def handler(stream: INetStream) -> None:
        try:
            await stream.write(message)
            await stream.close()
        except Exception:  # the victim may reset: it owes this peer nothing
            pass

    return lambda host: host.set_stream_handler(IDENTIFY_ID, handler)


def test_identify(victim: Victim, scale: Scale) -> None:
    descriptions = [(n, m.SerializeToString()) for n, m in _descriptions()]
    pushes = [(f"push {n}", varint.encode(len(d)) + d) for n, d in descriptions]
    pushes += [
        ("push declared 2^63", varint.encode(2**63) + b"\x0a\x00"),
        ("push over 1 MiB", varint.encode(1_200_000) + b"\x00" * 1_200_000),
    ]

    async def attack() -> None:
        async with Attacker(victim.addr, strikes_per_identity=1) as attacker:
            for name, data in descriptions:
                # A new peer that answers the victim's identify request with ``data``.
                dog.label = f"identify answer {name}"
                await attacker.fresh_peer(_answering(varint.encode(len(data)) + data))
                await trio.sleep(1)  # the victim identifies new peers in the background
            for name, data in pushes:
                dog.label = f"identify {name}"
                host = await attacker.peer()
                await send_raw(host, attacker.victim.peer_id, ID_PUSH, data, read=False)
                await trio.sleep(0.5)

    with guarded(victim) as dog:
        trio.run(attack)
