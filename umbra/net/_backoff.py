"""When a peer may be asked again after it failed us. Pure: the caller passes the time.

Every failed request to a peer (no answer, dial refused, timed out, "busy") makes the peer
wait before we ask it again: ``base`` seconds after the first failure, doubling with each
further failure in a row, never more than ``cap``. A success forgets the failures. A peer that
answers "protocol not supported" is not asked for that protocol for ``unsupported_seconds``
(it is an IPFS node or some other libp2p program, not going to change its mind soon), unless
it shows it speaks the protocol after all (`shows_support`, e.g. it opened such a stream to
us). Keys are peer ids as text, so this module knows nothing of libp2p.

Memory is bounded: at ``max_peers`` the oldest entry is forgotten, which only lets that peer
be asked a little earlier than it would have been.
"""

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class BackoffPolicy:
    base: float = 1.0
    cap: float = 300.0
    unsupported_seconds: float = 3600.0
    max_peers: int = 4096

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row (``failures`` >= 1)."""
        # min() on the exponent first: 2.0 ** 10_000 would overflow a float.
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 64))


@dataclass(frozen=True)
class _Entry:
    failures: int
    until: float
    unsupported: bool


class PeerBackoff:
    """Failures, waits and "protocol not supported" marks for many peers (one protocol)."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self._policy = policy
        self._entries: dict[str, _Entry] = {}

    def wait_at(self, peer: str, now: float) -> float:
        """Seconds until ``peer`` may be asked again (0.0: now)."""
        entry = self._entries.get(peer)
        if entry is None:
            return 0.0
        return max(0.0, entry.until - now)

    def unsupported_at(self, peer: str, now: float) -> bool:
        """Whether ``peer`` refused the protocol and is still in its quiet time."""
        entry = self._entries.get(peer)
        return entry is not None and entry.unsupported and now < entry.until

    def failed_at(self, peer: str, now: float) -> float:
        """Record a failed request; returns how long the peer now waits."""
        entry = self._entries.get(peer)
        failures = 1 if entry is None or entry.unsupported else entry.failures + 1
        wait = self._policy.delay(failures)
        self._put(peer, _Entry(failures, now + wait, unsupported=False))
        return wait

    def refused_protocol_at(self, peer: str, now: float) -> float:
        """Record "protocol not supported"; returns how long the peer now waits."""
        wait = self._policy.unsupported_seconds
        self._put(peer, _Entry(0, now + wait, unsupported=True))
        return wait

    def succeeded(self, peer: str) -> None:
        self._entries.pop(peer, None)

    def shows_support(self, peer: str) -> None:
        """The peer spoke the protocol (e.g. opened it to us): lift a "not supported" mark."""
        entry = self._entries.get(peer)
        if entry is not None and entry.unsupported:
            del self._entries[peer]

    def __len__(self) -> int:
        return len(self._entries)

    def _put(self, peer: str, entry: _Entry) -> None:
        self._entries.pop(peer, None)  # re-insert: the dict's order is the age order
        if len(self._entries) >= self._policy.max_peers:
            self._entries.pop(next(iter(self._entries)))
        self._entries[peer] = entry
