"""`TorController`: a trio client for tor's control port (the few commands Umbra needs).

One task reads the port and routes each reply: command replies to the one command waiting
(commands are sent one at a time), ``650`` events to the subscribers that asked for them.
Onion services added here belong to this control connection: tor removes them when it closes.
"""

import contextlib
import hmac
import ipaddress
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import trio

from ._control_protocol import (
    ControlReplyParser,
    Reply,
    check_argument,
    parse_keywords,
    parse_quoted_list,
)
from ._control_values import (
    SERVICE_ID,
    BootstrapProgress,
    OnionService,
    check_onion_key,
    is_news,
    parse_bootstrap,
    safecookie_hashes,
    tor_version_tuple,
)
from ._endpoints import Endpoint, open_endpoint, parse_endpoint
from ._errors import TorError, TorProtocolError
from ._hs_uploads import UploadTracker

COOKIE_SIZE = 32
# ADD_ONION's PoWDefensesEnabled is known to tor 0.4.9.2-alpha and later.
POW_MIN_VERSION = (0, 4, 9, 2)
_EVENT_BUFFER = 256


@contextlib.asynccontextmanager
async def open_tor_controller(endpoint: Endpoint) -> AsyncIterator["TorController"]:
    """Connect to tor's control port at ``endpoint`` (not yet authenticated).

    Raises:
        TorError: nothing listens there.
    """
    stream = await open_endpoint(endpoint)
    async with controller_on_stream(stream, endpoint) as controller:
        yield controller


@contextlib.asynccontextmanager
async def controller_on_stream(
    stream: trio.abc.Stream, endpoint: Endpoint
) -> AsyncIterator["TorController"]:
    """A `TorController` over an open stream to tor (closed when the block exits)."""
    controller = TorController(stream, endpoint)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(controller._read_replies)
            try:
                yield controller
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


class TorController:
    """Commands to one tor over its control port. Make it with `open_tor_controller`."""

    def __init__(self, stream: trio.abc.Stream, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._stream = stream
        self._parser = ControlReplyParser()
        self._replies_in, self._replies = trio.open_memory_channel[Reply](4)
        self._lock = trio.Lock()
        self._closed: str | None = None  # why the connection is unusable
        self._subscribers: dict[trio.MemorySendChannel[Reply], frozenset[str]] = {}
        self._events_on: set[str] = set()
        self._uploads = UploadTracker()
        self._uploads_changed = trio.Event()
        self._version: str | None = None

    # -- the reader task ------------------------------------------------------------------

    async def _read_replies(self) -> None:
        try:
            while True:
                data = await self._stream.receive_some(65536)
                if not data:
                    raise TorError(f"tor closed its control port {self.endpoint}")
                self._parser.receive_data(data)
                while (reply := self._parser.next_reply()) is not None:
                    self._route(reply)
        except (TorError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._closed = str(exc) if isinstance(exc, TorError) else f"lost tor at {self.endpoint}"
        finally:
            self._replies_in.close()
            for channel in list(self._subscribers):
                channel.close()
            self._uploads_changed.set()

    def _route(self, reply: Reply) -> None:
        if not reply.is_event:
            try:
                self._replies_in.send_nowait(reply)
            except trio.WouldBlock:
                raise TorProtocolError("tor sent replies to commands we did not send") from None
            return
        name = reply.lines[0].text.split(" ", 1)[0]
        if name == "HS_DESC":
            self._on_hs_desc(reply.lines[0].text)
        for channel, names in list(self._subscribers.items()):
            if name in names:
                try:
                    channel.send_nowait(reply)
                except trio.WouldBlock:  # a subscriber that stopped reading loses its feed
                    channel.close()
                    del self._subscribers[channel]

    def _on_hs_desc(self, text: str) -> None:
        words, values = parse_keywords(text)
        if self._uploads.on_event(words, values):
            self._uploads_changed.set()
            self._uploads_changed = trio.Event()

    # -- commands ------------------------------------------------------------------------

    async def command(self, line: str) -> Reply:
        """Send one command line and return tor's reply (any status).

        Raises:
            TorError: the connection is gone.
        """
        payload = check_argument(line).encode("utf-8") + b"\r\n"
        async with self._lock:
            if self._closed is not None:
                raise TorError(self._closed)
            answered = False
            try:
                await self._stream.send_all(payload)
                reply = await self._replies.receive()
                answered = True
            except (trio.EndOfChannel, trio.BrokenResourceError, trio.ClosedResourceError):
                raise TorError(self._closed or f"lost tor at {self.endpoint}") from None
            finally:
                if not answered and self._closed is None:
                    # A reply may still come for this command; the next one would read it.
                    self._closed = f"a command to tor at {self.endpoint} was interrupted"
        return reply

    async def _ok(self, line: str, what: str) -> Reply:
        reply = await self.command(line)
        if not reply.ok:
            raise TorError(f"tor refused {what}: {reply.summary()}")
        return reply

    async def authenticate(self) -> str:
        """Authenticate as tor offers: SAFECOOKIE, else COOKIE, else none (NULL).

        Returns:
            The method used: ``"SAFECOOKIE"``, ``"COOKIE"`` or ``"NULL"``.

        Raises:
            TorError: tor wants a password, the cookie file is unreadable or not 32 bytes, or
                tor's SAFECOOKIE answer shows the cookie is not this tor's.
        """
        reply = await self._ok("PROTOCOLINFO 1", "PROTOCOLINFO")
        methods: set[str] = set()
        cookie_file: str | None = None
        for line in reply.lines:
            words, values = parse_keywords(line.text)
            if words[:1] == ["AUTH"]:
                methods = set(values.get("METHODS", "").split(","))
                cookie_file = values.get("COOKIEFILE")
            elif words[:1] == ["VERSION"]:
                self._version = values.get("Tor")
        if "SAFECOOKIE" in methods and cookie_file:
            cookie = _read_cookie(cookie_file)
            client_nonce = os.urandom(32)
            challenge = await self._ok(
                f"AUTHCHALLENGE SAFECOOKIE {client_nonce.hex()}", "AUTHCHALLENGE"
            )
            _, values = parse_keywords(challenge.lines[-1].text)
            try:
                server_hash = bytes.fromhex(values.get("SERVERHASH", ""))
                server_nonce = bytes.fromhex(values.get("SERVERNONCE", ""))
            except ValueError:
                raise TorProtocolError("bad AUTHCHALLENGE reply from tor") from None
            expected, ours = safecookie_hashes(cookie, client_nonce, server_nonce)
            if not hmac.compare_digest(expected, server_hash):
                raise TorError(
                    f"tor at {self.endpoint} does not know the cookie in {cookie_file}: "
                    "is it the tor that wrote that file?"
                )
            await self._ok(f"AUTHENTICATE {ours.hex()}", "authentication")
            return "SAFECOOKIE"
        if "COOKIE" in methods and cookie_file:
            await self._ok(f"AUTHENTICATE {_read_cookie(cookie_file).hex()}", "authentication")
            return "COOKIE"
        if "NULL" in methods:
            await self._ok("AUTHENTICATE", "authentication")
            return "NULL"
        offered = ",".join(sorted(methods)) or "none"
        raise TorError(
            f"tor at {self.endpoint} offers {offered} authentication; Umbra uses cookie "
            "authentication: set CookieAuthentication 1 in its torrc"
        )

    async def take_ownership(self) -> None:
        """Make tor exit when this connection closes (so our own tor dies with us)."""
        await self._ok("TAKEOWNERSHIP", "TAKEOWNERSHIP")

    async def get_info(self, *keys: str) -> dict[str, str]:
        """GETINFO: each key's value (data blocks decoded as text)."""
        reply = await self._ok("GETINFO " + " ".join(keys), "GETINFO " + " ".join(keys))
        values: dict[str, str] = {}
        for line in reply.lines:
            key, sep, value = line.text.partition("=")
            if not sep:
                continue
            if line.data is not None:
                value = line.data.decode("utf-8", "surrogateescape")
            values[key] = value
        missing = [key for key in keys if key not in values]
        if missing:
            raise TorProtocolError(f"tor's GETINFO reply lacks {', '.join(missing)}")
        return values

    async def version(self) -> str:
        """Tor's version string, e.g. ``0.4.9.11``."""
        if self._version is None:
            self._version = (await self.get_info("version"))["version"].split(" ")[0]
        return self._version

    async def bootstrap_progress(self) -> BootstrapProgress:
        text = (await self.get_info("status/bootstrap-phase"))["status/bootstrap-phase"]
        progress = parse_bootstrap(text)
        if progress is None:
            raise TorProtocolError(f"unexpected bootstrap status from tor: {text[:80]!r}")
        return progress

    async def watch_bootstrap(
        self, *, poll_interval: float = 5.0
    ) -> AsyncIterator[BootstrapProgress]:
        """Each new bootstrap state until 100% (from STATUS_CLIENT events, polled as a
        fallback every ``poll_interval`` s). Use with ``contextlib.aclosing``."""
        async with self._subscribe("STATUS_CLIENT") as events:
            last: BootstrapProgress | None = None
            progress: BootstrapProgress | None = await self.bootstrap_progress()
            while True:
                if progress is not None and is_news(progress, last):
                    last = progress
                    yield progress
                    if progress.percent >= 100:
                        return
                progress = None
                with trio.move_on_after(poll_interval):
                    try:
                        event = await events.receive()
                    except trio.EndOfChannel:
                        raise TorError(self._closed or "tor's event feed stopped") from None
                    progress = parse_bootstrap(event.lines[0].text.partition(" ")[2])
                if progress is None:
                    progress = await self.bootstrap_progress()

    async def wait_bootstrapped(
        self, *, on_progress: Callable[[BootstrapProgress], None] | None = None
    ) -> None:
        """Return once tor is 100% bootstrapped, calling ``on_progress`` for each new state."""
        async with contextlib.aclosing(self.watch_bootstrap()) as states:  # type: ignore[type-var]
            async for progress in states:
                if on_progress is not None:
                    on_progress(progress)

    async def socks_endpoints(self) -> tuple[Endpoint, ...]:
        """Where tor's SOCKS ports listen (GETINFO net/listeners/socks)."""
        text = (await self.get_info("net/listeners/socks"))["net/listeners/socks"]
        try:
            return tuple(parse_endpoint(item) for item in parse_quoted_list(text))
        except TorError as exc:
            raise TorProtocolError(f"bad SOCKS listener list from tor: {exc}") from None

    @contextlib.asynccontextmanager
    async def _subscribe(self, *names: str) -> AsyncIterator[trio.MemoryReceiveChannel[Reply]]:
        send, receive = trio.open_memory_channel[Reply](_EVENT_BUFFER)
        self._subscribers[send] = frozenset(names)
        try:
            await self._enable_events(*names)
            yield receive
        finally:
            self._subscribers.pop(send, None)
            send.close()

    async def _enable_events(self, *names: str) -> None:
        if set(names) <= self._events_on:
            return
        wanted = self._events_on | set(names)
        await self._ok("SETEVENTS " + " ".join(sorted(wanted)), "SETEVENTS")
        self._events_on = wanted

    # -- onion services ------------------------------------------------------------------

    async def add_onion(
        self,
        key: str | None,
        virtual_port: int,
        target_host: str,
        target_port: int,
        *,
        pow_defense: bool,
    ) -> OnionService:
        """Publish an onion service forwarding ``virtual_port`` to ``target_host:target_port``.

        Args:
            key: a key from an earlier call (same .onion), or ``None`` for a new one (tor
                makes it and returns it: store it to keep the address).
            target_host: an IP literal (tor connects there for each incoming stream).
            pow_defense: switch on the proof-of-work defence against introduction floods,
                if this tor supports it (see the result's ``pow_defense``).

        Raises:
            TorError: tor refused (the message says what it answered).
        """
        key_argument = "NEW:ED25519-V3" if key is None else check_onion_key(key)
        try:
            host = ipaddress.ip_address(target_host)
        except ValueError:
            raise TorError(
                f"onion service target must be an IP address, not {target_host!r}"
            ) from None
        for port in (virtual_port, target_port):
            if not 0 < port < 65536:
                raise TorError(f"bad port {port} for an onion service")
        target = f"[{host}]" if host.version == 6 else str(host)
        parts = ["ADD_ONION", key_argument, f"Port={virtual_port},{target}:{target_port}"]
        use_pow = pow_defense and await self.supports_pow()
        if use_pow:
            parts.append("PoWDefensesEnabled=1")
        await self._enable_events("HS_DESC")  # before the upload can start
        reply = await self._ok(" ".join(parts), "ADD_ONION")
        values: dict[str, str] = {}
        for line in reply.lines:
            name, sep, value = line.text.partition("=")
            if sep:
                values[name] = value
        service_id = values.get("ServiceID", "")
        if not SERVICE_ID.fullmatch(service_id):
            raise TorProtocolError(f"tor's ADD_ONION reply has a bad ServiceID {service_id[:60]!r}")
        private_key = key if key is not None else check_onion_key(values.get("PrivateKey", ""))
        return OnionService(service_id, private_key, use_pow)

    async def supports_pow(self) -> bool:
        return tor_version_tuple(await self.version()) >= POW_MIN_VERSION

    async def wait_published(self, service_id: str, timeout: float) -> None:
        """Wait until tor has finished uploading the service's descriptors.

        Returns once every upload tor started has been answered and at least one HSDir took
        the descriptor (a visitor asking an HSDir still waiting for its copy is told the
        service does not exist), or at ``timeout`` if some HSDir took it by then.

        Raises:
            TorError: no HSDir took it within ``timeout`` seconds (the message gives tor's
                last upload failure, if any), or the connection to tor was lost.
        """
        with trio.move_on_after(timeout):
            while not self._uploads.published(service_id):
                if self._closed is not None:
                    raise TorError(self._closed)
                await self._uploads_changed.wait()
        if self._uploads.uploaded(service_id):
            return
        failure = self._uploads.last_failure(service_id)
        detail = f" (last failure: {failure})" if failure else ""
        raise TorError(f"tor did not publish {service_id}.onion within {timeout:g} s{detail}")

    async def del_onion(self, service_id: str) -> None:
        """Remove an onion service this connection added."""
        if not SERVICE_ID.fullmatch(service_id):
            raise TorError(f"bad onion service id {service_id[:60]!r}")
        await self._ok(f"DEL_ONION {service_id}", "DEL_ONION")
        self._uploads.forget(service_id)  # so a re-added service waits for a new upload


def _read_cookie(cookie_file: str) -> bytes:
    """Read tor's 32-byte authentication cookie; anything else is refused."""
    try:
        path = Path(os.fsdecode(cookie_file.encode("latin-1")))
    except UnicodeEncodeError:
        path = Path(cookie_file)
    try:
        with open(path, "rb") as file:
            cookie = file.read(COOKIE_SIZE + 1)
    except OSError as exc:
        raise TorError(f"cannot read tor's cookie file {path}: {exc.strerror}") from None
    if len(cookie) != COOKIE_SIZE:
        raise TorError(f"tor's cookie file {path} is not {COOKIE_SIZE} bytes: refusing it")
    return cookie
