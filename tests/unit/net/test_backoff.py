"""When a failed peer may be asked again, with the time passed in."""

import pytest

from umbra.net import BackoffPolicy, PeerBackoff

POLICY = BackoffPolicy(base=1.0, cap=8.0, unsupported_seconds=3600.0, max_peers=3)


def test_waits_double_per_failure_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert BackoffPolicy(base=1.0, cap=300.0).delay(10_000) == 300.0  # no float overflow


def test_a_failed_peer_waits_exactly_its_delay() -> None:
    backoff = PeerBackoff(POLICY)
    assert backoff.wait_at("p", 0.0) == 0.0
    assert backoff.failed_at("p", 10.0) == 1.0
    assert backoff.wait_at("p", 10.5) == 0.5
    assert backoff.wait_at("p", 11.0) == 0.0  # at the boundary: may be asked
    assert backoff.failed_at("p", 11.0) == 2.0
    assert backoff.wait_at("p", 12.999) > 0.0
    assert backoff.wait_at("p", 13.0) == 0.0
    assert backoff.wait_at("q", 11.0) == 0.0  # per peer


def test_success_forgets_the_failures() -> None:
    backoff = PeerBackoff(POLICY)
    for t in range(4):
        backoff.failed_at("p", float(t * 100))
    backoff.succeeded("p")
    assert backoff.wait_at("p", 300.0) == 0.0
    assert backoff.failed_at("p", 300.0) == 1.0  # starts again from the base


def test_a_protocol_refusal_keeps_the_peer_out_for_the_quiet_time() -> None:
    backoff = PeerBackoff(POLICY)
    assert backoff.refused_protocol_at("p", 0.0) == 3600.0
    assert backoff.unsupported_at("p", 3599.9)
    assert backoff.wait_at("p", 3599.9) == pytest.approx(0.1)
    assert not backoff.unsupported_at("p", 3600.0)
    assert backoff.wait_at("p", 3600.0) == 0.0


def test_showing_support_lifts_a_refusal_but_not_a_failure() -> None:
    backoff = PeerBackoff(POLICY)
    backoff.refused_protocol_at("p", 0.0)
    backoff.shows_support("p")
    assert not backoff.unsupported_at("p", 1.0) and backoff.wait_at("p", 1.0) == 0.0
    backoff.failed_at("q", 0.0)
    backoff.shows_support("q")  # speaking the protocol says nothing about a timeout
    assert backoff.wait_at("q", 0.5) == 0.5


def test_a_failure_after_a_refusal_starts_from_the_base() -> None:
    backoff = PeerBackoff(POLICY)
    backoff.refused_protocol_at("p", 0.0)
    assert backoff.failed_at("p", 4000.0) == 1.0
    assert not backoff.unsupported_at("p", 4000.5)


def test_memory_is_bounded_by_forgetting_the_oldest() -> None:
    backoff = PeerBackoff(POLICY)
    for peer in ("a", "b", "c"):
        backoff.failed_at(peer, 0.0)
    assert len(backoff) == 3
    backoff.failed_at("a", 0.5)  # "a" is now the newest
    backoff.failed_at("d", 0.5)
    assert len(backoff) == 3
    assert backoff.wait_at("b", 0.6) == 0.0  # forgotten
    assert backoff.wait_at("a", 0.6) > 0.0 and backoff.wait_at("d", 0.6) > 0.0
