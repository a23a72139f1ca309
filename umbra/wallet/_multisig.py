"""Turning on multisig for a wallet file with monero-wallet-cli (Monero 0.18).

Multisig is off by default in 0.18 and no RPC turns it on. The wallet file must be closed in
wallet-rpc first (else the CLI says it is "opened by another wallet program"). The CLI exits 0
even on a wrong password, so we read its output and treat any "Error" line as failure.
``--daemon-ssl disabled`` spares one RSA key generation (about a second) per run.
``--offline`` (with the dummy ``--daemon-address 127.0.0.1:1``) means the CLI connects to no
daemon and looks up no name, so it needs no Tor route (`_daemon_route`) in either mode.

The password goes on stdin, never on the command line (``/proc/PID/cmdline`` is readable by
every local user): without ``--password`` the CLI reads it from stdin to load the wallet,
and ``set`` asks for it once more, so it is written twice.
"""

from pathlib import Path

import trio

from umbra.store import PRIVATE_UMASK

from ._errors import WalletError

CLI = "monero-wallet-cli"
CLI_TIMEOUT = 300


async def enable_multisig(wallet_file: Path, password: str, ringdb_dir: Path) -> None:
    """Set ``enable-multisig-experimental 1`` on a closed wallet file.

    Raises:
        WalletError: the CLI is missing or reported an error.
    """
    argv = [
        CLI,
        "--offline",
        "--daemon-address",
        "127.0.0.1:1",
        "--daemon-ssl",
        "disabled",
        "--wallet-file",
        str(wallet_file),
        "--shared-ringdb-dir",
        str(ringdb_dir),
        "--log-file",
        str(wallet_file.parent / "monero-wallet-cli.log"),
        "--command",
        "set",
        "enable-multisig-experimental",
        "1",
    ]
    try:
        with trio.fail_after(CLI_TIMEOUT):
            # The CLI rewrites the keys file and its log: owner-only whatever our umask.
            # (trio hands ``umask`` to Popen; its type stubs do not list it.)
            result = await trio.run_process(  # type: ignore[call-overload]
                argv,
                stdin=password_lines(password),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                umask=PRIVATE_UMASK,
            )
    except OSError as exc:
        raise WalletError(f"cannot run {CLI}: {exc.strerror}; install Debian's monero") from exc
    except trio.TooSlowError as exc:
        raise WalletError(f"{CLI} did not finish within {CLI_TIMEOUT} s") from exc
    output = (result.stdout + result.stderr).decode(errors="replace")
    errors = [line.strip() for line in output.splitlines() if "Error" in line]
    if result.returncode != 0 or errors:
        detail = errors[0] if errors else f"exit code {result.returncode}"
        raise WalletError(f"could not turn on multisig for {wallet_file.name}: {detail}")


def password_lines(password: str) -> bytes:
    """What the CLI reads on stdin: the password to load the wallet, then again for ``set``.

    Raises:
        WalletError: the password holds a line break (it would split into two answers).
    """
    if "\n" in password or "\r" in password:
        raise WalletError("a wallet password cannot contain a line break")
    line = (password + "\n").encode()
    return line + line
