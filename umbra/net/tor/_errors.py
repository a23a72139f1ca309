"""Errors of the Tor package, split by who is at fault.

`TorError` is the base: something about Tor failed (it could not be started, reached, or it
refused a command); its message is one line that says what tor answered. `TorProtocolError`
means the bytes tor (or whatever listens on the port we were given) sent do not follow the
control-port or SOCKS5 protocol: that port is probably not tor. `Socks5Refused` means tor
answered a SOCKS5 CONNECT with a failure code; ``reply_code`` and ``reason`` name it.
"""

from .._errors import NetError


class TorError(NetError):
    """Tor could not be started or reached, or it refused what we asked; one line for the user."""


class TorProtocolError(TorError):
    """The peer on a control or SOCKS port broke the protocol (probably not tor)."""


class Socks5Refused(TorError):
    """Tor answered a SOCKS5 request with a failure.

    Attributes:
        reply_code: the SOCKS5 REP byte (RFC 1928 codes, and tor's ExtendedErrors 0xF0–0xF7),
            or ``None`` when the refusal happened before the CONNECT (method or credentials).
        reason: a short name for the code, e.g. ``"host unreachable"``.
    """

    def __init__(self, reply_code: int | None, reason: str, target: str) -> None:
        code = f" (0x{reply_code:02x})" if reply_code is not None else ""
        super().__init__(f"tor could not connect to {target}: {reason}{code}")
        self.reply_code = reply_code
        self.reason = reason
