"""The leak auditor sees real connections and lookups (real sockets on loopback, no mocks)."""

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

from tests.support.leak_audit import (
    Connect,
    Lookup,
    child_audit_env,
    leak_audit,
    read_child_audit,
)


@contextmanager
def _tcp_listener() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_a_real_connection_is_recorded_and_allowed_when_listed() -> None:
    with (
        _tcp_listener() as port,
        leak_audit() as audit,
        socket.create_connection(("127.0.0.1", port), timeout=5),
    ):
        pass
    assert Connect("connect", "inet", host="127.0.0.1", port=port) in audit.connects
    audit.assert_only([("127.0.0.1", port)])  # create_connection's numeric lookup is fine
    with pytest.raises(AssertionError, match=f"connect 127.0.0.1:{port}"):
        audit.assert_only([("127.0.0.1", port + 1)])


def test_a_name_lookup_is_caught() -> None:
    with leak_audit() as audit:
        socket.getaddrinfo("localhost", 80)  # /etc/hosts: resolved without a DNS server
    assert Lookup("socket.getaddrinfo", "localhost") in audit.lookups
    with pytest.raises(AssertionError, match="getaddrinfo\\('localhost'\\)"):
        audit.assert_only([])


def test_numeric_lookups_are_not_name_lookups() -> None:
    with leak_audit() as audit:
        socket.getaddrinfo("127.0.0.1", 80)
        socket.getaddrinfo("::1", 80)
        socket.getaddrinfo(None, 80)
    assert len(audit.lookups) == 3 and all(lookup.numeric for lookup in audit.lookups)
    audit.assert_only([])


def test_trio_connections_and_lookups_from_worker_threads_are_seen() -> None:
    with _tcp_listener() as port, leak_audit() as audit:

        async def dial() -> None:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.aclose()
            await trio.socket.getaddrinfo("localhost", port)  # runs in a worker thread

        trio.run(dial)
    assert Connect("connect", "inet", host="127.0.0.1", port=port) in audit.connects
    assert Lookup("socket.getaddrinfo", "localhost") in audit.lookups


def test_other_threads_and_connect_ex_are_seen() -> None:
    with _tcp_listener() as port, leak_audit() as audit:

        def dial() -> None:
            with socket.socket() as sock:
                sock.connect_ex(("127.0.0.1", port))

        thread = threading.Thread(target=dial)
        thread.start()
        thread.join(10)
    assert audit.connects == [Connect("connect", "inet", host="127.0.0.1", port=port)]


def test_unix_sockets_are_noted_by_path(tmp_path: Path) -> None:
    path = str(tmp_path / "control.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with leak_audit() as audit, socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    assert audit.connects == [Connect("connect", "unix", path=path)]
    audit.assert_only([path])
    with pytest.raises(AssertionError, match="unix:"):
        audit.assert_only([])


def test_datagrams_are_always_offenders() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        with leak_audit() as audit, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"query", ("127.0.0.1", port))
    assert audit.connects == [Connect("sendto", "inet", host="127.0.0.1", port=port)]
    with pytest.raises(AssertionError, match="sendto"):
        audit.assert_only([("127.0.0.1", port)])  # a datagram is no allowed stream


def test_nothing_is_recorded_outside_the_block() -> None:
    with _tcp_listener() as port:
        with leak_audit() as audit:
            pass
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        socket.getaddrinfo("localhost", 80)
    assert audit.events == []


def test_nested_audits_each_see_their_own_span() -> None:
    with _tcp_listener() as port, leak_audit() as outer:
        socket.getaddrinfo("localhost", 80)
        with leak_audit() as inner, socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    assert [type(e) for e in outer.events if not isinstance(e, Lookup) or not e.numeric] == [
        Lookup,
        Connect,
    ]
    assert not any(isinstance(e, Lookup) and not e.numeric for e in inner.events)


def test_a_child_process_records_its_own_connections_and_lookups(tmp_path: Path) -> None:
    log = tmp_path / "child-audit.jsonl"
    with _tcp_listener() as port:
        script = (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=5).close()\n"
            "socket.getaddrinfo('localhost', 80)\n"
        )
        env = child_audit_env(log, os.environ)
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    audit = read_child_audit(log)
    assert Connect("connect", "inet", host="127.0.0.1", port=port) in audit.connects
    assert Lookup("socket.getaddrinfo", "localhost") in audit.lookups
    with pytest.raises(AssertionError, match="getaddrinfo\\('localhost'\\)"):
        audit.assert_only([("127.0.0.1", port)])
    # A child that touches no network leaves nothing to read.
    quiet = tmp_path / "quiet.jsonl"
    env = child_audit_env(quiet, os.environ)
    subprocess.run([sys.executable, "-c", "print(1)"], env=env, check=True, timeout=60)
    assert read_child_audit(quiet).events == []
