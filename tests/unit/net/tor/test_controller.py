"""TorController against a scripted control port: what it sends, and how it takes tor's
answers, good and hostile. (The real tor is exercised in tests/integration/tor.)"""

import hmac
from collections.abc import Awaitable, Callable
from hashlib import sha256
from pathlib import Path

import pytest
import trio
import trio.testing

from umbra.net.tor import (
    BootstrapProgress,
    TcpEndpoint,
    TorController,
    TorError,
    TorProtocolError,
    controller_on_stream,
    parse_bootstrap,
    tor_version_tuple,
)

COOKIE = bytes(range(32))
SERVER_NONCE = b"\x07" * 32
SERVICE_ID = "a" * 56
KEY = "ED25519-V3:" + "A" * 86 + "=="


class ScriptedTor:
    """Answers each command line with the reply its prefix maps to; records what it got."""

    def __init__(self, answers: dict[str, Callable[[str], bytes]]) -> None:
        self.answers = answers
        self.received: list[str] = []
        self.stream: trio.abc.Stream | None = None

    async def send_event(self, text: str) -> None:
        assert self.stream is not None
        await self.stream.send_all(f"650 {text}\r\n".encode())

    async def serve(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        buffer = b""
        while True:
            data = await stream.receive_some()
            if not data:
                return
            buffer += data
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                text = line.decode()
                self.received.append(text)
                answer = next(
                    (make for prefix, make in self.answers.items() if text.startswith(prefix)),
                    lambda _: b"510 Unrecognized command\r\n",
                )
                await stream.send_all(answer(text))


def _protocolinfo(methods: str, cookie_file: Path) -> Callable[[str], bytes]:
    return lambda _: (
        f'250-PROTOCOLINFO 1\r\n250-AUTH METHODS={methods} COOKIEFILE="{cookie_file}"\r\n'
        '250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n'
    ).encode()


def _safecookie_challenge(server_hash: Callable[[bytes], bytes]) -> Callable[[str], bytes]:
    def answer(line: str) -> bytes:
        client_nonce = bytes.fromhex(line.split()[-1])
        digest = server_hash(client_nonce)
        return (
            f"250 AUTHCHALLENGE SERVERHASH={digest.hex()} SERVERNONCE={SERVER_NONCE.hex()}\r\n"
        ).encode()

    return answer


def _spec_hash(key: bytes, client_nonce: bytes) -> bytes:
    # control-spec.txt 3.24, written out here independently of the module's constants.
    return hmac.new(key, COOKIE + client_nonce + SERVER_NONCE, sha256).digest()


def _ok(_: str) -> bytes:
    return b"250 OK\r\n"


def _run(tor: ScriptedTor, body: Callable[[TorController], Awaitable[None]]) -> None:
    async def main() -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tor.serve, theirs)
            async with controller_on_stream(ours, TcpEndpoint("127.0.0.1", 9051)) as controller:
                await body(controller)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_safecookie_proves_both_sides_know_the_cookie(tmp_path: Path) -> None:
    cookie_file = tmp_path / "control_auth_cookie"
    cookie_file.write_bytes(COOKIE)
    server_key = b"Tor safe cookie authentication server-to-controller hash"
    client_key = b"Tor safe cookie authentication controller-to-server hash"
    tor = ScriptedTor(
        {
            "PROTOCOLINFO 1": _protocolinfo("COOKIE,SAFECOOKIE", cookie_file),
            "AUTHCHALLENGE SAFECOOKIE ": _safecookie_challenge(
                lambda nonce: _spec_hash(server_key, nonce)
            ),
            "AUTHENTICATE ": _ok,
        }
    )

    async def body(controller: TorController) -> None:
        assert await controller.authenticate() == "SAFECOOKIE"
        assert await controller.version() == "0.4.9.11"

    _run(tor, body)
    client_nonce = bytes.fromhex(tor.received[1].split()[-1])
    assert tor.received[2] == "AUTHENTICATE " + _spec_hash(client_key, client_nonce).hex()


def test_a_tor_that_does_not_know_the_cookie_gets_no_authenticate(tmp_path: Path) -> None:
    cookie_file = tmp_path / "cookie"
    cookie_file.write_bytes(COOKIE)
    tor = ScriptedTor(
        {
            "PROTOCOLINFO 1": _protocolinfo("SAFECOOKIE", cookie_file),
            "AUTHCHALLENGE": _safecookie_challenge(lambda nonce: b"\x00" * 32),
            "AUTHENTICATE": _ok,
        }
    )

    async def body(controller: TorController) -> None:
        with pytest.raises(TorError, match="does not know the cookie"):
            await controller.authenticate()

    _run(tor, body)
    assert not any(line.startswith("AUTHENTICATE") for line in tor.received)


@pytest.mark.parametrize("size", [0, 31, 33, 1000])
def test_a_cookie_file_that_is_not_32_bytes_is_refused(tmp_path: Path, size: int) -> None:
    cookie_file = tmp_path / "cookie"
    cookie_file.write_bytes(b"\x01" * size)
    tor = ScriptedTor({"PROTOCOLINFO 1": _protocolinfo("COOKIE", cookie_file), "AUTH": _ok})

    async def body(controller: TorController) -> None:
        with pytest.raises(TorError, match="not 32 bytes"):
            await controller.authenticate()

    _run(tor, body)
    assert tor.received == ["PROTOCOLINFO 1"]


def test_cookie_and_password_only_tors(tmp_path: Path) -> None:
    cookie_file = tmp_path / "cookie"
    cookie_file.write_bytes(COOKIE)
    tor = ScriptedTor({"PROTOCOLINFO 1": _protocolinfo("COOKIE", cookie_file), "AUTH": _ok})

    async def cookie(controller: TorController) -> None:
        assert await controller.authenticate() == "COOKIE"

    _run(tor, cookie)
    assert tor.received[-1] == "AUTHENTICATE " + COOKIE.hex()

    password_only = ScriptedTor({"PROTOCOLINFO 1": _protocolinfo("HASHEDPASSWORD", cookie_file)})

    async def refused(controller: TorController) -> None:
        with pytest.raises(TorError, match="set CookieAuthentication 1"):
            await controller.authenticate()

    _run(password_only, refused)


def test_add_onion_sends_key_port_and_pow_and_waits_for_the_upload() -> None:
    def add_onion(line: str) -> bytes:
        reply = f"250-ServiceID={SERVICE_ID}\r\n"
        if "NEW:" in line:
            reply += f"250-PrivateKey={KEY}\r\n"
        reply += "250 OK\r\n"
        # The upload events can come right behind the reply.
        for hsdir in ("$AAAA~relay", "$BBBB~auth"):
            reply += f"650 HS_DESC UPLOAD {SERVICE_ID} UNKNOWN {hsdir} descid\r\n"
        reply += f"650 HS_DESC UPLOADED {SERVICE_ID} UNKNOWN $AAAA~relay\r\n"
        return reply.encode()

    tor = ScriptedTor(
        {
            "GETINFO version": lambda _: b"250-version=0.4.9.11\r\n250 OK\r\n",
            "SETEVENTS": _ok,
            "ADD_ONION": add_onion,
            "DEL_ONION": _ok,
        }
    )

    async def body(controller: TorController) -> None:
        service = await controller.add_onion(None, 9000, "127.0.0.1", 4001, pow_defense=True)
        assert service.private_key == KEY and service.pow_defense
        async with trio.open_nursery() as nursery:
            nursery.start_soon(controller.wait_published, service.service_id, 30)
            await trio.sleep(5)
            assert nursery.child_tasks, "one HSDir still has no copy: not published yet"
            await tor.send_event(f"HS_DESC UPLOADED {SERVICE_ID} UNKNOWN $BBBB~auth")
            with trio.fail_after(1):
                await trio.testing.wait_all_tasks_blocked()
            assert not nursery.child_tasks, "the last answered upload publishes it"
        again = await controller.add_onion(KEY, 9000, "::1", 4001, pow_defense=False)
        assert again.private_key == KEY and not again.pow_defense
        await controller.del_onion(SERVICE_ID)
        with pytest.raises(TorError, match="not an ED25519-V3 key"):
            await controller.add_onion("RSA1024:abc", 9000, "127.0.0.1", 1, pow_defense=False)
        with pytest.raises(TorError, match="IP address"):
            await controller.add_onion(None, 9000, "localhost", 1, pow_defense=False)

    _run(tor, body)
    assert tor.received == [
        "GETINFO version",
        "SETEVENTS HS_DESC",
        "ADD_ONION NEW:ED25519-V3 Port=9000,127.0.0.1:4001 PoWDefensesEnabled=1",
        f"ADD_ONION {KEY} Port=9000,[::1]:4001",
        f"DEL_ONION {SERVICE_ID}",
    ]


def test_an_upload_that_never_comes_times_out_naming_the_failure() -> None:
    def add_onion(_: str) -> bytes:
        return (
            f"250-ServiceID={SERVICE_ID}\r\n250-PrivateKey={KEY}\r\n250 OK\r\n"
            f"650 HS_DESC FAILED {SERVICE_ID} UNKNOWN $BBBB~relay REASON=UPLOAD_REJECTED\r\n"
        ).encode()

    tor = ScriptedTor({"SETEVENTS": _ok, "ADD_ONION": add_onion})

    async def body(controller: TorController) -> None:
        service = await controller.add_onion(None, 1, "127.0.0.1", 2, pow_defense=False)
        with pytest.raises(TorError, match=r"within 60 s \(last failure: UPLOAD_REJECTED\)"):
            await controller.wait_published(service.service_id, timeout=60)

    _run(tor, body)


def test_a_bad_service_id_and_refusals_are_errors() -> None:
    tor = ScriptedTor(
        {
            "SETEVENTS": _ok,
            "ADD_ONION": lambda _: b"250-ServiceID=../../etc\r\n250 OK\r\n",
            "DEL_ONION": lambda _: b"552 Unknown Onion Service id\r\n",
        }
    )

    async def body(controller: TorController) -> None:
        with pytest.raises(TorProtocolError, match="bad ServiceID"):
            await controller.add_onion(None, 1, "127.0.0.1", 2, pow_defense=False)
        with pytest.raises(TorError, match="tor refused DEL_ONION: 552 Unknown Onion Service"):
            await controller.del_onion(SERVICE_ID)

    _run(tor, body)


def test_watch_bootstrap_follows_events_to_100_and_drops_stale_figures() -> None:
    def status_event(percent: int, tag: str) -> str:
        return (
            f'650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS={percent} TAG={tag} SUMMARY="{tag}"\r\n'
        )

    def setevents(_: str) -> bytes:
        # Events queued before the poll's answer, one of them older than it.
        return b"250 OK\r\n" + status_event(10, "conn_done").encode()

    def poll(_: str) -> bytes:
        return (
            '250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="h"\r\n'
            "250 OK\r\n" + status_event(50, "loading_descriptors") + status_event(100, "done")
        ).encode()

    tor = ScriptedTor({"SETEVENTS STATUS_CLIENT": setevents, "GETINFO status/bootstrap": poll})
    seen: list[BootstrapProgress] = []

    async def body(controller: TorController) -> None:
        await controller.wait_bootstrapped(on_progress=seen.append)

    _run(tor, body)
    assert [(p.percent, p.tag) for p in seen] == [
        (14, "handshake"),
        (50, "loading_descriptors"),
        (100, "done"),
    ]


def test_bootstrap_and_version_texts() -> None:
    warn = parse_bootstrap(
        'WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting" WARNING="Connection refused"'
    )
    assert warn == BootstrapProgress(5, "conn", "Connecting", "Connection refused")
    assert parse_bootstrap("NOTICE CIRCUIT_ESTABLISHED") is None
    with pytest.raises(TorProtocolError):
        parse_bootstrap("NOTICE BOOTSTRAP PROGRESS=101 TAG=x")
    assert tor_version_tuple("0.4.9.11 (git-abc)") == (0, 4, 9, 11)
    with pytest.raises(TorProtocolError):
        tor_version_tuple("Tor")


def test_a_closed_control_port_fails_the_waiting_command() -> None:
    async def main() -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        async with controller_on_stream(ours, TcpEndpoint("127.0.0.1", 9051)) as controller:
            await theirs.aclose()
            with pytest.raises(TorError, match="closed its control port"):
                await controller.command("GETINFO version")
            with pytest.raises(TorError):
                await controller.command("GETINFO version")

    trio.run(main)


def test_unsolicited_replies_break_the_connection() -> None:
    async def main() -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        async with controller_on_stream(ours, TcpEndpoint("127.0.0.1", 9051)) as controller:
            await theirs.send_all(b"250 OK\r\n" * 10)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(TorError, match="did not send"):
                await controller.command("GETINFO version")

    trio.run(main)
