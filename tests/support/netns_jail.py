"""Run a process in an empty network namespace where only named ports are reachable.

The second way to show that nothing bypasses tor (the first is the in-process audit hook,
`tests.support.leak_audit`): a process in its own network namespace (``unshare --net``, as
root) has only a loopback interface of its own. A connection to any other machine fails
with ENETUNREACH, a connection to the host's loopback ports fails with ECONNREFUSED (they
are not there), and there is no DNS. Unix sockets live in the file system, so they cross
the namespace boundary: tor's ``unix:`` control and SOCKS ports are reachable as they are,
and each TCP port the jailed process must reach (or be reached on) is bridged by a relay:

    inside the namespace                    outside (the host)
    127.0.0.1:P  --relay-->  unix:S  --host relay (`Relay`)-->  127.0.0.1:P

so the same ``127.0.0.1:P`` means the same service on both sides, and nothing else is there.

Usage (the test starts it; the jail runs inside the new namespace)::

    unshare --net -- python netns_jail.py --relay tcp:127.0.0.1:P=unix:S ... -- ARGV...

The jail brings ``lo`` up, starts its relays, runs ARGV, passes SIGTERM/SIGINT on to it and
exits with its exit status. `Relay` is the same relay for the host side (threads; fine for
tests). Nothing here is product code.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

BUFFER = 65536


def parse_side(text: str) -> tuple[int, object]:
    """``tcp:HOST:PORT`` or ``unix:PATH`` -> (address family, address)."""
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[len("unix:") :]
    if text.startswith("tcp:"):
        host, _, port = text[len("tcp:") :].rpartition(":")
        return socket.AF_INET, (host, int(port))
    raise ValueError(f"expected tcp:HOST:PORT or unix:PATH, not {text!r}")


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class Relay:
    """Accept on ``listen``; for each connection, connect to ``target`` and copy both ways."""

    def __init__(self, listen: str, target: str) -> None:
        self.listen_text, self.target_text = listen, target
        family, address = parse_side(listen)
        self._target = parse_side(target)
        self._server = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(address))
        else:
            self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(address)  # type: ignore[arg-type]
        self._server.listen(64)
        self._path = str(address) if family == socket.AF_UNIX else None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                inbound, _ = self._server.accept()
            except OSError:
                return
            family, address = self._target
            outbound = socket.socket(family, socket.SOCK_STREAM)
            try:
                outbound.connect(address)  # type: ignore[arg-type]
            except OSError:
                inbound.close()
                outbound.close()
                continue
            with self._lock:
                self._open += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)


@contextlib.contextmanager
def relays(pairs: Sequence[tuple[str, str]]) -> Iterator[list[Relay]]:
    started: list[Relay] = []
    try:
        for listen, target in pairs:
            started.append(Relay(listen, target))
        yield started
    finally:
        for relay in started:
            relay.close()


def jail_argv(relay_pairs: Sequence[tuple[str, str]], argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` jailed, with these relays inside the namespace."""
    out = ["unshare", "--net", "--", sys.executable, str(Path(__file__).resolve())]
    for listen, target in relay_pairs:
        out += ["--relay", f"{listen}={target}"]
    return [*out, "--", *argv]


def child_of(pid: int, timeout: float = 30.0) -> int:
    """The (first) child process of ``pid``: the jail runs its command as its child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError(f"process {pid} started no child within {timeout:g} s")


def namespace_of(pid: int) -> str:
    """The network namespace a process is in (``net:[inode]``)."""
    return os.readlink(f"/proc/{pid}/ns/net")


def probe_from(pid: int, host: str, port: int) -> str:
    """Connect to ``host:port`` from inside ``pid``'s network namespace; returns ``ok`` or
    the error's name (``ECONNREFUSED``, ``ENETUNREACH``, ...)."""
    code = (
        "import errno, socket, sys\n"
        "s = socket.socket(); s.settimeout(5)\n"
        f"r = s.connect_ex(({host!r}, {port}))\n"
        "print('ok' if r == 0 else errno.errorcode.get(r, str(r)))\n"
    )
    done = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() or done.stderr.strip()


def main(args: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--relay", action="append", default=[], help="LISTEN=TARGET")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    argv = options.argv[1:] if options.argv[:1] == ["--"] else options.argv
    if not argv:
        parser.error("no command to run")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    pairs = [tuple(text.split("=", 1)) for text in options.relay]
    with relays(pairs) as _:
        child = subprocess.Popen(argv)

        def forward(signum: int, _frame: object) -> None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
