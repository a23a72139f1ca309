"""One sandbox wallet-rpc process: its record, its login, its ``main`` wallet.

Each process is started with a random digest login that it reads from a 0600 config file
(``rpc-login=USER:PASS``), never from its command line: ``/proc/PID/cmdline`` is readable by
every local user, and the login gives whoever has it the wallet (keys, transfers). Each
``main`` wallet file has its own password, given by the caller; wallets made by older
versions still have the shared `LEGACY_WALLET_PASSWORD` and get their own the first time
they are opened.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from umbra.store import write_private_file

from ._errors import SandboxError, WalletRpcError, WalletUnavailable
from ._processes import process_matches
from ._rpc import Login, RpcClient, RpcStats

WALLET_RPC = "monero-wallet-rpc"
RPC_USER = "umbra"
# Every main wallet of an older Umbra had this password; only used to migrate them.
LEGACY_WALLET_PASSWORD = "sandbox"  # noqa: S105
READY_TIMEOUT_S = 60


@dataclass(frozen=True)
class WalletProcess:
    name: str
    pid: int
    port: int
    user: str
    password: str
    wallet_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, stats: RpcStats | None = None) -> RpcClient:
        return RpcClient(
            self.url,
            what=f"monero-wallet-rpc ({self.name})",
            login=Login(self.user, self.password),
            stats=stats,
        )


def wallet_process(name: str, w: dict[str, Any]) -> WalletProcess:
    """A `WalletProcess` from its record in ``state.json``."""
    return WalletProcess(
        name, int(w["pid"]), int(w["port"]), w["user"], w["password"], Path(w["wallet_dir"])
    )


def wallet_rpc_argv(
    daemon: Sequence[str],
    *,
    port: int,
    login_file: Path,
    wallet_dir: Path,
    ringdb_dir: Path,
    log_file: Path,
) -> list[str]:
    """The command line of a wallet-rpc process Umbra starts (nothing secret on it).

    Args:
        daemon: its daemon options, from `umbra.wallet._daemon_route.daemon_args` (which
            adds ``--proxy`` when the daemon may be reached only through Tor).
        port: its RPC port on 127.0.0.1.
        login_file: the 0600 ``--config-file`` with its digest login (`write_login_file`).
    """
    return [
        WALLET_RPC,
        *daemon,
        "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", str(port), "--rpc-ssl", "disabled",
        "--config-file", str(login_file),
        "--wallet-dir", str(wallet_dir),
        "--shared-ringdb-dir", str(ringdb_dir),
        "--non-interactive",
        "--log-file", str(log_file),
    ]  # fmt: skip


def write_login_file(path: Path, user: str, password: str) -> None:
    """The ``--config-file`` holding a wallet-rpc's login (0600; delete it once it runs)."""
    if not (user.isascii() and user.isalnum()) or not password.isascii() or "\n" in password:
        raise SandboxError("a wallet-rpc login must be one line of ASCII")
    write_private_file(path, f"rpc-login={user}:{password}\n".encode("ascii"))


async def open_or_create_main(
    client: RpcClient, wallet_dir: Path, name: str, password: str
) -> None:
    """Open a wallet process's main wallet (named ``main``), creating it the first time.

    Raises:
        SandboxError: the file opens neither with ``password`` nor with the old shared one.
    """
    # Checking the file first: a failing open_wallet still costs seconds (TLS key).
    if not (wallet_dir / "main.keys").exists():
        await client.call(
            "create_wallet", {"filename": "main", "password": password, "language": "English"}
        )
        return
    try:
        await client.call("open_wallet", {"filename": "main", "password": password})
        return
    except WalletRpcError as exc:
        refused = exc  # wallet-rpc says only "Failed to open wallet" for a wrong password
    # A wallet from before per-wallet passwords: open it with the old shared password
    # once and give it its own. The caller stored ``password`` before calling, so a crash
    # between these two calls leaves a wallet that opens with one of the two.
    try:
        await client.call("open_wallet", {"filename": "main", "password": LEGACY_WALLET_PASSWORD})
    except WalletRpcError:
        raise SandboxError(
            f"the sandbox wallet {name!r} does not open with its password "
            f"({refused.message}); if its password was lost, delete "
            f"{wallet_dir} (test coins only) and run `umbra sandbox up`"
        ) from refused
    await client.call(
        "change_wallet_password",
        {"old_password": LEGACY_WALLET_PASSWORD, "new_password": password},
    )


async def wait_ready(client: RpcClient, method: str, pid: int, binary: str) -> None:
    """Poll ``method`` until the process answers; fail at once if it exits."""
    with trio.move_on_after(READY_TIMEOUT_S):
        while True:
            if not process_matches(pid, [binary]):
                raise SandboxError(f"{binary} exited at start; see the logs under sandbox/logs")
            try:
                await client.call(method, timeout=2)
                return
            except (WalletUnavailable, WalletRpcError):
                await trio.sleep(0.1)
    raise SandboxError(
        f"{binary} did not answer within {READY_TIMEOUT_S} s; see the logs under sandbox/logs"
    )
