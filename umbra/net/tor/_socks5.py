"""A SOCKS5 client for tor's SocksPort: a sans-IO machine and a trio driver.

RFC 1928 CONNECT with a DOMAINNAME target only (tor resolves the name; we never send an IP
we resolved ourselves), optionally with RFC 1929 username/password, which tor does not check
but uses for stream isolation (``IsolateSOCKSAuth``, on by default): streams with different
credentials never share a circuit. The machine says how many bytes it needs next, so the
driver reads the server's replies EXACTLY and the first byte after the CONNECT reply (the
tunnelled protocol's) stays in the stream.
"""

import enum
import ipaddress

import trio

from ._endpoints import Endpoint, open_endpoint
from ._errors import Socks5Refused, TorError, TorProtocolError

SOCKS_VERSION = 5
AUTH_VERSION = 1  # RFC 1929 subnegotiation version
METHOD_NONE = 0x00
METHOD_USERNAME_PASSWORD = 0x02
METHOD_REFUSED = 0xFF
CMD_CONNECT = 0x01
ATYP_IPV4 = 0x01
ATYP_DOMAINNAME = 0x03
ATYP_IPV6 = 0x04

# RFC 1928 reply codes, then tor's ExtendedErrors codes (tor's socks-extensions.txt).
REPLY_REASONS = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
    0xF0: "onion service descriptor can not be found",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service missing client authorization",
    0xF5: "onion service wrong client authorization",
    0xF6: "onion service invalid address",
    0xF7: "onion service introduction timed out",
}


class _State(enum.Enum):
    METHOD = "method reply"
    AUTH = "authentication reply"
    REPLY_HEAD = "connect reply"
    REPLY_NAME_LENGTH = "connect reply name length"
    REPLY_ADDRESS = "connect reply address"
    DONE = "done"


class Socks5Connect:
    """One SOCKS5 CONNECT to ``host:port`` as a sans-IO machine.

    Use: send `data_to_send()`, then while not `done`: read at most `bytes_needed()` bytes,
    `receive_data()` them, and send `data_to_send()` again. Any failure raises (and keeps
    raising): `Socks5Refused` when tor said no, `TorProtocolError` for malformed replies.
    Bytes received beyond the CONNECT reply are kept in `unused_data`.

    Args:
        host: a DNS name (e.g. a ``.onion``), 1–255 bytes of ASCII; IP literals are refused.
        port: 1–65535.
        username, password: RFC 1929 credentials (1–255 bytes each), both or neither.
    """

    def __init__(
        self, host: str, port: int, *, username: str | None = None, password: str | None = None
    ) -> None:
        self.target = f"{host}:{port}"
        self._host = _check_host(host)
        if not 0 < port < 65536:
            raise TorError(f"bad port {port} for {host}: expected 1-65535")
        self._port = port
        if (username is None) != (password is None):
            raise TorError("SOCKS5 credentials need both a username and a password")
        self._credentials = None
        if username is not None and password is not None:
            self._credentials = (
                _check_field(username, "username"),
                _check_field(password, "password"),
            )
        method = METHOD_NONE if self._credentials is None else METHOD_USERNAME_PASSWORD
        self._method = method
        # Only the one method we mean: with credentials, a server that skips them must refuse.
        self._outgoing = bytearray([SOCKS_VERSION, 1, method])
        self._buffer = bytearray()
        self._state = _State.METHOD
        self._need = 2
        self._failure: TorError | None = None
        self.unused_data = b""

    @property
    def done(self) -> bool:
        """The CONNECT succeeded: the stream now carries the target's bytes."""
        return self._state is _State.DONE

    def data_to_send(self) -> bytes:
        """The bytes to write to the server now (empty when nothing is due)."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def bytes_needed(self) -> int:
        """How many more bytes the current reply needs (0 once done): read no more than this."""
        if self._state is _State.DONE:
            return 0
        return self._need - len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the server, in any split.

        Raises:
            Socks5Refused: tor refused (no acceptable method, credentials, or the CONNECT).
            TorProtocolError: the reply is malformed.
        """
        if self._failure is not None:
            raise self._failure
        try:
            self._receive(data)
        except TorError as exc:
            self._failure = exc
            raise

    def _receive(self, data: bytes) -> None:
        position = 0
        while position < len(data) and self._state is not _State.DONE:
            take = min(self.bytes_needed(), len(data) - position)
            self._buffer += data[position : position + take]
            position += take
            if len(self._buffer) == self._need:
                self._on_message(bytes(self._buffer))
        self.unused_data += data[position:]

    def _on_message(self, message: bytes) -> None:
        """A whole reply part of ``self._need`` bytes has arrived."""
        self._buffer.clear()
        if self._state is _State.METHOD:
            self._on_method(message)
        elif self._state is _State.AUTH:
            if message[0] != AUTH_VERSION:
                raise self._malformed(f"authentication reply version {message[0]}")
            if message[1] != 0:
                raise Socks5Refused(None, "username/password refused", self.target)
            self._send_connect()
        elif self._state is _State.REPLY_HEAD:
            self._on_reply_head(message)
        elif self._state is _State.REPLY_NAME_LENGTH:
            if message[0] == 0:
                raise self._malformed("empty bound domain name")
            self._state, self._need = _State.REPLY_ADDRESS, message[0] + 2  # name, port
        else:  # the bound address and port, which tor fills with zeros: ignored
            self._state = _State.DONE

    def _on_method(self, message: bytes) -> None:
        version, method = message
        if version != SOCKS_VERSION:
            raise self._malformed(f"server speaks SOCKS version {version}, not 5")
        if method == METHOD_REFUSED:
            wanted = "username/password" if self._credentials else "no authentication"
            raise Socks5Refused(None, f"no acceptable method ({wanted})", self.target)
        if method != self._method:
            raise self._malformed(f"server chose method 0x{method:02x}, which we did not offer")
        if self._credentials is None:
            self._send_connect()
            return
        user, password = self._credentials
        self._outgoing += bytes([AUTH_VERSION, len(user)]) + user + bytes([len(password)])
        self._outgoing += password
        self._state, self._need = _State.AUTH, 2

    def _send_connect(self) -> None:
        request = bytes([SOCKS_VERSION, CMD_CONNECT, 0, ATYP_DOMAINNAME, len(self._host)])
        self._outgoing += request + self._host + self._port.to_bytes(2, "big")
        self._state, self._need = _State.REPLY_HEAD, 4

    def _on_reply_head(self, message: bytes) -> None:
        version, reply, reserved, address_type = message
        if version != SOCKS_VERSION:
            raise self._malformed(f"connect reply version {version}")
        if reply != 0:
            reason = REPLY_REASONS.get(reply, "unknown SOCKS5 error")
            raise Socks5Refused(reply, reason, self.target)
        if reserved != 0:
            raise self._malformed(f"reserved byte 0x{reserved:02x} in the connect reply")
        if address_type == ATYP_IPV4:
            self._state, self._need = _State.REPLY_ADDRESS, 4 + 2
        elif address_type == ATYP_IPV6:
            self._state, self._need = _State.REPLY_ADDRESS, 16 + 2
        elif address_type == ATYP_DOMAINNAME:
            self._state, self._need = _State.REPLY_NAME_LENGTH, 1
        else:
            raise self._malformed(f"address type 0x{address_type:02x} in the connect reply")

    def _malformed(self, detail: str) -> TorProtocolError:
        return TorProtocolError(f"bad SOCKS5 reply for {self.target}: {detail} (is it tor?)")


def _check_host(host: str) -> bytes:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise TorError(f"refusing to connect to the IP address {host} through tor: give a name")
    try:
        encoded = host.encode("ascii")
    except UnicodeEncodeError:
        raise TorError(f"bad host name {host!r}: only ASCII names are sent to tor") from None
    if not 0 < len(encoded) < 256 or any(b <= 0x20 or b == 0x7F for b in encoded):
        raise TorError(f"bad host name {host!r}: 1-255 printable ASCII bytes expected")
    return encoded


def _check_field(value: str, name: str) -> bytes:
    encoded = value.encode("utf-8")
    if not 0 < len(encoded) < 256:
        raise TorError(f"SOCKS5 {name} must be 1-255 bytes, got {len(encoded)}")
    return encoded


# No secret: tor isolates streams on username and password together; the username varies.
ISOLATION_PASSWORD = "umbra"  # noqa: S105


async def socks5_connect(
    endpoint: Endpoint, host: str, port: int, *, isolation: str | None = None
) -> trio.SocketStream:
    """Open a stream to ``host:port`` through tor's SOCKS port at ``endpoint``.

    Args:
        isolation: a stream-isolation token (e.g. one per profile): streams with different
            tokens never share a circuit. ``None`` sends no credentials.

    Raises:
        Socks5Refused: tor could not connect (the reason is named).
        TorError: tor's SOCKS port could not be reached, or closed early.
        TorProtocolError: what answered is not a SOCKS5 server.
    """
    password = None if isolation is None else ISOLATION_PASSWORD
    machine = Socks5Connect(host, port, username=isolation, password=password)
    stream = await open_endpoint(endpoint)
    try:
        while True:
            outgoing = machine.data_to_send()
            if outgoing:
                await stream.send_all(outgoing)
            if machine.done:
                return stream
            data = await stream.receive_some(machine.bytes_needed())
            if not data:
                raise TorError(f"tor's SOCKS port {endpoint} closed during the connect to {host}")
            machine.receive_data(data)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
