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
some `LeakAudit` is active. For a node running as its own process, `child_audit_env` installs
the same hook in the child from its first line of Python, and `read_child_audit` reads what
it saw.
"""

import contextlib
import dataclasses
import ipaddress
import json
import os
import socket
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


def _event_from(event: str, args: tuple[object, ...]) -> Event | None:
    """What an audit event says about the network, or None if it is not about it. Never
    raises: a hook that raises would abort the very call it audits."""
    if not event.startswith("socket."):
        return None
    try:
        if event == "socket.connect":
            return _connect_event("connect", args[0], args[1])
        if event == "socket.sendto":
            return _connect_event("sendto", args[0], args[1])
        if event in _LOOKUP_EVENTS:
            return Lookup(event, _lookup_host(event, args))
    except Exception as exc:
        return Unreadable(event, f"{type(exc).__name__}: {exc}")
    return None


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not _active:
        return
    recorded = _event_from(event, args)
    if recorded is None:
        return
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


# -- in a child process ------------------------------------------------------------------------
# A node under test usually runs as its own process (`umbra node`). `child_audit_env` gives it
# an environment whose ``sitecustomize`` (tests/support/leak_audit_child/) installs the same
# hook at interpreter start and appends each event as a JSON line to a file; after the child
# ran, `read_child_audit` turns the file into a `LeakAudit`.

AUDIT_FILE_ENV = "LEAK_AUDIT_FILE"
CHILD_HOOK_DIR = Path(__file__).resolve().with_name("leak_audit_child")
_KINDS: dict[str, type[Connect] | type[Lookup] | type[Unreadable]] = {
    "connect": Connect,
    "lookup": Lookup,
    "unreadable": Unreadable,
}


def child_audit_env(log_path: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a child Python process that records its network use in ``log_path``."""
    out = dict(env)
    out[AUDIT_FILE_ENV] = str(log_path)
    paths = [str(CHILD_HOOK_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    out["PYTHONPATH"] = os.pathsep.join(paths)
    return out


def record_to_file(path: str) -> None:
    """Install a hook that appends every network event of this process to ``path`` (called
    by the child's ``sitecustomize``; the file is opened once, before any event)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    names = {Connect: "connect", Lookup: "lookup", Unreadable: "unreadable"}

    def hook(event: str, args: tuple[object, ...]) -> None:
        recorded = _event_from(event, args)
        if recorded is None:
            return
        line = {"type": names[type(recorded)], **dataclasses.asdict(recorded)}
        # One small O_APPEND write per event: lines from threads do not interleave.
        with contextlib.suppress(OSError):
            os.write(fd, (json.dumps(line) + "\n").encode())

    sys.addaudithook(hook)


def read_child_audit(path: Path) -> LeakAudit:
    """The events a child recorded with `child_audit_env` (none if it never wrote)."""
    audit = LeakAudit()
    if not path.exists():
        return audit
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        kind = _KINDS[data.pop("type")]
        audit._record(kind(**data))
    return audit
