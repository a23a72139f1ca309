"""Starting, tracking and stopping the helper processes (monerod, monero-wallet-rpc).

Processes run in their own session so that they outlive ``umbra sandbox up`` and are not hit
by a Ctrl-C meant for the CLI. Each one is tracked by a PID file; before signalling a PID we
check ``/proc/PID/cmdline`` still names our binary and our directory, so a recycled PID is
never killed by mistake.

Nothing secret goes on a command line or into the environment: ``/proc/PID/cmdline`` is
readable by every local user. Children run under `PRIVATE_UMASK`, so the logs, wallet files
and chain they write are owner-only whatever the caller's umask.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from umbra.store import PRIVATE_UMASK, make_private_dirs, open_private_append, write_private_file

from ._errors import SandboxError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether TCP ``port`` on 127.0.0.1 can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_process(argv: Sequence[str], *, log: Path, pid_file: Path) -> int:
    """Start ``argv`` detached, output to ``log``, and write its PID to ``pid_file``.

    ``argv`` must hold no secret (see the module notes); everything is created owner-only.
    """
    make_private_dirs(log.parent)
    make_private_dirs(pid_file.parent)
    with open(open_private_append(log), "ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                umask=PRIVATE_UMASK,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc.strerror}") from exc
    write_private_file(pid_file, f"{proc.pid}\n".encode("ascii"))
    # The child is reaped by whoever waits for it; detach our Popen so no zombie warning.
    proc.returncode = 0
    return proc.pid


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def process_matches(pid: int, needles: Sequence[str]) -> bool:
    """Whether PID is alive (not a zombie) and its command line contains every needle."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    if state in ("Z", "X"):
        _reap(pid)
        return False
    return all(needle in cmdline for needle in needles)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid(pid: int, needles: Sequence[str], *, grace: float = 10.0) -> bool:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns whether it was running."""
    if not process_matches(pid, needles):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, needles, grace):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, needles, 5.0)
    return True


def kill_pid(pid: int, needles: Sequence[str]) -> None:
    """SIGKILL at once (tests use it to simulate a crash)."""
    if process_matches(pid, needles):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, needles, 5.0)


def wait_gone(pid: int, needles: Sequence[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not process_matches(pid, needles):
            return True
        time.sleep(0.05)
    return not process_matches(pid, needles)


def rss_bytes(pid: int) -> int | None:
    """Resident set size of PID from ``/proc/PID/status`` (None if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None
