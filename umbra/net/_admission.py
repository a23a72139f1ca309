"""Which inbound connections a node accepts, judged by the remote address alone. Pure.

The check runs the moment a TCP connection is accepted, before the Noise handshake (the
first costly step: key exchange, signatures), so a refused connection costs one accept and
one close. A connection counts against its IP address, its range (/24 for IPv4, /48 for IPv6:
what one customer of a provider usually holds), the inbound total, and the overall total
(inbound plus outbound connections up, which the caller reports as ``established``). It
holds its place from acceptance (handshake included) until `release`, so half-open
handshakes count too.

Loopback peers (127.0.0.0/8, ::1) are local processes, and behind a Tor transport every
peer arrives from 127.0.0.1: the per-IP and per-range caps skip them unless
``limit_loopback`` is set; the totals always apply.
"""

import ipaddress
from collections import Counter
from dataclasses import dataclass

IPV4_RANGE_BITS = 24
IPV6_RANGE_BITS = 48

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, kw_only=True)
class ConnectionCaps:
    per_ip: int
    per_range: int
    inbound: int
    total: int
    limit_loopback: bool = False
    # Handshakes run at most this many at once; the others wait (holding their place) so a
    # burst of new peers is worked through a few at a time on the node's one event loop, and
    # one that has not finished after ``handshake_timeout`` seconds is closed. Carried out by
    # `_inbound`, which runs the handshakes.
    handshakes: int = 16
    handshake_timeout: float = 15.0
    # Open connections kept (inbound and outbound): above ``high_water`` the ones not needed
    # are closed down towards ``low_water``, none younger than ``grace`` seconds. Carried out
    # by the libp2p connection manager (`_transport.connection_config`) and `_connections`.
    high_water: int = 64
    low_water: int = 48
    grace: float = 20.0


@dataclass(frozen=True)
class Admitted:
    """A place held by one inbound connection; give it back with `ConnectionAdmission.release`."""

    ip: str
    range: str
    counted: bool  # False for an exempt loopback peer: not in the per-IP/range counts


@dataclass(frozen=True)
class Refused:
    reason: str  # "total", "inbound", "per-ip", "per-range" or "bad-address"


def parse_address(host: str) -> Address | None:
    """The IP address of ``host`` (IPv4-mapped IPv6 becomes IPv4), or None if it is not one."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_range(address: Address) -> str:
    """The range a connection counts against: the /24 of an IPv4, the /48 of an IPv6 address."""
    bits = IPV4_RANGE_BITS if isinstance(address, ipaddress.IPv4Address) else IPV6_RANGE_BITS
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


class ConnectionAdmission:
    """Counts held inbound connections and refuses one that would pass a cap."""

    def __init__(self, caps: ConnectionCaps) -> None:
        self.caps = caps
        self._per_ip: Counter[str] = Counter()
        self._per_range: Counter[str] = Counter()
        self._inbound = 0
        self.refused: Counter[str] = Counter()  # reason -> how many, since start

    @property
    def inbound(self) -> int:
        return self._inbound

    def admit(self, host: str, *, established: int) -> Admitted | Refused:
        """Hold a place for a new inbound connection from ``host``, or say why not.

        Args:
            host: the remote IP address as the socket reports it.
            established: connections the node holds now (inbound and outbound, handshake
                done); at the overall cap a new inbound connection is refused.
        """
        verdict = self._judge(host, established)
        if isinstance(verdict, Refused):
            self.refused[verdict.reason] += 1
            return verdict
        self._inbound += 1
        if verdict.counted:
            self._per_ip[verdict.ip] += 1
            self._per_range[verdict.range] += 1
        return verdict

    def release(self, admitted: Admitted) -> None:
        self._inbound -= 1
        if admitted.counted:
            _decrement(self._per_ip, admitted.ip)
            _decrement(self._per_range, admitted.range)

    def _judge(self, host: str, established: int) -> Admitted | Refused:
        caps = self.caps
        address = parse_address(host)
        if address is None:
            return Refused("bad-address")
        if self._inbound >= caps.inbound:
            return Refused("inbound")
        # Handshakes still running are not in ``established``; the inbound cap bounds them.
        if established >= caps.total:
            return Refused("total")
        ip, net = str(address), address_range(address)
        counted = caps.limit_loopback or not address.is_loopback
        if counted:
            if self._per_ip[ip] >= caps.per_ip:
                return Refused("per-ip")
            if self._per_range[net] >= caps.per_range:
                return Refused("per-range")
        return Admitted(ip, net, counted)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
