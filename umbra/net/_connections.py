"""Which connections a node keeps: a bounded number, chosen for what the node needs.

py-libp2p's connection manager closes connections above its high watermark, but skips any
connection with an open stream, and gossipsub keeps a stream open on every connection: it
never closes one. It also has a dialer that fills up to the middle of its two marks with any
peer in the peer store: with the library's 100/300 marks, every node of a 200-node network
ended up connected to every other.

`ConnectionKeeper` stops that dialer (the DHT's walks find peers when they are needed) and
closes connections itself (`to_close`): above the high watermark (`ConnectionCaps`), the
oldest connections that are past their grace period, carry no stream but gossip or identify,
and lead to none of these peers, down to the low watermark. The peers it keeps (re-read every
few seconds, and also marked protected for the library's own manager):

- DHT neighbours: the ``neighbours`` peers closest to our own id in the routing table, and
  the peers we are (as far as our table tells) among the ``neighbours`` closest of
  (`neighbourhood`). They are the peers a lookup for a key near us ends at, so they must stay
  reachable; and a connection closed by either side is gone for both, so a node keeps the
  peers that count on it too.
- Gossip mesh peers of the heads topic: the mesh carries new catalog heads.
- Trade partners: peers the node reached on purpose (a catalog source, a message's
  recipient), for `PARTNER_KEEP_S` after the last time.

Every other connection (a peer met during a lookup, an inbound peer whose bucket is full) is
closed when the total passes the high watermark. When almost nothing is left (fewer than
`FEW_CONNECTIONS`), the keeper rejoins through the routing table and the known addresses.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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


# Streams that stay open on every connection and do not make it busy.
_IDLE_PROTOCOL_PREFIXES = ("/meshsub/", "/ipfs/id/")


@dataclass(frozen=True)
class OpenConnection:
    peer: ID
    opened_at: float  # wall-clock seconds (the library's ``_created_at``)
    busy: bool  # a stream other than gossip or identify is open (a transfer, a query)


def to_close(
    connections: Sequence[OpenConnection],
    keep: set[ID],
    *,
    high: int,
    low: int,
    grace: float,
    now: float,
) -> list[OpenConnection]:
    """The connections to close: none at or below ``high``; above it, the oldest idle ones
    past ``grace`` whose peer is not in ``keep``, until ``low`` would remain."""
    if len(connections) <= high:
        return []
    idle = [
        c for c in connections if c.peer not in keep and not c.busy and now - c.opened_at >= grace
    ]
    idle.sort(key=lambda c: c.opened_at)
    return idle[: max(0, len(connections) - low)]


def neighbourhood(me: int, peers: dict[ID, int], count: int) -> set[ID]:
    """Our ``count`` closest peers, and the peers we are among the ``count`` closest of.

    ``me`` and the values of ``peers`` are keyspace positions. Whether a peer counts us among
    its closest is judged from the peers we know: those closer to it than we are. At most
    2·``count`` peers in all.
    """
    ordered = sorted(peers, key=lambda p: peers[p] ^ me)
    mine = set(ordered[:count])
    counting_on_us: list[ID] = []
    for peer in ordered[count:]:
        place = peers[peer]
        ours = place ^ me
        closer = sum(1 for other, at in peers.items() if other != peer and at ^ place < ours)
        if closer < count:
            counting_on_us.append(peer)
    # At most ``count`` of them, the nearest: a node that knows few peers would otherwise
    # believe itself everyone's neighbour and keep every connection.
    return mine | set(counting_on_us[:count])


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
        tend_table: add connected DHT servers the routing table missed.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        host: IHost,
        *,
        neighbours: Callable[[], Iterable[ID]],
        mesh: Callable[[], Iterable[ID]],
        rejoin: Callable[[], Awaitable[object]],
        tend_table: Callable[[], Awaitable[object]],
        clock: Callable[[], float],
        high: int,
        low: int,
        grace: float,
    ) -> None:
        self._host = host
        self._marks = (high, low, grace)
        self._neighbours = neighbours
        self._mesh = mesh
        self._rejoin = rejoin
        self._tend_table = tend_table
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

    def refresh(self) -> set[ID]:
        """Bring the library's protections in line with `wanted`; the peers kept."""
        network: Any = self._host.get_network()
        tags = network.tag_store
        wanted = self.wanted()
        add, drop = protection_changes(self._protected, wanted)
        for peer, tag in add:
            tags.protect(peer, tag)
            self._protected.setdefault(tag, set()).add(peer)
        for peer, tag in drop:
            tags.unprotect(peer, tag)
            self._protected[tag].discard(peer)
        return set().union(*wanted.values())

    async def trim(self, keep: set[ID]) -> int:
        """Close the connections `to_close` picks; how many."""
        network: Any = self._host.get_network()
        open_now: list[tuple[OpenConnection, Any]] = []
        for conn in list(network.get_connections()):
            try:
                peer = conn.muxed_conn.peer_id
                busy = any(
                    not str(s.get_protocol() or "").startswith(_IDLE_PROTOCOL_PREFIXES)
                    for s in conn.get_streams()
                )
                opened = float(getattr(conn, "_created_at", None) or time.time())
            except Exception:  # noqa: BLE001, S112 - a connection closing under us
                continue
            open_now.append((OpenConnection(peer, opened, busy), conn))
        high, low, grace = self._marks
        chosen = to_close(
            [c for c, _ in open_now], keep, high=high, low=low, grace=grace, now=time.time()
        )
        closing = {id(c) for c in chosen}
        for info, conn in open_now:
            if id(info) in closing:
                try:
                    await conn.close()
                except Exception as exc:  # noqa: BLE001 - already closing
                    log.debug("closing a connection to %s failed: %s", info.peer, exc)
        if chosen:
            log.debug("closed %d of %d connections", len(chosen), len(open_now))
        return len(chosen)

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        network: Any = self._host.get_network()
        await network.auto_connector.stop()  # see the module docstring
        task_status.started()
        last_rejoin = self._clock()
        while True:
            await self._tend_table()  # before `refresh` reads the neighbours from the table
            await self.trim(self.refresh())
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
