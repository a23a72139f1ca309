"""Reaching a peer whose address changed: a thin layer over py-libp2p 0.8.1's dialer.

The library's ``Swarm.dial_peer`` dials only the first address of each transport class that
the peer store holds, and the peer store keeps a peer's addresses in the order they were first
learned (re-adding one only refreshes the TTL of all). A peer that restarts on a new port is
therefore dialled at its old, dead address for as long as anyone mentions it, while the new
address sits unused behind it; after the failure the library also refuses the whole peer for
60 s (its negative cache). `PeerReacher.reach` dials each known address itself, asks the DHT
for the peer's current addresses when none answers (FIND_NODE with the peer's id returns the
peer itself from whoever is connected to it), and rewrites the peer store with the working
address first. The test is tests/integration/net/test_reach.py.
"""

import logging
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.kad_dht import KadDHT
from libp2p.peer.id import ID
from libp2p.protocol_muxer.exceptions import MultiselectClientError, ProtocolNotSupportedError
from multiaddr import Multiaddr

from ._errors import NetError, ProtocolUnsupported

log = logging.getLogger(__name__)

Reach = Callable[[ID], Awaitable[bool]]

PEERSTORE_TTL_S = 3600  # what the library's DHT gives the addresses it learns
DIAL_TIMEOUT_S = 5.0
LOOKUP_TIMEOUT_S = 8.0
LOOKUP_INTERVAL_S = 30.0  # one network lookup per unreachable peer per interval
LOOKUP_COUNT = 20


class PeerReacher:
    """Connects to peers by trying every address, with a DHT lookup when all are stale."""

    def __init__(
        self,
        host: IHost,
        dht: KadDHT,
        *,
        clock: Callable[[], float] = trio.current_time,
        usable: Callable[[Multiaddr], bool] = lambda addr: True,
    ) -> None:
        """``usable`` says which addresses may be dialled (Tor mode: onion addresses only);
        the others are never tried, and leave the peer store once a usable one answers."""
        self._host = host
        self._usable = usable
        self._dht = dht
        self._clock = clock
        self._looked_up: dict[ID, float] = {}
        self._locks: dict[ID, trio.Lock] = {}

    def connected(self, peer: ID) -> bool:
        return any(not c.is_closed for c in self._host.get_network().get_connections(peer))

    async def reach(self, peer: ID) -> bool:
        """True once there is a live connection to ``peer``; False if no address works."""
        if peer == self._host.get_id():
            return False
        lock = self._locks.setdefault(peer, trio.Lock())
        try:
            async with lock:  # concurrent callers share one dial and one lookup
                return await self._reach(peer)
        finally:
            if not lock.statistics().tasks_waiting and not lock.locked():
                self._locks.pop(peer, None)

    async def _reach(self, peer: ID) -> bool:
        if self.connected(peer):
            return True
        failed: set[Multiaddr] = set()
        if await self._dial_known(peer, failed):
            return True
        now = self._clock()
        if now - self._looked_up.get(peer, -1e18) < LOOKUP_INTERVAL_S:
            return False
        if len(self._looked_up) > 4096:
            self._looked_up.clear()
        self._looked_up[peer] = now
        with trio.move_on_after(LOOKUP_TIMEOUT_S):
            try:
                await self._dht.peer_routing.find_closest_peers_network(
                    peer.to_bytes(), LOOKUP_COUNT
                )
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - the library raises many types
                log.debug("lookup of %s failed: %s", peer, exc)
        return await self._dial_known(peer, failed)

    def _addrs(self, peer: ID) -> list[Multiaddr]:
        try:
            known = list(self._host.get_peerstore().addrs(peer))
        except Exception:  # noqa: BLE001 - unknown or expired peer
            return []
        return [a for a in known if self._usable(a)]

    async def _dial_known(self, peer: ID, failed: set[Multiaddr]) -> bool:
        """Dial the peer store's addresses one at a time, skipping those in ``failed``."""
        known = self._addrs(peer)
        network = self._host.get_network()
        for addr in known:
            if addr in failed:
                continue
            try:
                with trio.fail_after(DIAL_TIMEOUT_S):
                    await network.dial_addr(addr, peer)
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - refused, timed out, wrong peer id …
                log.debug("%s does not answer at %s: %s", peer, addr, exc)
                failed.add(addr)
                continue
            self._promote(peer, addr, [a for a in known if a not in failed])
            # The library checks its negative cache before reusing a connection: clear it.
            unblock = getattr(network, "unblock_peer", None)  # Swarm has it, INetwork not
            if unblock is not None:
                unblock(peer)
            if failed:
                log.info("reached %s at %s (dead: %s)", peer, addr, sorted(map(str, failed)))
            return True
        return False

    def _promote(self, peer: ID, working: Multiaddr, others: list[Multiaddr]) -> None:
        store = self._host.get_peerstore()
        store.clear_addrs(peer)
        store.add_addrs(peer, [working, *(a for a in others if a != working)], PEERSTORE_TTL_S)


def is_protocol_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the peer's "na": it does not speak the protocol.

    py-libp2p 0.8.1 wraps the refusal in ``StreamFailure``; when every offered protocol was
    refused, the cause is a plain ``MultiselectClientError`` whose text says so. Timeouts and
    broken streams are not refusals.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ProtocolNotSupportedError):
            return True
        if isinstance(current, MultiselectClientError) and str(current).startswith(
            "protocols not supported"
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


async def open_stream(host: IHost, peer: ID, protocol: str, reach: Reach | None) -> INetStream:
    """A new ``protocol`` stream to ``peer``; if it fails and ``reach`` finds the peer again
    (e.g. at its new address), one more try.

    Raises:
        ProtocolUnsupported: the peer said it does not speak ``protocol`` (no second try).
        NetError: any other failure.
    """
    try:
        return await host.new_stream(peer, [TProtocol(protocol)])
    except trio.Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - dial/negotiation errors of many types
        failure: Exception = exc
    if is_protocol_refusal(failure):
        raise ProtocolUnsupported(f"{peer} does not speak {protocol}")
    if reach is not None and await reach(peer):
        try:
            return await host.new_stream(peer, [TProtocol(protocol)])
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            failure = exc
        if is_protocol_refusal(failure):
            raise ProtocolUnsupported(f"{peer} does not speak {protocol}")
    raise NetError(f"cannot open {protocol} to {peer}: {_one_line(failure)}") from None


def _one_line(exc: BaseException) -> str:
    # Some library errors carry several lines (addresses, state dumps): keep the first.
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
