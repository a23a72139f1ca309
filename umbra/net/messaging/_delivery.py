"""The delivery protocol ``/umbra/msg/1.0.0`` over libp2p streams: one client, one server.

The server only routes: what to do with a request is decided by the `DeliveryHandler` it is
given (the messaging service), so the same handler can be driven without a network in tests.
One request per stream, answered by response frames, then the server closes; every exchange
has a deadline. See `_delivery_wire` for the messages and docs/specifications/messaging.md.
"""

import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID

from .._errors import NetError, ProtocolViolation
from .._reach import Reach, open_stream
from ._delivery_wire import (
    MAX_IDS,
    MSG_PROTOCOL_ID,
    Ack,
    Acked,
    Deliver,
    Delivered,
    End,
    Envelope,
    Fetch,
    FrameReader,
    Message,
    Put,
    Refused,
    Request,
    Response,
    Stored,
    encode_frame,
)
from ._mailbox_store import envelope_id

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024
REQUEST_TIMEOUT_S = 15.0


class DeliveryHandler(Protocol):
    """What the server does with a request from ``peer`` (its libp2p id, authenticated)."""

    async def on_request(self, peer: str, request: Request) -> list[Response]: ...


async def _read(stream: INetStream, reader: FrameReader) -> Message | None:
    while True:
        msg = reader.next_message()
        if msg is not None:
            return msg
        data = await stream.read(min(_READ_CHUNK, reader.wanted()))
        if not data:
            return None
        reader.feed(data)


async def _close_quietly(stream: INetStream) -> None:
    with trio.move_on_after(2), contextlib.suppress(Exception):
        await stream.close()


class DeliveryServer:
    """Stream handler for ``/umbra/msg/1.0.0``. Nothing a peer sends escapes as an exception."""

    def __init__(
        self,
        handler: DeliveryHandler,
        *,
        admit: Callable[[str], bool],
        strike: Callable[[str, str], None],
    ) -> None:
        self._handler = handler
        self._admit = admit
        self._strike = strike

    async def handle(self, stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        try:
            if not self._admit(peer):
                await stream.write(encode_frame(Refused("rate-limited")))
                return
            with trio.move_on_after(REQUEST_TIMEOUT_S):
                request = await _read(stream, FrameReader())
                if request is None:
                    return
                if not isinstance(request, Deliver | Put | Fetch | Ack):
                    raise ProtocolViolation("not-a-request", type(request).__name__)
                for response in await self._handler.on_request(peer, request):
                    await stream.write(encode_frame(response))
        except ProtocolViolation as exc:
            self._strike(peer, exc.reason)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken stream must not end the node
            log.debug("msg stream with %s failed: %s", peer, exc)
        finally:
            await _close_quietly(stream)


def _one(responses: list[Response]) -> Response:
    if len(responses) != 1:
        raise ProtocolViolation("bad-answer", "expected exactly one response frame")
    return responses[0]


class DeliveryClient:
    """Requests to one peer at a time. Raises `NetError` (unreachable, timeout, refused) or
    `ProtocolViolation` (the peer answered nonsense)."""

    def __init__(
        self, host: IHost, *, timeout: float = REQUEST_TIMEOUT_S, reach: Reach | None = None
    ) -> None:
        self._host = host
        self._timeout = timeout
        self._reach = reach

    async def _exchange(self, peer: ID, request: Request) -> list[Response]:
        responses: list[Response] = []
        with trio.move_on_after(self._timeout) as scope:
            stream = await open_stream(self._host, peer, MSG_PROTOCOL_ID, self._reach)
            try:
                await stream.write(encode_frame(request))
                reader = FrameReader()
                while True:
                    msg = await _read(stream, reader)
                    if msg is None:
                        raise NetError(f"{peer} closed the stream without an answer")
                    if isinstance(msg, Deliver | Put | Fetch | Ack):
                        raise ProtocolViolation("not-a-response", type(msg).__name__)
                    responses.append(msg)
                    if not isinstance(msg, Envelope):
                        break
                    if len(responses) > MAX_IDS:
                        raise ProtocolViolation("too-many-envelopes", str(len(responses)))
            except (NetError, ProtocolViolation, trio.Cancelled):
                raise
            except Exception as exc:  # noqa: BLE001 - stream resets, EOFs, muxer errors
                raise NetError(f"exchange with {peer} failed: {exc}") from None
            finally:
                await _close_quietly(stream)
        if scope.cancelled_caught:
            raise NetError(f"request to {peer} timed out")
        last = responses[-1]
        if isinstance(last, Refused):
            raise NetError(f"{peer} refused: {last.reason}")
        return responses

    async def deliver(self, peer: ID, envelope: bytes) -> None:
        """Hand ``envelope`` to its recipient's node; returns once it committed the message."""
        answer = _one(await self._exchange(peer, Deliver(envelope)))
        if not isinstance(answer, Delivered) or answer.id != envelope_id(envelope):
            raise ProtocolViolation("bad-answer", "expected 'delivered' with the envelope id")

    async def put(self, peer: ID, mailbox: bytes, envelope: bytes, ttl: int) -> None:
        answer = _one(await self._exchange(peer, Put(mailbox, envelope, ttl)))
        if not isinstance(answer, Stored) or answer.id != envelope_id(envelope):
            raise ProtocolViolation("bad-answer", "expected 'stored' with the envelope id")

    async def fetch(self, peer: ID, mailbox: bytes, limit: int = MAX_IDS) -> list[bytes]:
        """The envelopes ``peer`` holds for ``mailbox`` (each checked against its id)."""
        responses = await self._exchange(peer, Fetch(mailbox, limit))
        if not isinstance(responses[-1], End):
            raise ProtocolViolation("bad-answer", "a fetch ends with 'end'")
        out: list[bytes] = []
        for msg in responses[:-1]:
            assert isinstance(msg, Envelope)
            if msg.id != envelope_id(msg.envelope):
                raise ProtocolViolation("bad-envelope-id", "an envelope does not match its id")
            out.append(msg.envelope)
        return out

    async def ack(self, peer: ID, mailbox: bytes, ids: list[bytes]) -> int:
        total = 0
        for start in range(0, len(ids), MAX_IDS):
            batch = tuple(ids[start : start + MAX_IDS])
            answer = _one(await self._exchange(peer, Ack(mailbox, batch)))
            if not isinstance(answer, Acked):
                raise ProtocolViolation("bad-answer", "expected 'acked'")
            total += answer.count
        return total
