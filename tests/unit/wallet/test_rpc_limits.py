"""The JSON-RPC client against a real local HTTP server that answers too much.

A trio TCP server on 127.0.0.1 plays a hostile (or broken) monero-wallet-rpc: it answers
with a declared length over the limit, with an endless chunked body, or compressed. The
client must refuse each with `WalletAnswerTooLarge` (a clear one-line error), without
reading more than the limit, and still read an answer of exactly the limit.
"""

import functools
import json
from collections.abc import Awaitable, Callable

import pytest
import trio

from umbra.wallet import RpcClient, WalletAnswerTooLarge, WalletUnavailable
from umbra.wallet._rpc import MAX_ANSWER_BYTES

LIMIT = 64 * 1024
DEADLINE_S = 20  # detects a client that keeps reading; not a timing assertion

# An answer writes to the stream and counts the body bytes it got out in ``sent[0]``.
Answer = Callable[[trio.SocketStream, list[int]], Awaitable[None]]


def result_body(size: int) -> bytes:
    """A valid JSON-RPC answer of exactly ``size`` bytes."""
    head, tail = b'{"jsonrpc":"2.0","id":"0","result":{"pad":"', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def read_request(stream: trio.SocketStream) -> None:
    """Read one request: headers, then the Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += await stream.receive_some(65536)


def with_length(body: bytes, declared: int | None = None, extra: bytes = b"") -> Answer:
    async def answer(stream: trio.SocketStream, sent: list[int]) -> None:
        n = len(body) if declared is None else declared
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n"
        await stream.send_all(head.encode() + extra + b"\r\n" + body)
        sent[0] = len(body)

    return answer


async def endless_chunks(stream: trio.SocketStream, sent: list[int]) -> None:
    """A chunked body that never ends (well, 1 GiB), as long as the client reads it."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    await stream.send_all(head)
    chunk = b"x" * 4096
    try:
        while sent[0] < 1024 * 1024 * 1024:
            await stream.send_all(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent[0] += len(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def call_against(answer: Answer) -> tuple[dict[str, object] | Exception, int]:
    """Serve ``answer`` once on 127.0.0.1 and call it; return the result and what was sent."""
    sent = [0]

    async def handler(stream: trio.SocketStream) -> None:
        async with stream:
            await read_request(stream)
            await answer(stream, sent)
            await trio.sleep(DEADLINE_S)  # hold the connection: the client must not wait

    outcome: dict[str, object] | Exception
    with trio.fail_after(DEADLINE_S):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            async with RpcClient(f"http://127.0.0.1:{port}", max_answer_bytes=LIMIT) as client:
                try:
                    outcome = await client.call("get_transfers")
                except WalletUnavailable as exc:
                    outcome = exc
            nursery.cancel_scope.cancel()
    return outcome, sent[0]


def run(answer: Answer) -> tuple[dict[str, object] | Exception, int]:
    return trio.run(call_against, answer)


def test_an_answer_of_exactly_the_limit_is_read() -> None:
    outcome, _ = run(with_length(result_body(LIMIT)))
    assert isinstance(outcome, dict) and len(str(outcome["pad"])) > LIMIT - 100


def test_a_declared_length_one_past_the_limit_is_refused_before_reading() -> None:
    outcome, _ = run(with_length(b"", declared=LIMIT + 1))  # headers only: body never sent
    assert isinstance(outcome, WalletAnswerTooLarge)
    assert str(outcome) == (
        "monero-wallet-rpc answered get_transfers with 65537 bytes (limit 65536); Umbra "
        "stopped reading it (check that this address really is monero-wallet-rpc)"
    )


def test_a_body_longer_than_its_unknown_length_is_cut_at_the_limit() -> None:
    outcome, sent = run(endless_chunks)
    assert isinstance(outcome, WalletAnswerTooLarge)
    assert "over 65536 bytes" in str(outcome) and "\n" not in str(outcome)
    # The client stopped reading: the server could not push much past the limit (socket
    # buffers hold some), nowhere near the gigabyte it tried.
    assert LIMIT < sent < 64 * 1024 * 1024


def test_a_chunked_body_one_byte_past_the_limit_is_refused() -> None:
    body = result_body(LIMIT + 1)

    async def answer(stream: trio.SocketStream, sent: list[int]) -> None:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        await stream.send_all(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        sent[0] = len(body)

    outcome, _ = run(answer)
    assert isinstance(outcome, WalletAnswerTooLarge)


def test_a_compressed_answer_is_refused() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": "0", "result": {}}).encode()
    outcome, _ = run(with_length(body, extra=b"Content-Encoding: gzip\r\n"))
    assert isinstance(outcome, WalletAnswerTooLarge)
    assert "'gzip'-compressed" in str(outcome)


@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"result": 1' + b"9" * 10_000 + b"}", b"\xff"])
def test_broken_json_is_a_clear_error(body: bytes) -> None:
    outcome, _ = run(with_length(body))
    assert type(outcome) is WalletUnavailable
    assert "get_transfers answered with" in str(outcome)


def test_the_default_limit_is_the_documented_one() -> None:
    assert MAX_ANSWER_BYTES == 32 * 1024 * 1024
    assert RpcClient("http://127.0.0.1:1").max_answer_bytes == MAX_ANSWER_BYTES
