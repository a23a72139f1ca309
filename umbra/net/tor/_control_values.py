"""Values read from tor's control-port text: bootstrap progress, versions, onion keys,
and the SAFECOOKIE hashes. Pure functions, no I/O."""

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from hashlib import sha256

from ._control_protocol import parse_keywords
from ._errors import TorError, TorProtocolError

# control-spec.txt 3.24 (AUTHCHALLENGE): the HMAC keys of SAFECOOKIE authentication.
SAFECOOKIE_SERVER_KEY = b"Tor safe cookie authentication server-to-controller hash"
SAFECOOKIE_CLIENT_KEY = b"Tor safe cookie authentication controller-to-server hash"
SERVICE_ID = re.compile(r"[a-z2-7]{56}")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class BootstrapProgress:
    percent: int  # 0–100; 100 means tor can build circuits
    tag: str  # tor's phase name, e.g. "conn_done", "done"
    summary: str  # tor's words for the phase, e.g. "Connected to a relay"
    warning: str | None = None  # why progress is stuck, when tor says so


@dataclass(frozen=True)
class OnionService:
    service_id: str  # the 56 base32 characters before ``.onion``
    private_key: str  # ``ED25519-V3:<base64>`` as tor gives it; keep it secret
    pow_defense: bool = False  # whether the proof-of-work defence was switched on

    @property
    def onion_address(self) -> str:
        return f"{self.service_id}.onion"


def tor_version_tuple(text: str) -> tuple[int, int, int, int]:
    """``0.4.9.11 (git-…)`` → ``(0, 4, 9, 11)``.

    Raises:
        TorProtocolError: no version number in the text.
    """
    match = _VERSION.match(text.strip())
    if match is None:
        raise TorProtocolError(f"tor sent no version number: {text[:60]!r}")
    a, b, c, d = (int(part) for part in match.groups())
    return a, b, c, d


def check_onion_key(key: str) -> str:
    """An ``ED25519-V3:<base64 of 64 bytes>`` key as ADD_ONION takes it; refuses anything else.

    Raises:
        TorError: the stored key is not one.
    """
    kind, _, blob = key.partition(":")
    try:
        raw = base64.b64decode(blob.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if kind != "ED25519-V3" or len(raw) != 64:
        raise TorError("the stored onion service key is not an ED25519-V3 key; it cannot be used")
    return key


def parse_bootstrap(text: str) -> BootstrapProgress | None:
    """A ``[STATUS_CLIENT] NOTICE BOOTSTRAP PROGRESS=… TAG=… SUMMARY=…`` text, else ``None``."""
    words, values = parse_keywords(text)
    if "BOOTSTRAP" not in words[:3] or not values.get("PROGRESS", "").isdigit():
        return None
    percent = int(values["PROGRESS"])
    if percent > 100:
        raise TorProtocolError(f"bootstrap progress {percent}% from tor")
    return BootstrapProgress(
        percent, values.get("TAG", ""), values.get("SUMMARY", ""), values.get("WARNING")
    )


def is_news(progress: BootstrapProgress, last: BootstrapProgress | None) -> bool:
    """Tor's progress only moves forward; an older figure (an event queued before the poll
    that answered later) is stale. A new warning at the same figure is news."""
    if last is None or progress.percent > last.percent:
        return True
    return progress.percent == last.percent and progress.warning not in (None, last.warning)


def safecookie_hashes(
    cookie: bytes, client_nonce: bytes, server_nonce: bytes
) -> tuple[bytes, bytes]:
    """(the hash tor must send, the hash we send) for SAFECOOKIE authentication."""
    message = cookie + client_nonce + server_nonce
    return (
        hmac.new(SAFECOOKIE_SERVER_KEY, message, sha256).digest(),
        hmac.new(SAFECOOKIE_CLIENT_KEY, message, sha256).digest(),
    )
