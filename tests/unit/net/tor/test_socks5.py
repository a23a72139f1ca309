"""The sans-IO SOCKS5 client: exact bytes out, exact reads in, every refusal named."""

import itertools

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from umbra.net.tor import Socks5Connect, Socks5Refused, TorError, TorProtocolError, socks5_connect
from umbra.net.tor._socks5 import ISOLATION_PASSWORD

ONION = "a" * 56 + ".onion"
NO_AUTH_OK = b"\x05\x00"
USERPASS_OK = b"\x05\x02" + b"\x01\x00"
CONNECT_OK_V4 = b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00"


def _run(machine: Socks5Connect, replies: bytes) -> list[bytes]:
    """Drive the machine, feeding ``replies`` in the chunk sizes it asks for; return sends."""
    sent = [machine.data_to_send()]
    position = 0
    while not machine.done:
        need = machine.bytes_needed()
        machine.receive_data(replies[position : position + need])
        position += need
        sent.append(machine.data_to_send())
    assert replies[position:] == b""
    return [s for s in sent if s]


def test_connect_without_credentials_sends_a_domain_name_request() -> None:
    machine = Socks5Connect(ONION, 9000)
    sent = _run(machine, NO_AUTH_OK + CONNECT_OK_V4)
    name = ONION.encode()
    assert sent == [b"\x05\x01\x00", b"\x05\x01\x00\x03" + bytes([len(name)]) + name + b"\x23\x28"]
    assert machine.done and machine.unused_data == b""


def test_credentials_offer_only_username_password_and_send_rfc1929() -> None:
    machine = Socks5Connect("example.onion", 80, username="profile-1", password="pw")
    sent = _run(machine, USERPASS_OK + CONNECT_OK_V4)
    assert sent[0] == b"\x05\x01\x02"
    assert sent[1] == b"\x01\x09profile-1\x02pw"
    assert sent[2].startswith(b"\x05\x01\x00\x03\x0dexample.onion")


@pytest.mark.parametrize(
    ("reply", "code", "reason"),
    [
        (b"\x05\x00\x00\x01", 0x04, "host unreachable"),
        (b"\x05\x00\x00\x01", 0xF0, "onion service descriptor can not be found"),
        (b"\x05\x00\x00\x01", 0x01, "general SOCKS server failure"),
        (b"\x05\x00\x00\x01", 0x99, "unknown SOCKS5 error"),
    ],
)
def test_connect_failures_are_named(reply: bytes, code: int, reason: str) -> None:
    machine = Socks5Connect(ONION, 9000)
    machine.data_to_send()
    machine.receive_data(NO_AUTH_OK)
    machine.data_to_send()
    with pytest.raises(Socks5Refused) as info:
        machine.receive_data(bytes([5, code, 0, 1]))
    assert info.value.reply_code == code and info.value.reason == reason
    assert reason in str(info.value) and ONION in str(info.value)
    with pytest.raises(Socks5Refused):  # a failed machine stays failed
        machine.receive_data(b"")


def test_refused_method_and_bad_credentials_are_named() -> None:
    machine = Socks5Connect(ONION, 1, username="u", password="p")
    machine.data_to_send()
    with pytest.raises(Socks5Refused, match="no acceptable method"):
        machine.receive_data(b"\x05\xff")
    machine = Socks5Connect(ONION, 1, username="u", password="p")
    with pytest.raises(Socks5Refused, match="username/password refused"):
        machine.receive_data(b"\x05\x02\x01\x01")


@pytest.mark.parametrize(
    "replies",
    [
        b"\x04\x00",  # SOCKS4
        b"\x05\x02",  # a method we did not offer
        NO_AUTH_OK + b"\x05\x00\x01\x01",  # reserved byte set
        NO_AUTH_OK + b"\x05\x00\x00\x07",  # unknown address type
        NO_AUTH_OK + b"\x05\x00\x00\x03\x00",  # empty bound name
    ],
)
def test_malformed_replies_are_protocol_errors(replies: bytes) -> None:
    with pytest.raises(TorProtocolError):
        Socks5Connect(ONION, 9000).receive_data(replies)


def test_reply_is_read_exactly_and_the_tunnel_bytes_are_kept() -> None:
    machine = Socks5Connect(ONION, 9000)
    bound_name = b"\x05\x00\x00\x03\x03abc\x00\x50"
    machine.receive_data(NO_AUTH_OK)
    assert machine.bytes_needed() == 4
    machine.receive_data(bound_name[:4])
    assert machine.bytes_needed() == 1
    machine.receive_data(bound_name[4:5])
    assert machine.bytes_needed() == 5
    machine.receive_data(bound_name[5:] + b"/multistream/1.0.0\n")
    assert machine.done and machine.bytes_needed() == 0
    assert machine.unused_data == b"/multistream/1.0.0\n"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "[::1]", "", "a b", "x" * 256, "naïve.onion", "a\x00b"]
)
def test_ip_literals_and_bad_names_are_refused_before_anything_is_sent(host: str) -> None:
    with pytest.raises(TorError):
        Socks5Connect(host, 80)


def test_bad_ports_and_half_credentials_are_refused() -> None:
    for port in (0, 65536, -1):
        with pytest.raises(TorError):
            Socks5Connect(ONION, port)
    with pytest.raises(TorError):
        Socks5Connect(ONION, 1, username="u")
    with pytest.raises(TorError):
        Socks5Connect(ONION, 1, username="", password="p")


def _outcome(machine: Socks5Connect, chunks: list[bytes]) -> tuple[str, bytes]:
    try:
        for chunk in chunks:
            machine.receive_data(chunk)
            machine.data_to_send()
    except Socks5Refused as exc:
        return f"refused {exc.reply_code} {exc.reason}", b""
    except TorProtocolError as exc:
        return f"malformed {exc}", b""
    return f"done={machine.done} need={machine.bytes_needed()}", machine.unused_data


@given(data=st.binary(max_size=600), credentials=st.booleans(), cuts=st.lists(st.integers(0, 600)))
def test_any_reply_bytes_in_any_split_give_the_same_outcome_and_only_our_errors(
    data: bytes, credentials: bool, cuts: list[int]
) -> None:
    def machine() -> Socks5Connect:
        if credentials:
            return Socks5Connect(ONION, 9000, username="u", password="p")
        return Socks5Connect(ONION, 9000)

    whole = _outcome(machine(), [data])
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    assert _outcome(machine(), pieces) == whole
    # Work is bounded by the input: the machine never asks for more than one reply part
    # (at most 4 + 1 + 255 + 2 bytes), and keeps what follows the reply unread.
    state, unused = whole
    if state.startswith("done=True"):
        assert len(data) - len(unused) <= 2 + 2 + 4 + 1 + 255 + 2


@given(st.binary(min_size=1, max_size=64))
def test_valid_replies_followed_by_anything_leave_that_anything_unread(tail: bytes) -> None:
    machine = Socks5Connect(ONION, 9000)
    machine.receive_data(NO_AUTH_OK + CONNECT_OK_V4 + tail)
    assert machine.done and machine.unused_data == tail


def test_driver_reads_no_byte_of_the_tunnel() -> None:
    async def main() -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        seen: list[bytes] = []

        async def server(stream: trio.SocketStream) -> None:
            greeting = await stream.receive_some(3)
            seen.append(greeting)
            await stream.send_all(b"\x05\x02")
            auth = await stream.receive_some(1 + 1 + 9 + 1 + len(ISOLATION_PASSWORD))
            seen.append(auth)
            await stream.send_all(b"\x01\x00")
            seen.append(await stream.receive_some(5 + len(ONION) + 2))
            # The reply and the tunnelled protocol's first bytes in one segment.
            await stream.send_all(CONNECT_OK_V4 + b"hello")
            await stream.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, server, listeners)
            from umbra.net.tor import TcpEndpoint

            stream = await socks5_connect(
                TcpEndpoint("127.0.0.1", port), ONION, 9000, isolation="profile-1"
            )
            rest = b""
            while chunk := await stream.receive_some():
                rest += chunk
            await stream.aclose()
            nursery.cancel_scope.cancel()
        assert rest == b"hello"
        assert seen[1] == b"\x01\x09profile-1" + bytes([len(ISOLATION_PASSWORD)]) + b"umbra"

    trio.run(main)
