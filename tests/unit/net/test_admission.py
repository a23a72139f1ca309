"""Inbound connection caps by IP, range and total, judged by address alone."""

import pytest

from umbra.net import Admitted, ConnectionAdmission, ConnectionCaps, Refused, address_range
from umbra.net import parse_address as ip


def caps(**kw: object) -> ConnectionCaps:
    values: dict[str, object] = {"per_ip": 2, "per_range": 3, "inbound": 5, "total": 8}
    values.update(kw)
    return ConnectionCaps(**values)  # type: ignore[arg-type]


def admitted(verdict: Admitted | Refused) -> Admitted:
    assert isinstance(verdict, Admitted), verdict
    return verdict


def test_ranges_are_slash_24_and_slash_48() -> None:
    assert address_range(ip("203.0.113.77")) == "203.0.113.0/24"  # type: ignore[arg-type]
    assert address_range(ip("2001:db8:1:2::5")) == "2001:db8:1::/48"  # type: ignore[arg-type]
    # An IPv4-mapped IPv6 address counts as the IPv4 address it is.
    assert address_range(ip("::ffff:203.0.113.9")) == "203.0.113.0/24"  # type: ignore[arg-type]
    assert ip("fe80::1%eth0") == ip("fe80::1")
    assert ip("not-an-ip") is None


def test_per_ip_cap_at_and_past_the_boundary() -> None:
    gate = ConnectionAdmission(caps())
    first = admitted(gate.admit("198.51.100.1", established=0))
    admitted(gate.admit("198.51.100.1", established=1))
    assert gate.admit("198.51.100.1", established=2) == Refused("per-ip")
    gate.release(first)
    admitted(gate.admit("198.51.100.1", established=1))  # a place came back
    assert gate.refused["per-ip"] == 1


def test_per_range_cap_counts_every_ip_in_the_range() -> None:
    gate = ConnectionAdmission(caps())
    for host in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        admitted(gate.admit(host, established=0))
    assert gate.admit("198.51.100.200", established=0) == Refused("per-range")
    admitted(gate.admit("198.51.101.1", established=0))  # the next /24 is another range


def test_ipv6_range_is_the_slash_48() -> None:
    gate = ConnectionAdmission(caps(per_ip=10))
    for n in range(3):
        admitted(gate.admit(f"2001:db8:7:{n}::1", established=0))
    assert gate.admit("2001:db8:7:ffff::9", established=0) == Refused("per-range")
    admitted(gate.admit("2001:db8:8::1", established=0))


def test_inbound_cap_at_and_past_the_boundary() -> None:
    gate = ConnectionAdmission(caps(per_ip=10, per_range=10))
    held = [admitted(gate.admit(f"192.0.2.{n}", established=0)) for n in range(5)]
    assert gate.inbound == 5
    assert gate.admit("203.0.113.1", established=0) == Refused("inbound")
    gate.release(held[0])
    admitted(gate.admit("203.0.113.1", established=0))


def test_total_cap_counts_outbound_connections_too() -> None:
    gate = ConnectionAdmission(caps())
    admitted(gate.admit("192.0.2.1", established=7))
    assert gate.admit("192.0.2.2", established=8) == Refused("total")


def test_loopback_skips_ip_and_range_caps_unless_asked() -> None:
    gate = ConnectionAdmission(caps())
    for _ in range(4):
        admitted(gate.admit("127.0.0.1", established=0))
    assert admitted(gate.admit("::1", established=0)).counted is False
    assert gate.admit("127.0.0.1", established=0) == Refused("inbound")  # totals still apply

    strict = ConnectionAdmission(caps(limit_loopback=True))
    admitted(strict.admit("127.0.0.1", established=0))
    admitted(strict.admit("127.0.0.1", established=0))
    assert strict.admit("127.0.0.1", established=0) == Refused("per-ip")
    admitted(strict.admit("127.0.0.2", established=0))
    assert strict.admit("127.0.0.3", established=0) == Refused("per-range")


def test_release_returns_every_count() -> None:
    gate = ConnectionAdmission(caps(per_ip=1, per_range=1, inbound=1))
    for _ in range(3):
        gate.release(admitted(gate.admit("192.0.2.1", established=0)))
    assert gate.inbound == 0


@pytest.mark.parametrize("host", ["", "example.org", "1.2.3", "999.1.1.1"])
def test_a_host_that_is_not_an_ip_address_is_refused(host: str) -> None:
    assert ConnectionAdmission(caps()).admit(host, established=0) == Refused("bad-address")
