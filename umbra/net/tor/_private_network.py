"""A private Tor network on loopback, for tests and ``umbra demo --tor``.

Three directory authorities and one relay (four relays: fewer leave onion-service circuits
without a third hop) on 127.0.0.1, with tor's testing options and fast voting, so that a
client bootstraps in well under a minute. `client_torrc_lines` are what a client tor (ours,
started by `start_tor`) needs to join it; `write_client_torrc` puts them in a file for
``--tor-network-file``. Every process is stopped when the block exits.
"""

import base64
import binascii
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import trio

from umbra.store import make_private_dirs, write_private_file

from ._errors import TorError
from ._launcher import RunningTor, free_port, log_tail, start_tor

# Options every tor of the network takes (clients too).
COMMON_LINES = ("TestingTorNetwork 1", "AssumeReachable 1", "ShutdownWaitLength 0")
# Clients only: no vanguards-lite. Its layer-2 set is drawn from relays with the Stable and
# Fast flags, which a young four-relay network gives to only some relays and changes from one
# consensus to the next; a client whose set came out unusable stayed at 95 % ("Could not find
# a node that matches the configured _HSLayer2Nodes set") for minutes. Tests only: a client on
# the public network keeps vanguards-lite.
CLIENT_LINES = ("VanguardsLiteEnabled 0",)
RELAY_LINES = (
    "Address 127.0.0.1",
    "ExitRelay 0",
    "ExitPolicy reject *:*",
)
# Without these a consensus takes ~60 s: vote every 10 s from the start.
AUTHORITY_LINES = (
    "AuthoritativeDirectory 1",
    "V3AuthoritativeDirectory 1",
    "TestingV3AuthInitialVotingInterval 10",
    "TestingV3AuthInitialVoteDelay 2",
    "TestingV3AuthInitialDistDelay 2",
    "V3AuthVotingInterval 10",
    "V3AuthVoteDelay 2",
    "V3AuthDistDelay 2",
    # Every relay a guard and an onion-service directory from the first consensus: flags
    # that change while clients build paths (earned by uptime otherwise) made onion
    # connects fail for minutes ("Failed to find node for hop #2").
    "TestingDirAuthVoteGuard 127.0.0.0/8",
    "TestingDirAuthVoteHSDir 127.0.0.0/8",
)
CONSENSUS_TIMEOUT = 180.0  # a hang detector; the first full consensus takes ~10-30 s
_DUMMY_AUTHORITY = "dummy 127.0.0.1:1 " + "f" * 40


@dataclass(frozen=True)
class _Member:
    name: str
    data_dir: Path
    or_port: int
    dir_port: int | None  # authorities only
    fingerprint: str  # relay identity (RSA) fingerprint, 40 hex digits
    v3_identity: str | None  # authorities only: the authority certificate's fingerprint


class PrivateTorNetwork:
    """Start with ``async with PrivateTorNetwork(root) as network:``; files live under root."""

    def __init__(
        self, root: Path, *, authorities: int = 3, relays: int = 1, tor_binary: str = "tor"
    ) -> None:
        if authorities < 1 or authorities + relays < 4:
            raise TorError("a private Tor network needs an authority and four relays in all")
        self.root = root
        self._counts = (authorities, relays)
        self._tor_binary = tor_binary
        self._members: list[_Member] = []
        self._stack = contextlib.AsyncExitStack()
        self.running: list[RunningTor] = []

    async def __aenter__(self) -> Self:
        make_private_dirs(self.root)
        authorities, relays = self._counts
        for index in range(authorities):
            self._members.append(await self._make_member(f"auth{index}", authority=True))
        for index in range(relays):
            self._members.append(await self._make_member(f"relay{index}", authority=False))
        try:
            for member in self._members:
                running = await self._stack.enter_async_context(
                    start_tor(
                        member.data_dir,
                        extra_torrc_lines=self._member_lines(member),
                        socks=False,
                        tor_binary=self._tor_binary,
                    )
                )
                self.running.append(running)
            await self._wait_for_full_consensus()
        except BaseException:
            await self._stack.aclose()  # each start_tor stops its tor in a shielded scope
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # No shield here: it would wrap the exit of the nurseries entered in __aenter__;
        # each start_tor shields the stopping of its own tor.
        await self._stack.aclose()

    async def _wait_for_full_consensus(self) -> None:
        """Return once an authority's consensus lists every relay as Running, Guard and HSDir.

        A client that bootstraps from an earlier consensus (two relays, no guards) reports
        100% and then cannot reach onion services until it fetches a later one.
        """
        controller = self.running[0].controller
        wanted = {member.fingerprint for member in self._members}
        with trio.move_on_after(CONSENSUS_TIMEOUT):
            while True:
                reply = await controller.command("GETINFO ns/all")
                data = reply.lines[0].data if reply.ok and reply.lines else None
                if data is not None and wanted <= _usable_relays(data.decode("ascii", "replace")):
                    return
                await trio.sleep(0.5)
        raise TorError(
            f"the private Tor network had no consensus with all {len(wanted)} relays within "
            f"{CONSENSUS_TIMEOUT:g} s: {log_tail(self.running[0].log_path)}"
        )

    def directory_lines(self) -> list[str]:
        """One ``DirAuthority`` line per authority."""
        return [
            f"DirAuthority {m.name} orport={m.or_port} no-v2 v3ident={m.v3_identity} "
            f"127.0.0.1:{m.dir_port} {m.fingerprint}"
            for m in self._members
            if m.v3_identity is not None
        ]

    def client_torrc_lines(self) -> list[str]:
        """What a client tor needs to join this network (and nothing else)."""
        if not self._members:
            raise TorError("the private Tor network is not started")
        return [*COMMON_LINES, *CLIENT_LINES, *self.directory_lines()]

    def write_client_torrc(self, path: Path) -> Path:
        """Write `client_torrc_lines` to ``path`` (one per line) for ``--tor-network-file``."""
        write_private_file(path, ("\n".join(self.client_torrc_lines()) + "\n").encode())
        return path

    def _member_lines(self, member: _Member) -> list[str]:
        lines = [
            *COMMON_LINES,
            *self.directory_lines(),
            *RELAY_LINES,
            f"Nickname {member.name}",
            f"ORPort 127.0.0.1:{member.or_port}",
        ]
        if member.dir_port is not None:
            lines += [f"DirPort 127.0.0.1:{member.dir_port}", *AUTHORITY_LINES]
        return lines

    async def _make_member(self, name: str, *, authority: bool) -> _Member:
        data_dir = self.root / name
        keys = data_dir / "keys"
        make_private_dirs(keys)
        or_port = free_port()
        dir_port = free_port() if authority else None
        v3_identity = None
        if authority:
            await _run(
                [
                    "tor-gencert",
                    "--create-identity-key",
                    "--passphrase-fd",
                    "0",
                    "-m",
                    "12",
                    "-a",
                    f"127.0.0.1:{dir_port}",
                    "-i",
                    str(keys / "authority_identity_key"),
                    "-s",
                    str(keys / "authority_signing_key"),
                    "-c",
                    str(keys / "authority_certificate"),
                ],
                stdin=b"\n",
            )
            v3_identity = _certificate_fingerprint(keys / "authority_certificate")
        await _run(
            [
                self._tor_binary,
                "--list-fingerprint",
                "--DataDirectory",
                str(data_dir),
                "--ORPort",
                "1",
                "--DirAuthority",
                _DUMMY_AUTHORITY,
                "--ignore-missing-torrc",
                "-f",
                "/dev/null",
                "--defaults-torrc",
                "/dev/null",
            ]
        )
        fingerprint = _relay_fingerprint(data_dir / "fingerprint")
        return _Member(name, data_dir, or_port, dir_port, fingerprint, v3_identity)


def _usable_relays(network_status: str) -> set[str]:
    """Identity fingerprints (hex) of ``r`` entries whose ``s`` line has Running, Guard and
    HSDir, in a network-status document (GETINFO ns/all)."""
    usable: set[str] = set()
    identity: str | None = None
    for line in network_status.splitlines():
        if line.startswith("r "):
            identity = _identity_hex(line.split(" "))
        elif line.startswith("s ") and identity is not None:
            if {"Running", "Guard", "HSDir"} <= set(line.split(" ")[1:]):
                usable.add(identity)
            identity = None
    return usable


def _identity_hex(fields: list[str]) -> str | None:
    """The 20-byte identity of an ``r`` line (unpadded base64) as hex, or None if malformed."""
    if len(fields) < 3:
        return None
    try:
        raw = base64.b64decode(fields[2] + "=" * (-len(fields[2]) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw.hex().upper() if len(raw) == 20 else None


MAX_NETWORK_FILE = 64 * 1024


def read_torrc_lines(path: Path) -> list[str]:
    """The torrc lines in a file `write_client_torrc` wrote (blank and ``#`` lines skipped).

    Raises:
        TorError: unreadable, over 64 KiB, not UTF-8, or a line with a control character.
    """
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_NETWORK_FILE + 1)
    except OSError as exc:
        raise TorError(f"cannot read the Tor network file {path}: {exc.strerror}") from None
    if len(raw) > MAX_NETWORK_FILE:
        raise TorError(f"the Tor network file {path} is over {MAX_NETWORK_FILE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TorError(f"the Tor network file {path} is not UTF-8 text") from None
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line and not line.startswith("#")]
    for line in lines:
        if any(ord(c) < 0x20 or c == "\x7f" for c in line):
            raise TorError(f"the Tor network file {path} has a control character in {line[:40]!r}")
    return lines


async def _run(argv: Sequence[str], *, stdin: bytes = b"") -> None:
    result = await trio.run_process(
        list(argv), stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise TorError(f"{argv[0]} failed ({result.returncode}): {output[-300:]}")


def _certificate_fingerprint(path: Path) -> str:
    for line in path.read_text(encoding="ascii").splitlines():
        if line.startswith("fingerprint "):
            return _hex40(line.split(" ", 1)[1], path)
    raise TorError(f"no fingerprint in the authority certificate {path}")


def _relay_fingerprint(path: Path) -> str:
    """``NICKNAME HEX`` (tor's DataDirectory/fingerprint file) → ``HEX``."""
    text = path.read_text(encoding="ascii").strip()
    return _hex40(text.split(" ", 1)[-1], path)


def _hex40(text: str, path: Path) -> str:
    value = text.replace(" ", "").strip().upper()
    if len(value) != 40 or any(c not in "0123456789ABCDEF" for c in value):
        raise TorError(f"bad fingerprint in {path}: {text[:60]!r}")
    return value
