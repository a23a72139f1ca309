"""Per-peer token buckets and strikes. Pure: the caller passes the time.

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; an action costs a
token. A peer that breaks the protocol gets strikes; at ``max_strikes`` it is banned until
the ban expires. Keys are peer ids as text, so this module knows nothing of libp2p.
"""

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    burst: float
    rate: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def try_take_at(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are enough at time ``now``."""
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


@dataclass(frozen=True)
class PeerVerdict:
    """What to do after a strike: ``ban`` is True the moment the peer crosses the limit."""

    strikes: int
    ban: bool


class PeerLimiter:
    """Buckets and strikes for many peers, with a bound on how many peers it remembers."""

    def __init__(
        self,
        *,
        burst: float,
        rate: float,
        max_strikes: int,
        ban_seconds: float,
        max_peers: int = 4096,
    ) -> None:
        self._burst = burst
        self._rate = rate
        self._max_strikes = max_strikes
        self._ban_seconds = ban_seconds
        self._max_peers = max_peers
        self._buckets: dict[str, TokenBucket] = {}
        self._strikes: dict[str, int] = {}
        self._banned_until: dict[str, float] = {}

    def allow_at(self, peer: str, now: float, cost: float = 1.0) -> bool:
        """Whether ``peer`` may do something costing ``cost`` now (False while banned)."""
        if self.is_banned_at(peer, now):
            return False
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= self._max_peers:
                # Forget the oldest entry; a forgotten peer starts with a full bucket,
                # which is no worse than a new peer.
                self._buckets.pop(next(iter(self._buckets)))
            bucket = self._buckets[peer] = TokenBucket(self._burst, self._rate)
        return bucket.try_take_at(now, cost)

    def strike_at(self, peer: str, now: float) -> PeerVerdict:
        """Record one misbehaviour; ban the peer when it reaches ``max_strikes``."""
        strikes = self._strikes.get(peer, 0) + 1
        if len(self._strikes) >= self._max_peers and peer not in self._strikes:
            self._strikes.pop(next(iter(self._strikes)))
        self._strikes[peer] = strikes
        if strikes >= self._max_strikes:
            self._strikes.pop(peer, None)
            self._banned_until[peer] = now + self._ban_seconds
            return PeerVerdict(strikes, True)
        return PeerVerdict(strikes, False)

    def is_banned_at(self, peer: str, now: float) -> bool:
        until = self._banned_until.get(peer)
        if until is None:
            return False
        if now >= until:
            del self._banned_until[peer]
            return False
        return True

    def banned_count_at(self, now: float) -> int:
        return sum(1 for peer in list(self._banned_until) if self.is_banned_at(peer, now))
