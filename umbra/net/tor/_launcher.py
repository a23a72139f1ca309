"""Run our own ``tor``: its torrc, data and log under a directory we give, and it dies with us.

`start_tor` writes ``<data_dir>/torrc``, starts ``tor -f`` it in its own session, waits for
the control port file tor writes, authenticates with tor's cookie and sends TAKEOWNERSHIP:
when our control connection closes (we exit, or crash: the kernel closes the socket) tor
exits. ``__OwningControllerProcess`` covers the moment before that connection exists.
"""

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from umbra.store import make_private_dirs, open_private_append, write_private_file

from ._control_protocol import check_argument, quote
from ._controller import TorController, open_tor_controller
from ._endpoints import Endpoint, TcpEndpoint
from ._errors import TorError

CONTROL_PORT_FILE = "control-port"
LOG_FILE = "tor.log"
TORRC_FILE = "torrc"
_LOG_TAIL_LINES = 8


@dataclass(frozen=True)
class RunningTor:
    data_dir: Path
    control: Endpoint
    socks_endpoints: tuple[Endpoint, ...]  # empty for a relay started with socks=False
    process: trio.Process
    controller: TorController  # authenticated; owns the tor process
    auth_method: str  # how the controller authenticated (SAFECOOKIE with our own tor)
    log_path: Path

    @property
    def socks(self) -> Endpoint:
        """The first SOCKS port (raises `TorError` when tor has none)."""
        if not self.socks_endpoints:
            raise TorError(f"the tor in {self.data_dir} has no SOCKS port")
        return self.socks_endpoints[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of tor's log, joined with `` | `` for one-line errors."""
    try:
        with open(log_path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 8192))
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text.splitlines()[-lines:]) or "(empty log)"


def torrc_text(data_dir: Path, *, socks: bool, extra_lines: Sequence[str]) -> str:
    lines = [
        f"DataDirectory {quote(str(data_dir))}",
        "ControlPort auto",
        f"ControlPortWriteToFile {quote(str(data_dir / CONTROL_PORT_FILE))}",
        "CookieAuthentication 1",
        f"CookieAuthFile {quote(str(data_dir / 'control_auth_cookie'))}",
        # ExtendedErrors: SOCKS replies say why an onion failed (descriptor not found, ...).
        "SocksPort auto ExtendedErrors" if socks else "SocksPort 0",
        f"__OwningControllerProcess {os.getpid()}",
        "Log notice stdout",
        *(check_argument(line) for line in extra_lines),
    ]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def start_tor(
    data_dir: Path,
    *,
    extra_torrc_lines: Sequence[str] = (),
    socks: bool = True,
    tor_binary: str = "tor",
    start_timeout: float = 60.0,
) -> AsyncIterator[RunningTor]:
    """Run ``tor`` with its data under ``data_dir`` until the block exits.

    Args:
        extra_torrc_lines: appended to the torrc (e.g. a private network's lines).
        socks: open a SOCKS port (``auto``: tor picks a free one); relays pass ``False``.

    Raises:
        TorError: tor could not be started, exited, or wrote no control port file within
            ``start_timeout`` seconds; the message ends with the last lines of its log.
    """
    data_dir = data_dir.resolve()
    make_private_dirs(data_dir)
    torrc = data_dir / TORRC_FILE
    port_file = data_dir / CONTROL_PORT_FILE
    log_path = data_dir / LOG_FILE
    write_private_file(
        torrc, torrc_text(data_dir, socks=socks, extra_lines=extra_torrc_lines).encode()
    )
    port_file.unlink(missing_ok=True)  # a stale one from an earlier run would mislead us
    argv = [tor_binary, "-f", str(torrc), "--defaults-torrc", os.devnull]
    log_fd = open_private_append(log_path)
    try:
        process = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,  # a Ctrl-C meant for us reaches tor only through us
        )
    except OSError as exc:
        raise TorError(f"cannot start {tor_binary}: {exc.strerror or exc}") from None
    finally:
        os.close(log_fd)
    try:
        control = await _wait_control_port(process, port_file, log_path, start_timeout)
        async with open_tor_controller(control) as controller:
            auth_method = await controller.authenticate()
            await controller.take_ownership()
            socks_endpoints = await controller.socks_endpoints() if socks else ()
            yield RunningTor(
                data_dir, control, socks_endpoints, process, controller, auth_method, log_path
            )
    finally:
        with trio.CancelScope(shield=True):
            await _stop(process)


async def _wait_control_port(
    process: trio.Process, port_file: Path, log_path: Path, timeout: float
) -> Endpoint:
    with trio.move_on_after(timeout):
        while True:
            if process.poll() is not None:
                raise TorError(f"tor exited with status {process.returncode}: {log_tail(log_path)}")
            endpoint = _read_port_file(port_file)
            if endpoint is not None:
                return endpoint
            await trio.sleep(0.05)
    raise TorError(f"tor wrote no control port file within {timeout:g} s: {log_tail(log_path)}")


def _read_port_file(port_file: Path) -> Endpoint | None:
    """``PORT=127.0.0.1:NNNN`` from tor's ControlPortWriteToFile (None until it is there)."""
    try:
        text = port_file.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        host, _, port = value.rpartition(":")
        if key == "PORT" and port.isdigit() and host == "127.0.0.1":
            return TcpEndpoint(host, int(port))
    return None


async def _stop(process: trio.Process) -> None:
    """SIGTERM (a client tor exits at once), then SIGKILL after 10 s."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with trio.move_on_after(10):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
