"""Which connections a node keeps: a bounded number, chosen for what the node needs.

py-libp2p's connection manager already closes connections above its high watermark (down
towards the low one), skipping connections younger than a grace period, with open streams, or
to *protected* peers (`_transport.connection_config` sets the marks from `ConnectionCaps`).
What it lacks is knowing which peers Umbra needs, and it has a dialer that fills up to the
middle of the two marks with any peer in the peer store: with the library's 100/300 marks,
every node of a 200-node network ended up connected to every other.

`ConnectionKeeper` stops that dialer (the DHT's walks find peers when they are needed) and
keeps these peers protected, re-reading the sets every few seconds:

- DHT neighbours: the ``neighbours`` peers closest to our own id in the routing table. They
  are the peers a lookup for a key near us ends at, so they must stay reachable.
- Gossip mesh peers of the heads topic: the mesh carries new catalog heads.
- Trade partners: peers the node reached on purpose (a catalog source, a message's
  recipient), for `PARTNER_KEEP_S` after the last time.

Every other connection (a peer met during a lookup, an inbound peer whose bucket is full) is
closed when the total passes the high watermark. When almost nothing is left (fewer than
`FEW_CONNECTIONS`), the keeper rejoins through the routing table and the known addresses.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

log = logging.getLogger(__name__)

NEIGHBOUR, MESH, PARTNER = "umbra-dht-neighbour", "umbra-gossip-mesh", "umbra-trade-partner"
PARTNER_KEEP_S = 600.0
FEW_CONNECTIONS = 3
KEEP_INTERVAL_S = 5.0
REJOIN_INTERVAL_S = 60.0


def protection_changes(
    current: Mapping[str, set[ID]], wanted: Mapping[str, set[ID]]
) -> tuple[list[tuple[ID, str]], list[tuple[ID, str]]]:
    """(peer, tag) pairs to protect and to unprotect to go from ``current`` to ``wanted``."""
    add: list[tuple[ID, str]] = []
    drop: list[tuple[ID, str]] = []
    for tag in sorted(set(current) | set(wanted)):
        now, then = current.get(tag, set()), wanted.get(tag, set())
        add += [(peer, tag) for peer in then - now]
        drop += [(peer, tag) for peer in now - then]
    return add, drop


class Partners:
    """Peers reached on purpose, each kept until a deadline (pure: the time is passed in)."""

    def __init__(self, keep: float = PARTNER_KEEP_S) -> None:
        self.keep = keep
        self._until: dict[ID, float] = {}

    def met(self, peer: ID, now: float) -> None:
        self._until[peer] = now + self.keep

    def active(self, now: float) -> set[ID]:
        self._until = {p: t for p, t in self._until.items() if t > now}
        return set(self._until)


class ConnectionKeeper:
    """Protects the peers the node needs (see the module docstring).

    Args:
        neighbours: our closest peers in the DHT routing table.
        mesh: our gossip mesh peers.
        rejoin: dial the routing table and known addresses again (few connections left).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        host: IHost,
        *,
        neighbours: Callable[[], Iterable[ID]],
        mesh: Callable[[], Iterable[ID]],
        rejoin: Callable[[], Awaitable[object]],
        clock: Callable[[], float],
    ) -> None:
        self._host = host
        self._neighbours = neighbours
        self._mesh = mesh
        self._rejoin = rejoin
        self._clock = clock
        self.partners = Partners()
        self._protected: dict[str, set[ID]] = {}

    def met_partner(self, peer: ID) -> None:
        """Keep the connection to ``peer`` for a while (we reached it on purpose)."""
        self.partners.met(peer, self._clock())

    def wanted(self) -> dict[str, set[ID]]:
        return {
            NEIGHBOUR: set(self._neighbours()),
            MESH: set(self._mesh()),
            PARTNER: self.partners.active(self._clock()),
        }

    def refresh(self) -> None:
        """Bring the library's protections in line with `wanted`."""
        network: Any = self._host.get_network()
        tags = network.tag_store
        add, drop = protection_changes(self._protected, self.wanted())
        for peer, tag in add:
            tags.protect(peer, tag)
            self._protected.setdefault(tag, set()).add(peer)
        for peer, tag in drop:
            tags.unprotect(peer, tag)
            self._protected[tag].discard(peer)

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        network: Any = self._host.get_network()
        await network.auto_connector.stop()  # see the module docstring
        task_status.started()
        last_rejoin = self._clock()
        while True:
            self.refresh()
            await network.connection_pruner.maybe_prune_connections()
            few = len(self._host.get_connected_peers()) < FEW_CONNECTIONS
            if few and self._clock() - last_rejoin >= REJOIN_INTERVAL_S:
                last_rejoin = self._clock()
                try:
                    await self._rejoin()
                except trio.Cancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - try again next round
                    log.info("rejoining failed: %s", exc)
            await trio.sleep(KEEP_INTERVAL_S)
