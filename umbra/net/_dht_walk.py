"""Where a DHT key lives, and the walk that finds the peers closest to it. Pure: no I/O.

Kademlia places peers and keys in one 256-bit space and calls the peers whose position is
nearest (XOR) to a key's position its *k closest*: they hold its records. libp2p's kad-dht
(go, js, and py-libp2p's distance functions) gives a byte string ``b`` the position
``sha256(b)``; a peer's position is that of its peer-id bytes.

Routing keys (docs/specifications/network.md, "DHT keys", v2):

- A *value key* is namespaced text (``/umbra-catalog/<hex>``, ``/umbra-prekeys/<hex>``,
  ``/umbra-arbiter/<hex>``): 79 bytes, which py-libp2p's FIND_NODE refuses (it wants a
  multihash or 2-50 bytes). Its routing key is the sha2-256 multihash of the key bytes
  (``0x12 0x20 || sha256(key)``, 34 bytes), which every Kademlia accepts; the value key
  itself still travels in PUT_VALUE/GET_VALUE, so validators see its namespace.
- A *provider key* is already a sha2-256 multihash (a catalog CID's, or `provider_key`),
  and a peer id is a multihash too: their routing key is the key itself.

The `Walk` is the iterative lookup: ask the ``alpha`` closest unasked peers, add the closer
peers they name, and stop only when the ``k`` closest peers known have all answered (a peer
that fails is dropped and the next one takes its place).
"""

import hashlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Peer = TypeVar("Peer", bound=Hashable)

KEYSPACE_BITS = 256
_SHA256_MULTIHASH_PREFIX = b"\x12\x20"
_VALUE_KEY_START = b"/"  # namespaced keys; multihashes start with their code (0x00, 0x12, …)


def is_value_key(key: bytes) -> bool:
    """Whether ``key`` is a namespaced value key (not a multihash)."""
    return key.startswith(_VALUE_KEY_START)


def routing_key(key: bytes) -> bytes:
    """The key a lookup for ``key`` asks FIND_NODE about (see the module docstring)."""
    if is_value_key(key):
        return _SHA256_MULTIHASH_PREFIX + hashlib.sha256(key).digest()
    return key


def position(key: bytes) -> int:
    """The keyspace position of a routing key or peer-id bytes (libp2p: sha256)."""
    return int.from_bytes(hashlib.sha256(key).digest(), "big")


def key_position(key: bytes) -> int:
    """The keyspace position of any DHT key (a value key through its routing key)."""
    return position(routing_key(key))


def bucket_may_split(low: int, high: int, own: int) -> bool:
    """Kademlia's rule: only the bucket whose range ``[low, high)`` holds our own position
    splits when full; every other bucket keeps at most k peers. So a table holds about
    k·log2(N/k) + k peers in a network of N, not N."""
    return low <= own < high and high - low > 1


@dataclass
class _Candidate:
    distance: int
    state: str = "new"  # "new" → "asking" → "answered" | "failed"


class Walk(Generic[Peer]):
    """The state of one iterative lookup towards ``target`` (a keyspace position).

    Drive it with `next_queries` / `answered` / `failed` until `done`; `closest` lists the
    peers that answered, nearest first. ``place`` gives a peer's keyspace position.
    """

    def __init__(
        self,
        target: int,
        seeds: Iterable[Peer],
        *,
        place: Callable[[Peer], int],
        k: int,
        alpha: int,
        exclude: Iterable[Peer] = (),
    ) -> None:
        self.target = target
        self.k = k
        self.alpha = alpha
        self._place = place
        self._excluded = set(exclude)
        self._peers: dict[Peer, _Candidate] = {}
        self.queries = 0
        self._add(seeds)

    def _add(self, peers: Iterable[Peer]) -> None:
        for peer in peers:
            if peer not in self._peers and peer not in self._excluded:
                self._peers[peer] = _Candidate(self._place(peer) ^ self.target)

    def _frontier(self) -> list[tuple[Peer, _Candidate]]:
        """The k closest peers not known to have failed, nearest first."""
        alive = [(p, c) for p, c in self._peers.items() if c.state != "failed"]
        alive.sort(key=lambda item: item[1].distance)
        return alive[: self.k]

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self._peers.values() if c.state == "asking")

    def next_queries(self) -> list[Peer]:
        """Peers to ask now (marked as asked): unasked ones among the k closest, at most
        ``alpha`` in flight."""
        room = self.alpha - self.in_flight
        chosen: list[Peer] = []
        for peer, candidate in self._frontier():
            if room <= 0:
                break
            if candidate.state == "new":
                candidate.state = "asking"
                chosen.append(peer)
                room -= 1
        self.queries += len(chosen)
        return chosen

    def answered(self, peer: Peer, closer: Iterable[Peer]) -> None:
        """``peer`` answered, naming ``closer`` peers."""
        self._peers[peer].state = "answered"
        self._add(closer)

    def failed(self, peer: Peer) -> None:
        """``peer`` did not answer (unreachable, timed out, refused): it is left out."""
        self._peers[peer].state = "failed"

    @property
    def done(self) -> bool:
        """Nothing in flight and every one of the k closest live peers has answered."""
        return self.in_flight == 0 and all(c.state == "answered" for _p, c in self._frontier())

    def closest(self) -> list[Peer]:
        """The peers that answered, nearest to the target first (at most k)."""
        return [p for p, c in self._frontier() if c.state == "answered"]
