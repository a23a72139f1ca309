"""Token buckets and strikes, with the time passed in."""

from umbra.net import PeerLimiter, TokenBucket


def test_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(burst=3, rate=1)
    assert [bucket.try_take_at(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.try_take_at(0.5)
    assert bucket.try_take_at(1.5)
    assert bucket.try_take_at(100.0) and bucket.try_take_at(100.0) and bucket.try_take_at(100.0)
    assert not bucket.try_take_at(100.0)  # never more than the burst


def test_clock_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(burst=1, rate=1)
    assert bucket.try_take_at(10.0)
    assert not bucket.try_take_at(5.0)


def test_strikes_ban_then_expire() -> None:
    limiter = PeerLimiter(burst=10, rate=1, max_strikes=3, ban_seconds=60)
    assert not limiter.strike_at("p", 0).ban
    assert not limiter.strike_at("p", 1).ban
    assert limiter.strike_at("p", 2).ban
    assert limiter.is_banned_at("p", 30)
    assert not limiter.allow_at("p", 30)
    assert limiter.allow_at("q", 30)
    assert not limiter.is_banned_at("p", 62.0)
    assert limiter.allow_at("p", 62.0)


def test_peers_are_limited_separately_and_memory_is_bounded() -> None:
    limiter = PeerLimiter(burst=1, rate=0, max_strikes=3, ban_seconds=1, max_peers=2)
    assert limiter.allow_at("a", 0) and not limiter.allow_at("a", 0)
    assert limiter.allow_at("b", 0)
    assert limiter.allow_at("c", 0)  # evicts the oldest
    assert len(limiter._buckets) == 2
