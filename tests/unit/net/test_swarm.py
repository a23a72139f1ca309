"""The swarm schedule (`umbra.net._swarm`): events in, requests out. No network, no clock.

Machine tests feed a short story and compare the requests that come out; a hypothesis test
plays whole fetches against peers that hold random parts, stall, fail or lie, and checks the
limits on every step and what the fetch ends with.
"""

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID

from umbra.core import compute_cid
from umbra.net._swarm import DROPPED, SLOW, Abandon, Ask, SwarmSchedule

CIDS = [compute_cid(i.to_bytes(2, "big"), "raw") for i in range(400)]


def schedule(n: int, peers: list[str], **options: float) -> SwarmSchedule:
    s = SwarmSchedule(**options)  # type: ignore[arg-type]
    s.add_peers(peers)
    s.want(CIDS[:n])
    return s


def test_blocks_are_spread_over_every_peer_in_batches() -> None:
    s = schedule(200, ["a", "b", "c"], batch=64, per_peer=1, total=8)
    asks = s.asks(0.0)
    assert [(a.peer, len(a.cids)) for a in asks] == [("a", 64), ("b", 64), ("c", 64)]
    covered = [c for a in asks for c in a.cids]
    assert len(set(covered)) == 192  # no block asked twice
    assert s.asks(0.0) == []  # every peer is at its limit
    s.completed(asks[1].request, asks[1].cids, 0.1)
    assert [(a.peer, a.cids) for a in s.asks(0.1)] == [("b", tuple(CIDS[192:200]))]


def test_limits_count_requests_of_other_fetches() -> None:
    s = schedule(200, ["a", "b"], batch=10, per_peer=3, total=20)
    asks = s.asks(0.0, busy={"a": 3, "b": 1})
    assert [a.peer for a in asks] == ["b", "b"]


def test_total_limit() -> None:
    s = schedule(200, ["a", "b"], batch=10, per_peer=5, total=3)
    assert len(s.asks(0.0)) == 3


def test_a_missing_block_is_asked_of_another_peer_then_given_up() -> None:
    s = schedule(2, ["a", "b"], batch=64, per_peer=1)
    [ask] = s.asks(0.0)
    assert ask.peer == "a"
    s.completed(ask.request, [CIDS[0]], 0.1)  # a lacks CIDS[1]
    [again] = s.asks(0.1)
    assert (again.peer, again.cids) == ("b", (CIDS[1],))
    assert not s.done
    s.completed(again.request, [], 0.2)
    assert s.done and s.unavailable() == [CIDS[1]] and s.asks(0.2) == []
    s.add_peers(["c"])  # a new source makes it wanted again
    assert not s.done
    assert [(a.peer, a.cids) for a in s.asks(0.3)] == [("c", (CIDS[1],))]


def test_an_unanswered_request_is_hedged_and_the_slow_peer_abandoned() -> None:
    s = schedule(3, ["stall", "good"], batch=64, per_peer=1, hedge_after=2.0)
    [first] = s.asks(0.0)
    assert first.peer == "stall"
    assert s.asks(1.0) == [] and s.next_check() == 2.0
    s.check(1.9)
    assert s.asks(1.9) == []
    s.check(2.0)
    assert s.peer_status("stall") == SLOW
    [hedge] = s.asks(2.0)
    assert (hedge.peer, hedge.cids) == ("good", first.cids)
    assert s.completed(hedge.request, hedge.cids, 2.1) == [Abandon(first.request)]
    assert s.done and s.delivered("stall") == 0 and s.delivered("good") == 3
    s.abandoned(first.request)
    assert s.in_flight() == []


def test_a_lone_source_that_does_not_answer_is_asked_again_on_a_new_request() -> None:
    """One source and a request that hangs (over Tor: a stream on a circuit still building):
    the hedge asks the same peer again rather than waiting out the request deadline."""
    s = schedule(1, ["seller"], hedge_after=6.0)
    [first] = s.asks(0.0)
    s.check(6.0)
    [again] = s.asks(6.0)
    assert (again.peer, again.cids) == ("seller", first.cids)
    assert s.completed(again.request, again.cids, 6.3) == [Abandon(first.request)]
    assert s.done and s.delivered("seller") == 1


def test_the_hedging_deadline_grows_with_the_delays_seen() -> None:
    s = schedule(40, ["a", "b", "c"], batch=10, per_peer=1, hedge_after=2.0, hedge_factor=4.0)
    asks = s.asks(0.0)
    assert s.hedge_wait() == 2.0
    s.answered(asks[0].request, 1.0)  # everything is slow today: 1 s to a first answer
    s.answered(asks[1].request, 1.5)
    assert s.hedge_wait() == 6.0 and s.next_check() == 6.0
    s.check(5.9)
    assert s.peer_status("c") == "ok"
    s.check(6.0)
    assert s.peer_status("c") == SLOW


def test_a_slow_peer_is_asked_only_for_what_no_other_peer_has() -> None:
    s = schedule(4, ["slow", "good"], batch=2, per_peer=1, hedge_after=1.0)
    a1 = s.asks(0.0)
    assert [a.peer for a in a1] == ["slow", "good"]
    s.answered(a1[1].request, 0.0)  # good answers at once and is still sending
    s.check(1.0)  # slow has not answered
    assert (s.peer_status("slow"), s.peer_status("good")) == (SLOW, "ok")
    lacking = a1[1].cids[1]
    s.completed(a1[1].request, [a1[1].cids[0]], 1.5)  # good lacks one block
    # good takes the slow peer's share; the block good lacks only the slow peer may have, but
    # the slow peer is at its limit with its first request.
    [hedge] = s.asks(1.5)
    assert (hedge.peer, hedge.cids) == ("good", a1[0].cids)
    s.completed(hedge.request, hedge.cids, 1.6)
    assert s.asks(1.6) == [] and not s.done
    assert s.completed(a1[0].request, [], 5.0) == []  # it answers at last, with nothing
    [last] = s.asks(5.0)
    assert (last.peer, last.cids) == ("slow", (lacking,))
    s.completed(last.request, [], 5.1)
    assert s.done and s.unavailable() == [lacking]


def test_a_failed_or_lying_peer_is_dropped_and_its_share_reasked() -> None:
    s = schedule(3, ["liar", "good"], batch=64, per_peer=1)
    [first] = s.asks(0.0)
    s.failed(first.request, 0.1)
    assert s.peer_status("liar") == DROPPED
    [again] = s.asks(0.1)
    assert (again.peer, again.cids) == ("good", first.cids)
    s.completed(again.request, [], 0.2)
    s.add_peers(["liar"])  # offered again: stays dropped
    assert s.done and s.asks(0.2) == []


def test_nothing_to_do_without_peers_or_blocks() -> None:
    assert schedule(5, []).done
    assert schedule(0, ["a"]).done
    with pytest.raises(ValueError, match="must be positive"):
        SwarmSchedule(batch=0)


# -- whole fetches against random peers ----------------------------------------------------------


@dataclass
class FakePeer:
    holds: frozenset[int]
    behaviour: str  # "good" | "stall" | "fail" | "lie" | "partial"


peer_st = st.builds(
    FakePeer,
    st.frozensets(st.integers(0, 59), max_size=60),
    st.sampled_from(["good", "good", "stall", "fail", "lie", "partial"]),
)


@settings(max_examples=200, deadline=None)
@given(
    peers=st.lists(peer_st, min_size=0, max_size=6),
    n=st.integers(0, 60),
    batch=st.integers(1, 16),
    per_peer=st.integers(1, 3),
    total=st.integers(1, 8),
    order=st.randoms(use_true_random=False),
)
def test_whole_fetches_keep_the_limits_and_get_what_honest_peers_hold(
    peers: list[FakePeer], n: int, batch: int, per_peer: int, total: int, order: object
) -> None:
    names = [f"p{i}" for i in range(len(peers))]
    by_name = dict(zip(names, peers, strict=True))
    s = SwarmSchedule(batch=batch, per_peer=per_peer, total=total, hedge_after=2.0)
    s.add_peers(names)
    s.want(CIDS[:n])
    now = 0.0
    flight: dict[int, Ask] = {}
    missed: dict[str, set[CID]] = {}
    dropped: set[str] = set()
    got: set[CID] = set()
    sent: dict[int, float] = {}
    honest = set().union(*(p.holds for p in peers if p.behaviour == "good"), set())
    honest_done_at: float | None = None
    for _step in range(10_000):
        s.check(now)
        for ask in s.asks(now):
            assert ask.peer not in dropped
            assert 1 <= len(ask.cids) <= batch and len(set(ask.cids)) == len(ask.cids)
            assert not set(ask.cids) & missed.get(ask.peer, set())
            assert not set(ask.cids) & got
            flight[ask.request] = ask
            sent[ask.request] = now
        per = [a.peer for a in flight.values()]
        assert s.statistics().in_flight == len(flight)
        assert all(per.count(p) <= per_peer for p in per)
        assert len(flight) <= total + len(peers) * per_peer
        if s.done:
            break
        # Anything that can answer does, in a random order; stalled requests only time out.
        live = [a for a in flight.values() if by_name[a.peer].behaviour != "stall"]
        if not live:
            now += 2.0
            stalled = [a for a in flight.values() if now - sent[a.request] >= 20.0]
            for ask in stalled:  # the sync client's request deadline
                s.failed(ask.request, now)
                dropped.add(ask.peer)
                del flight[ask.request]
            continue
        ask = order.choice(live)  # type: ignore[attr-defined]
        del flight[ask.request]
        peer = by_name[ask.peer]
        now += 0.01
        if peer.behaviour in ("fail", "lie"):
            s.failed(ask.request, now)
            dropped.add(ask.peer)
            continue
        s.answered(ask.request, now)
        has = [c for c in ask.cids if CIDS.index(c) in peer.holds]
        if peer.behaviour == "partial":
            has = has[: len(has) // 2]
        for abandon in s.completed(ask.request, has, now):
            s.abandoned(abandon.request)
            del flight[abandon.request]
        got |= set(has)
        if honest_done_at is None and {CIDS.index(c) for c in got} >= honest & set(range(n)):
            honest_done_at = now
        missed.setdefault(ask.peer, set()).update(set(ask.cids) - set(has))
    else:
        raise AssertionError("the fetch never ended")
    assert {CIDS.index(c) for c in got} >= honest & set(range(n))
    # Hedging: what honest peers hold never waits for a stalled peer's request deadline.
    assert honest_done_at is None or honest_done_at < 20.0
    assert set(s.unavailable()) | got == set(CIDS[:n])
