"""Gossip: a hostile peer publishes crafted catalog heads on the heads topic.

The victim checks each gossiped head in its topic validator (on its event loop), so every
crafted CBOR input is published as a head; then an RPC over the inbound size cap, and a
flood of the honest seller's own (stale) head. Publishers are signed libp2p
pubsub peers like any other; each is banned after a few bad heads, so the attacker comes
back under a new identity.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from umbra.net import HEADS_TOPIC

from ._crafted import Scale, all_inputs
from ._peer import Attacker, running_host
from ._victim import Victim
from .conftest import guarded

pytestmark = pytest.mark.hostile

RPC_CAP = 64 * 1024  # the victim's `max_inbound_rpc_size`
PER_IDENTITY = 4  # bad heads before the victim bans a publisher (it bans at 5 strikes)


@asynccontextmanager
async def publisher(attacker: Attacker) -> AsyncIterator[Pubsub]:
    """A new gossipsub peer, connected to the victim, that knows the victim follows heads."""
    async with running_host() as host:
        router = GossipSub(protocols=[PROTOCOL_ID_V11], degree=6, degree_low=4, degree_high=12,
                           heartbeat_interval=1)  # fmt: skip
        pubsub = Pubsub(host, router, max_inbound_rpc_size=4 * RPC_CAP)
        async with background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            with trio.fail_after(30):
                await host.connect(attacker.victim)
                await pubsub.wait_for_subscription(attacker.victim.peer_id, HEADS_TOPIC, 30)
            yield pubsub


def test_gossip_heads(victim: Victim, scale: Scale) -> None:
    # Leave room for the pubsub envelope (signature, key, ids) inside the RPC cap.
    inputs = [*all_inputs(RPC_CAP - 512, scale), ("over-rpc-cap", b"\x00" * (3 * RPC_CAP))]

    async def attack() -> None:
        async with Attacker(victim.addr) as attacker:
            for start in range(0, len(inputs), PER_IDENTITY):
                async with publisher(attacker) as pubsub:
                    for name, data in inputs[start : start + PER_IDENTITY]:
                        dog.label = f"gossip {name}"
                        await pubsub.publish(HEADS_TOPIC, data)
                    await trio.sleep(0.5)  # let the victim read them before this peer leaves
            async with publisher(attacker) as pubsub:
                # Valid, signed, but stale: each costs the victim a signature check, none a
                # strike (an honest peer may lag), so one peer can send them without end.
                dog.label = f"gossip flood of a replayed honest head ({scale.streams})"
                for _ in range(scale.streams):
                    await pubsub.publish(HEADS_TOPIC, victim.seller_head)
                await trio.sleep(1)

    with guarded(victim) as dog:
        trio.run(attack)
