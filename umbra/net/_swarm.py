"""Which blocks to ask which peer for, when fetching a catalog from many peers at once. Sans-IO.

The driver (`_swarm_fetch`) tells the schedule what happened (an answer began, a request
finished, failed or broke the protocol) and the time; the schedule says which requests to
send (`Ask`) and which to abandon (`Abandon`). No clock, no randomness, no I/O in here.

Rules:
- A block is asked of one peer at a time, in requests of at most ``batch`` CIDs; a peer has at
  most ``per_peer`` requests in flight (counting those of other fetches, ``busy``), and the
  fetch at most ``total`` that are not slow (below).
- New requests go to the usable peer with the fewest requests in flight (ties: the one added
  first, so the head's sources, usually the seller's node, come first).
- A peer that said a block is missing is not asked for it again. A block every usable peer
  said is missing is *unavailable*: the fetch can end without it (the caller decides whether
  that is an error). A peer added later makes it wanted again.
- Hedging: a request with no first answer ``hedge_after`` seconds after it was sent (or
  ``hedge_factor`` times the median first-answer delay seen in this fetch, if longer: a loaded
  machine or a Tor circuit slows every peer alike, and re-asking then only adds load) marks
  its peer *slow*; its blocks may then be asked of another peer at once, and the slow peer is
  only asked for blocks no other usable peer can give. Its request keeps running (an answer
  that comes late still counts) until every block it covers arrived from elsewhere: then
  it is abandoned.
- A request that fails (unreachable, refused, timed out) or breaks the protocol (a block that
  does not hash to its CID, …) drops its peer for the rest of the fetch; its blocks go back
  to the others. Striking a lying peer is the driver's job.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from multiformats import CID

# First-answer delays kept per fetch (for the hedging deadline).
_MAX_DELAYS = 256

# How a peer stands in this fetch.
OK, SLOW, DROPPED = "ok", "slow", "dropped"


@dataclass(frozen=True)
class Ask:
    """Send one request: ``cids`` of ``peer``."""

    request: int
    peer: str
    cids: tuple[CID, ...]


@dataclass(frozen=True)
class Abandon:
    """Cancel a request still in flight: every block it covers arrived from elsewhere."""

    request: int


@dataclass
class _Request:
    peer: str
    slots: tuple[int, ...]  # positions in the wanted list
    sent_at: float
    answered: bool = False
    slow: bool = False


@dataclass
class _Peer:
    order: int
    status: str = OK
    in_flight: int = 0
    blocks: int = 0  # blocks it delivered in this fetch


@dataclass(frozen=True)
class SwarmStatistics:
    wanted: int
    have: int
    unavailable: int
    in_flight: int
    peers: int
    slow_peers: int
    dropped_peers: int
    requests: int
    hedged: int


@dataclass
class SwarmSchedule:
    """The plan of one fetch: the blocks wanted, the peers that may have them, what is asked.

    Blocks are tracked by their position in the wanted list: hashing a `CID` object costs
    microseconds (multiformats hashes a tuple of its parts), and a fetch looks at each block
    many times.
    """

    batch: int = 64
    per_peer: int = 3
    total: int = 16
    hedge_after: float = 3.0
    hedge_factor: float = 4.0
    _wanted: list[CID] = field(default_factory=list)
    _slot: dict[CID, int] = field(default_factory=dict)
    _have: set[int] = field(default_factory=set)
    _missed: dict[int, set[str]] = field(default_factory=dict)
    _covered: dict[int, set[int]] = field(default_factory=dict)  # by requests not slow
    _asked: dict[int, set[int]] = field(default_factory=dict)  # by any request in flight
    _peers: dict[str, _Peer] = field(default_factory=dict)
    _requests: dict[int, _Request] = field(default_factory=dict)
    _next_id: int = 0
    _sent: int = 0
    _hedged: int = 0
    _delays: list[float] = field(default_factory=list)  # first-answer delays seen (bounded)

    def __post_init__(self) -> None:
        if self.batch < 1 or self.per_peer < 1 or self.total < 1 or self.hedge_after <= 0:
            raise ValueError("batch, per_peer, total and hedge_after must be positive")

    # -- inputs from the caller ------------------------------------------------------------------

    def want(self, cids: Iterable[CID]) -> None:
        """Add blocks to fetch (e.g. the thumbnails named by listings that just arrived)."""
        for cid in cids:
            if cid not in self._slot:
                self._slot[cid] = len(self._wanted)
                self._wanted.append(cid)

    def add_peers(self, peers: Iterable[str]) -> None:
        """Peers that may have the blocks. A peer already known keeps its standing."""
        for peer in peers:
            if peer not in self._peers:
                self._peers[peer] = _Peer(order=len(self._peers))

    # -- inputs from the driver ------------------------------------------------------------------

    def answered(self, request: int, now: float) -> None:
        """The first frame of ``request``'s answer arrived."""
        req = self._requests.get(request)
        if req is not None and not req.answered:
            req.answered = True
            if len(self._delays) < _MAX_DELAYS:
                self._delays.append(now - req.sent_at)

    def completed(self, request: int, received: Iterable[CID], now: float) -> list[Abandon]:
        """``request`` ended: ``received`` came (verified by the driver), the peer lacks the rest.

        A peer ends an answer early when its byte budget runs out; the blocks it did not name
        count as missing from it here, and other peers are asked for them.
        """
        req = self._finish(request)
        if req is None:
            return []
        got = {self._slot[c] for c in received if c in self._slot} & set(req.slots)
        peer = self._peers[req.peer]
        peer.blocks += len(got - self._have)
        self._have |= got
        for slot in req.slots:
            if slot not in got:
                self._missed.setdefault(slot, set()).add(req.peer)
        return self._abandon_redundant()

    def abandoned(self, request: int) -> None:
        """The driver cancelled ``request`` (see `Abandon`); its peer stays as it is."""
        self._finish(request)

    def failed(self, request: int, now: float) -> list[Abandon]:
        """``request`` failed or its peer broke the protocol: drop the peer from this fetch."""
        req = self._finish(request)
        if req is None:
            return []
        self._peers[req.peer].status = DROPPED
        return []

    def check(self, now: float) -> None:
        """Mark requests unanswered for ``hedge_after`` seconds, and their peers, slow."""
        wait = self.hedge_wait()
        for request, req in self._requests.items():
            if not req.answered and not req.slow and now - req.sent_at >= wait:
                req.slow = True
                self._hedged += 1
                _drop(self._covered, request, req.slots)
                peer = self._peers[req.peer]
                if peer.status == OK:
                    peer.status = SLOW

    # -- outputs -----------------------------------------------------------------------------------

    def asks(self, now: float, busy: Mapping[str, int] | None = None) -> list[Ask]:
        """The requests to send now. ``busy``: requests in flight per peer from other fetches."""
        busy = busy or {}
        out: list[Ask] = []
        while self._counted() < self.total:
            ask = self._one_ask(now, busy)
            if ask is None:
                break
            out.append(ask)
        return out

    def next_check(self) -> float | None:
        """When `check` may next mark a request slow (None: no request is waiting for that)."""
        wait = self.hedge_wait()
        times = [r.sent_at + wait for r in self._requests.values() if not r.answered and not r.slow]
        return min(times) if times else None

    def hedge_wait(self) -> float:
        """How long a request may go unanswered before it is hedged."""
        if not self._delays:
            return self.hedge_after
        median = sorted(self._delays)[len(self._delays) // 2]
        return max(self.hedge_after, self.hedge_factor * median)

    @property
    def done(self) -> bool:
        """Every wanted block arrived or is unavailable from every usable peer."""
        usable = self._usable_peers()
        return all(
            slot in self._have or self._unavailable(slot, usable)
            for slot in range(len(self._wanted))
        )

    def have(self, cid: CID) -> bool:
        slot = self._slot.get(cid)
        return slot is not None and slot in self._have

    def unavailable(self) -> list[CID]:
        """Blocks no usable peer has (in the order they were wanted)."""
        usable = self._usable_peers()
        return [
            cid
            for slot, cid in enumerate(self._wanted)
            if slot not in self._have and self._unavailable(slot, usable)
        ]

    def in_flight(self) -> list[int]:
        return list(self._requests)

    def delivered(self, peer: str) -> int:
        """Blocks ``peer`` gave in this fetch (first copies only)."""
        state = self._peers.get(peer)
        return 0 if state is None else state.blocks

    def peer_status(self, peer: str) -> str | None:
        state = self._peers.get(peer)
        return None if state is None else state.status

    def statistics(self) -> SwarmStatistics:
        statuses = [p.status for p in self._peers.values()]
        return SwarmStatistics(
            wanted=len(self._wanted),
            have=len(self._have),
            unavailable=len(self.unavailable()),
            in_flight=len(self._requests),
            peers=len(self._peers),
            slow_peers=statuses.count(SLOW),
            dropped_peers=statuses.count(DROPPED),
            requests=self._sent,
            hedged=self._hedged,
        )

    # -- internals ---------------------------------------------------------------------------------

    def _usable_peers(self) -> list[str]:
        return [p for p, s in self._peers.items() if s.status != DROPPED]

    def _unavailable(self, slot: int, usable: list[str]) -> bool:
        """No request covers it and every usable peer lacks it (or there is none)."""
        if slot in self._asked:
            return False
        missed = self._missed.get(slot)
        if missed is None:
            return not usable
        return all(p in missed for p in usable)

    def _pending(self) -> list[int]:
        usable = self._usable_peers()
        return [
            slot
            for slot in range(len(self._wanted))
            if slot not in self._have
            and slot not in self._covered
            and not self._unavailable(slot, usable)
        ]

    def _counted(self) -> int:
        """Requests that count against ``total``: a slow one has been hedged already, so it
        does not hold a place (it still counts against its peer's ``per_peer``)."""
        return sum(1 for req in self._requests.values() if not req.slow)

    def _one_ask(self, now: float, busy: Mapping[str, int]) -> Ask | None:
        pending = self._pending()
        if not pending:
            return None
        # Free peers, best first: not slow, fewest in flight, earliest added.
        free = [
            (peer, state)
            for peer, state in self._peers.items()
            if state.status != DROPPED and state.in_flight + busy.get(peer, 0) < self.per_peer
        ]
        free.sort(key=lambda ps: (ps[1].status == SLOW, ps[1].in_flight, ps[1].order))
        for peer, state in free:
            slots = [s for s in pending if peer not in self._missed.get(s, ())]
            if state.status == SLOW:
                # Only what no other usable peer could give.
                slots = [s for s in slots if not self._others_could(s, peer)]
            if not slots:
                continue
            chosen = tuple(slots[: self.batch])
            request = self._next_id
            self._next_id += 1
            self._requests[request] = _Request(peer, chosen, now)
            state.in_flight += 1
            self._sent += 1
            for slot in chosen:
                self._covered.setdefault(slot, set()).add(request)
                self._asked.setdefault(slot, set()).add(request)
            return Ask(request, peer, tuple(self._wanted[s] for s in chosen))
        return None

    def _others_could(self, slot: int, peer: str) -> bool:
        missed = self._missed.get(slot, set())
        return any(p != peer and s.status == OK and p not in missed for p, s in self._peers.items())

    def _finish(self, request: int) -> _Request | None:
        req = self._requests.pop(request, None)
        if req is None:
            return None
        self._peers[req.peer].in_flight -= 1
        _drop(self._covered, request, req.slots)
        _drop(self._asked, request, req.slots)
        return req

    def _abandon_redundant(self) -> list[Abandon]:
        """Slow requests whose every block arrived from elsewhere."""
        return [
            Abandon(r)
            for r, req in self._requests.items()
            if req.slow and all(s in self._have for s in req.slots)
        ]


def _drop(index: dict[int, set[int]], request: int, slots: Iterable[int]) -> None:
    """Remove ``request`` from the sets of ``slots`` in ``index`` (and empty sets)."""
    for slot in slots:
        covering = index.get(slot)
        if covering is not None:
            covering.discard(request)
            if not covering:
                del index[slot]
