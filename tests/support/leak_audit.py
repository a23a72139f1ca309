"""An in-process leak detector for tests: every socket connection and name lookup, recorded.

A PEP 578 audit hook (`sys.addaudithook`) sees each ``socket.connect`` (and
``connect_ex``), ``socket.sendto`` and name lookup (``getaddrinfo``, ``gethostbyname``, …)
that Python code in this process makes, in any thread (trio does its lookups in worker
threads). Use it around the code under test::

    with leak_audit() as audit:
        ...                                   # run the node, dial, trade
    audit.assert_only([("127.0.0.1", socks_port), ("127.0.0.1", control_port)])

`LeakAudit.assert_only` fails, listing every offender, on a connection to any other endpoint,
on a datagram sent anywhere, and on a lookup of anything but a numeric IP literal (a host name
resolved in-process is a DNS query outside Tor). Limits: it sees this process only (not
tor, monerod or other children; the network-namespace test covers those), and not C code that
calls the OS directly without Python's socket module.

An audit hook cannot be removed, so one hook is installed on first use and records only while
some `LeakAudit` is active.
"""

import ipaddress
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# (host, port) for a TCP endpoint, or a unix socket path.
Endpoint = tuple[str, int] | str

_LOOKUP_EVENTS = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)


@dataclass(frozen=True)
class Connect:
    """A connection attempt (``kind`` "connect") or a datagram sent (``kind`` "sendto")."""

    kind: str
    family: str  # "inet", "inet6", "unix" or the family's number
    host: str | None = None
    port: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        where = f"unix:{self.path}" if self.family == "unix" else f"{self.host}:{self.port}"
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Lookup:
    """A name lookup: ``event`` is the audit event (``socket.getaddrinfo``, …)."""

    event: str
    host: str

    @property
    def numeric(self) -> bool:
        """Whether ``host`` is an IP literal (or empty): no query leaves the machine."""
        if not self.host:
            return True
        try:
            ipaddress.ip_address(self.host.split("%", 1)[0])  # an IPv6 scope id is allowed
        except ValueError:
            return False
        return True

    def __str__(self) -> str:
        return f"{self.event.removeprefix('socket.')}({self.host!r})"


@dataclass(frozen=True)
class Unreadable:
    """An audit event the hook could not read: counted as an offender, never lost."""

    event: str
    detail: str

    def __str__(self) -> str:
        return f"{self.event} (unreadable: {self.detail})"


Event = Connect | Lookup | Unreadable


class LeakAudit:
    """What the process did on the network while this audit was active."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    @property
    def connects(self) -> list[Connect]:
        return [e for e in self.events if isinstance(e, Connect)]

    @property
    def lookups(self) -> list[Lookup]:
        return [e for e in self.events if isinstance(e, Lookup)]

    def _record(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def offenders(self, allowed: Iterable[Endpoint]) -> list[Event]:
        """Events that break "only these endpoints, no name lookups, no datagrams"."""
        tcp = {e for e in allowed if isinstance(e, tuple)}
        unix = {e for e in allowed if isinstance(e, str)}
        bad: list[Event] = []
        for event in self.events:
            if isinstance(event, Unreadable):
                bad.append(event)
            elif isinstance(event, Lookup):
                if not event.numeric:
                    bad.append(event)
            elif event.kind != "connect":
                bad.append(event)
            elif event.family == "unix":
                if event.path not in unix:
                    bad.append(event)
            elif (event.host, event.port) not in tcp:
                bad.append(event)
        return bad

    def assert_only(self, allowed: Iterable[Endpoint]) -> None:
        """Fail unless every connection went to ``allowed`` and every lookup was numeric.

        Raises:
            AssertionError: listing each offending connection, datagram or lookup.
        """
        allowed = list(allowed)
        bad = self.offenders(allowed)
        if bad:
            shown = ", ".join(str(e) for e in bad[:20])
            more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
            raise AssertionError(f"network use outside {[str(a) for a in allowed]}: {shown}{more}")


_active: list[LeakAudit] = []
_active_lock = threading.Lock()
_installed = False


def _family_name(family: int) -> str:
    names = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
    if hasattr(socket, "AF_UNIX"):
        names[socket.AF_UNIX] = "unix"
    return names.get(family, str(family))


def _connect_event(kind: str, sock: object, address: object) -> Connect:
    family = _family_name(int(getattr(sock, "family", -1)))
    if family == "unix" or isinstance(address, (str, bytes)):
        path = address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
        return Connect(kind, "unix", path=path)
    if isinstance(address, tuple) and len(address) >= 2:
        return Connect(kind, family, host=str(address[0]), port=int(address[1]))
    return Connect(kind, family, host=repr(address))


def _lookup_host(event: str, args: tuple[object, ...]) -> str:
    first = args[0] if args else None
    if event == "socket.getnameinfo" and isinstance(first, tuple) and first:
        first = first[0]
    if isinstance(first, bytes):
        return first.decode("utf-8", "replace")
    return "" if first is None else str(first)


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not _active or not event.startswith("socket."):
        return
    recorded: Event
    try:
        if event == "socket.connect":
            recorded = _connect_event("connect", args[0], args[1])
        elif event == "socket.sendto":
            recorded = _connect_event("sendto", args[0], args[1])
        elif event in _LOOKUP_EVENTS:
            recorded = Lookup(event, _lookup_host(event, args))
        else:
            return
    except Exception as exc:  # a hook that raises would abort the very call it audits
        recorded = Unreadable(event, f"{type(exc).__name__}: {exc}")
    with _active_lock:
        audits = list(_active)
    for audit in audits:
        audit._record(recorded)


@contextmanager
def leak_audit() -> Iterator[LeakAudit]:
    """Record the process's connections and lookups while the block runs."""
    global _installed
    with _active_lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
    audit = LeakAudit()
    with _active_lock:
        _active.append(audit)
    try:
        yield audit
    finally:
        with _active_lock:
            _active.remove(audit)
