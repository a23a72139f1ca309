"""The DHT, spoken raw (Kademlia protobuf messages over the kad stream) by a hostile peer.

- PUT_VALUE of records that are not Umbra's: unknown namespace, no namespace, a 900 KiB
  value, junk under Umbra's namespaces and under the honest seller's own key. None may be
  stored or served afterwards.
- PUT_VALUE of every crafted CBOR input as the value under each Umbra namespace (each
  namespace's validator decodes it).
- GET_VALUE and FIND_NODE with junk keys; GET_PROVIDERS; ADD_PROVIDER floods with absurd
  addresses; a flood of PUTs of distinct keys (the library evicts the oldest record past
  50,000 entries). The honest seller's head and provider record must survive all of it.
"""

import os
from collections.abc import Callable
from functools import partial

import pytest
import trio
from libp2p.abc import IHost
from libp2p.kad_dht.pb.kademlia_pb2 import Message
from libp2p.peer.id import ID

from umbra.net import head_key, provider_key

from ._crafted import Scale, all_inputs
from ._peer import Attacker, ask_value, kad_exchange, kad_message, running_host
from ._victim import Victim
from .conftest import guarded

pytestmark = pytest.mark.hostile

RECORD_BUDGET = 1024 * 1024 - 1024  # py-libp2p's record cap, less the key and framing
NAMESPACES = ("umbra-catalog", "umbra-prekeys", "umbra-arbiter")


def _hex_key(namespace: str) -> str:
    return f"/{namespace}/{os.urandom(32).hex()}"


def _foreign_records(victim: Victim) -> list[tuple[str, bytes]]:
    """Records an Umbra node has no business storing for anyone."""
    return [
        ("/ipfs/" + os.urandom(16).hex(), b"not ours"),
        ("/unknown-namespace/" + os.urandom(16).hex(), b"junk"),
        ("no-namespace-" + os.urandom(8).hex(), b"junk"),
        ("/big/" + os.urandom(8).hex(), os.urandom(900 * 1024)),
        (_hex_key("umbra-catalog"), b"not a catalog head"),
        (_hex_key("umbra-prekeys"), b"not a prekey record"),
        (head_key(victim.seller_persona), b"junk under the honest seller's own key"),
    ]


def _junk_keys() -> list[bytes]:
    return [b"", b"\x00", b"\xff" * 129, b"/" * 128, os.urandom(64), b"\x12\x20" + b"\x00" * 32,
            b"\x12\xff" + b"\x00" * 8]  # fmt: skip


async def _flood(
    attacker: Attacker, count: int, make: Callable[[IHost, int], Message], *, streams: int = 8
) -> None:
    """Send ``count`` messages over ``streams`` concurrent kad streams, each from its own
    identity (the kad server takes at most 12 streams at once)."""
    batch = -(-count // streams)
    # Hosts are started here, not in the tasks: a host's nursery must close where it opened.
    hosts = [await attacker.extra_peer() for _ in range(streams)]
    async with trio.open_nursery() as nursery:
        for host, start in zip(hosts, range(0, count, batch), strict=False):
            messages = [make(host, i) for i in range(start, min(count, start + batch))]
            nursery.start_soon(partial(kad_exchange, host, attacker.victim.peer_id, messages,
                                       timeout=300))  # fmt: skip


def _add_provider(host: IHost, i: int) -> Message:
    """An ADD_PROVIDER for a random key from ``host``, with absurd addresses."""
    msg = kad_message(Message.ADD_PROVIDER, os.urandom(34))
    provider = msg.providerPeers.add()
    provider.id = host.get_id().to_bytes()
    provider.addrs.extend([b"\x04\x7f\x00\x00\x01\x06" + os.urandom(2)] * 8)
    return msg


def _put(host: IHost, i: int) -> Message:
    return kad_message(Message.PUT_VALUE, f"/flood/{i}".encode(), value=b"x" * 64)


def test_dht_foreign_records_and_floods(victim: Victim, scale: Scale) -> None:
    foreign = _foreign_records(victim)
    collectibles = bytes.fromhex(provider_key("category", "collectibles"))
    stored_foreign: list[str] = []
    attackers: set[str] = set()
    closer: set[str] = set()

    async def attack() -> None:
        async with Attacker(victim.addr, strikes_per_identity=50) as attacker:
            peer = attacker.victim.peer_id
            for key, value in foreign:
                dog.label = f"dht put foreign {key[:40]!r} ({len(value)} B)"
                put = kad_message(Message.PUT_VALUE, key.encode(), value=value)
                await kad_exchange(await attacker.peer(), peer, [put])
            dog.label = f"dht ADD_PROVIDER flood ({scale.providers})"
            await _flood(attacker, scale.providers, _add_provider)
            dog.label = f"dht PUT_VALUE flood ({scale.dht_puts} keys)"
            await _flood(attacker, scale.dht_puts, _put)
            attackers.update(attacker.peer_ids)

        dog.label = "dht checks"
        for key, _value in foreign:
            if key != head_key(victim.seller_persona) and await ask_value(victim.addr, key):
                stored_foreign.append(key)
        async with running_host() as host:
            target = Attacker(victim.addr).victim
            await host.connect(target)
            providers, nodes = await kad_exchange(host, target.peer_id, [
                kad_message(Message.GET_PROVIDERS, collectibles),
                kad_message(Message.FIND_NODE, os.urandom(32)),
            ])  # fmt: skip
        assert providers is not None, "GET_PROVIDERS from an honest peer got no answer"
        found = {str(ID(p.id)) for p in providers.providerPeers}
        assert victim.seller_peer_id in found, "the seller's provider record was lost"
        assert nodes is not None, "FIND_NODE from an honest peer got no answer"
        closer.update(str(ID(p.id)) for p in nodes.closerPeers)

    with guarded(victim) as dog:
        trio.run(attack)
    failures = []  # all of them at once: each is a different hole
    if stored_foreign:
        failures.append(f"the victim stores and serves foreign records: {stored_foreign}")
    head = trio.run(ask_value, victim.addr, head_key(victim.seller_persona))
    if head != victim.seller_head:
        failures.append("the honest seller's head was replaced or evicted")
    # The attackers only ever asked (none serves the DHT): none may be handed out as a peer.
    if handed_out := closer & attackers:
        failures.append(f"{len(handed_out)} attacking DHT clients are handed out as peers")
    assert not failures, "\n".join(failures)


def test_dht_crafted_values_and_keys(victim: Victim, scale: Scale) -> None:
    bombs = [
        (ns, name, data) for ns in NAMESPACES for name, data in all_inputs(RECORD_BUDGET, scale)
    ]

    async def attack() -> None:
        async with Attacker(victim.addr, strikes_per_identity=50) as attacker:
            peer = attacker.victim.peer_id
            for ns, name, value in bombs:
                dog.label = f"dht put {ns} {name}"
                put = kad_message(Message.PUT_VALUE, _hex_key(ns).encode(), value=value)
                await kad_exchange(await attacker.peer(), peer, [put])
            for kind in (Message.GET_VALUE, Message.FIND_NODE, Message.GET_PROVIDERS):
                for key in _junk_keys():
                    dog.label = f"dht {Message.MessageType.Name(kind)} junk key {key[:8]!r}"
                    await kad_exchange(await attacker.peer(), peer, [kad_message(kind, key)])

    with guarded(victim) as dog:
        trio.run(attack)
    head = trio.run(ask_value, victim.addr, head_key(victim.seller_persona))
    assert head == victim.seller_head, "the honest seller's head was replaced or lost"
