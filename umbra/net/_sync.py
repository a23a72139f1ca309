"""The sync protocol's I/O: a server that answers from the block store, and a client.

The message layouts and framing are in `_wire` (sans-IO); this module only moves frames over
libp2p streams. Backpressure: the server writes one frame at a time and waits for the write
(yamux's flow-control window blocks it when the reader is slow); the client reads and checks
one frame before reading the next, and each response is bounded in frames and bytes.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import trio
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from multiformats import CID

from umbra.core import MAX_BLOCK_BYTES, InvalidDocument, cid_text, limits, verify_block

from ._backoff import BackoffPolicy, PeerBackoff
from ._config import SYNC_PROTOCOL_ID, NetLimits
from ._errors import NetError, ProtocolUnsupported, ProtocolViolation
from ._reach import Reach, open_stream
from ._streams import StreamsPerPeer, close_quietly
from ._wire import (
    Block,
    BlocksRequest,
    End,
    FrameDecoder,
    Heads,
    HeadsRequest,
    Message,
    Missing,
    Refused,
    encode_frame,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_READ_CHUNK = 64 * 1024
_WRITE_CHUNK = 256 * 1024
_DOCUMENT_CAP = max(limits.MAX_LISTING_DOCUMENT_BYTES, limits.MAX_CATALOG_DOCUMENT_BYTES)


def block_cap(cid: CID) -> int:
    return MAX_BLOCK_BYTES if cid.codec.name == "raw" else _DOCUMENT_CAP


async def _read_message(stream: INetStream, decoder: FrameDecoder) -> Message | None:
    """The next message on ``stream``, or None at a clean end of stream."""
    while True:
        msg = decoder.next_message()
        if msg is not None:
            return msg
        # Whatever the stream has buffered, up to _READ_CHUNK (the decoder keeps the rest of a
        # frame for the next call): reading a frame as header then body doubled the reads,
        # and each read costs a yamux window update.
        data = await stream.read(_READ_CHUNK)
        if not data:
            if decoder.buffered:
                raise ProtocolViolation("truncated", "the stream ended inside a frame")
            return None
        decoder.feed(data)


# -- server --------------------------------------------------------------------------------------

# (CIDs, byte budget) → the blocks in order; None for a block not held or over the budget.
BlocksGetter = Callable[[list[str], int], Awaitable[list[bytes | None]]]
HeadsGetter = Callable[[int], Awaitable[list[bytes]]]
Admission = Callable[[str], bool]  # peer id → may it make a request now?
StrikeFn = Callable[[str, str], None]  # (peer id, reason)


class SyncServer:
    """Answers ``/umbra/sync/1.0.0`` requests. Never raises out of the handler."""

    def __init__(
        self,
        *,
        limits: NetLimits,
        get_blocks: BlocksGetter,
        get_heads: HeadsGetter,
        admit: Admission,
        strike: StrikeFn,
    ) -> None:
        self._limits = limits
        self._get_blocks = get_blocks
        self._get_heads = get_heads
        self._admit = admit
        self._strike = strike
        self._open = StreamsPerPeer(limits.max_streams_per_peer)
        self.served_requests = 0

    async def handle(self, stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        try:
            if not self._open.try_open(peer):
                await stream.write(encode_frame(Refused("busy")))
                return
            try:
                if not self._admit(peer):
                    await stream.write(encode_frame(Refused("rate-limited")))
                    return
                with trio.move_on_after(self._limits.request_timeout):
                    await self._serve_one(stream, peer)
            finally:
                self._open.closed(peer)
        except trio.Cancelled:
            raise
        except ProtocolViolation as exc:
            log.info("sync request from %s rejected: %s", peer, exc)
            self._strike(peer, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a broken stream must not end the node
            log.debug("sync stream with %s failed: %s", peer, exc)
        finally:
            await close_quietly(stream)

    async def _serve_one(self, stream: INetStream, peer: str) -> None:
        lim = self._limits
        decoder = FrameDecoder(max_frame_bytes=lim.max_frame_bytes, max_items=1024)
        request = await _read_message(stream, decoder)
        if isinstance(request, BlocksRequest):
            if len(request.cids) > lim.max_cids_per_request:
                await stream.write(encode_frame(Refused("too-many-cids")))
                raise ProtocolViolation("too-many-cids")
            # One database call for the whole request, and frames coalesced into writes of
            # up to _WRITE_CHUNK bytes: per-block reads and writes cost ~8 ms each here.
            found = await self._get_blocks(
                [cid_text(c) for c in request.cids], lim.max_response_bytes
            )
            out = bytearray()
            for cid, data in zip(request.cids, found, strict=True):
                out += encode_frame(Missing(cid) if data is None else Block(cid, data))
                if len(out) >= _WRITE_CHUNK:
                    await stream.write(bytes(out))
                    out.clear()
            if out:
                await stream.write(bytes(out))
        elif isinstance(request, HeadsRequest):
            heads = await self._get_heads(min(request.limit, lim.max_heads_per_response))
            await stream.write(encode_frame(Heads(tuple(heads))))
        elif request is None:
            return
        else:
            raise ProtocolViolation("not-a-request", type(request).__name__)
        self.served_requests += 1
        await stream.write(encode_frame(End()))


# -- client --------------------------------------------------------------------------------------


class BackingOff(NetError):
    """The peer failed recently and is not asked again yet (nothing was sent)."""


class SyncClient:
    """Requests blocks and heads from one peer at a time, checking everything it receives.

    Every request goes through the peer's backoff (`_backoff`): a peer that failed is not
    asked again until its wait is over, and one that refused the protocol not for a long
    while. Those refusals cost no network traffic: they raise `BackingOff` or
    `ProtocolUnsupported` at once.
    """

    def __init__(
        self,
        host: IHost,
        *,
        limits: NetLimits,
        reach: Reach | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._host = host
        self._limits = limits
        self._reach = reach
        self._clock = clock
        self._backoff = PeerBackoff(
            BackoffPolicy(
                base=limits.backoff_base_seconds,
                cap=limits.backoff_cap_seconds,
                unsupported_seconds=limits.unsupported_seconds,
            )
        )
        self.attempts = 0  # requests that reached the network, since start

    def wait(self, peer: ID) -> float:
        """Seconds until ``peer`` may be asked again (0.0: now)."""
        return self._backoff.wait_at(str(peer), self._clock())

    def peer_shows_support(self, peer: ID) -> None:
        """``peer`` opened a sync stream to us: it speaks the protocol after all."""
        self._backoff.shows_support(str(peer))

    async def _open(self, peer: ID) -> INetStream:
        return await open_stream(self._host, peer, SYNC_PROTOCOL_ID, self._reach)

    async def fetch_blocks(
        self, peer: ID, cids: Sequence[CID], *, on_answer: Callable[[], None] | None = None
    ) -> dict[CID, bytes]:
        """Blocks ``peer`` has of ``cids``; ``on_answer`` is called when its answer begins."""
        return await self._attempt(peer, lambda: self._fetch_blocks(peer, cids, on_answer))

    def note_stalled(self, peer: ID) -> None:
        """``peer`` left a request unanswered until it was asked elsewhere: back off from it."""
        self._backoff.failed_at(str(peer), self._clock())

    async def fetch_heads(self, peer: ID, limit: int) -> list[bytes]:
        """The signed heads ``peer`` offers (unverified: the caller checks each)."""
        return await self._attempt(peer, lambda: self._fetch_heads(peer, limit))

    async def _attempt(self, peer: ID, request: Callable[[], Awaitable[T]]) -> T:
        """Run ``request`` unless ``peer`` is backing off; record how it went."""
        key, now = str(peer), self._clock()
        if self._backoff.unsupported_at(key, now):
            raise ProtocolUnsupported(f"{peer} does not speak {SYNC_PROTOCOL_ID}")
        wait = self._backoff.wait_at(key, now)
        if wait > 0:
            raise BackingOff(f"{peer} failed recently; next try in {wait:.0f} s")
        self.attempts += 1
        try:
            result = await request()
        except trio.Cancelled:
            raise
        except ProtocolUnsupported:
            wait = self._backoff.refused_protocol_at(key, self._clock())
            log.info("%s does not speak %s: not asking it for %.0f s", peer, SYNC_PROTOCOL_ID, wait)
            raise
        except NetError:
            self._backoff.failed_at(key, self._clock())
            raise
        except Exception as exc:  # noqa: BLE001 - stream resets, EOFs, muxer errors
            self._backoff.failed_at(key, self._clock())
            raise NetError(f"sync with {peer} failed: {type(exc).__name__}: {exc}") from None
        self._backoff.succeeded(key)
        return result

    async def _fetch_blocks(
        self, peer: ID, cids: Sequence[CID], on_answer: Callable[[], None] | None = None
    ) -> dict[CID, bytes]:
        """Fetch up to ``max_cids_per_request`` blocks; returns those the peer had.

        Every block is checked against its CID and its codec's size cap before it is kept.

        Raises:
            ProtocolViolation: the peer sent something wrong (strike it).
            NetError: the peer could not be reached or timed out.
        """
        lim = self._limits
        wanted = list(dict.fromkeys(cids))[: lim.max_cids_per_request]
        pending = set(wanted)
        found: dict[CID, bytes] = {}
        with trio.move_on_after(lim.request_timeout) as scope:
            stream = await self._open(peer)
            try:
                await stream.write(encode_frame(BlocksRequest(tuple(wanted))))
                decoder = FrameDecoder(max_frame_bytes=lim.max_frame_bytes, max_items=1024)
                while True:
                    msg = await _read_message(stream, decoder)
                    if on_answer is not None:
                        on_answer()
                        on_answer = None
                    if msg is None or isinstance(msg, End):
                        break
                    if isinstance(msg, Refused):
                        raise NetError(f"{peer} refused: {msg.reason}")
                    if isinstance(msg, Missing) and msg.cid in pending:
                        pending.discard(msg.cid)
                    elif isinstance(msg, Block) and msg.cid in pending:
                        if len(msg.data) > block_cap(msg.cid):
                            raise ProtocolViolation("oversize-block", str(msg.cid))
                        try:
                            verify_block(msg.cid, msg.data)
                        except InvalidDocument:
                            raise ProtocolViolation("cid-mismatch", str(msg.cid)) from None
                        pending.discard(msg.cid)
                        found[msg.cid] = msg.data
                    else:
                        raise ProtocolViolation("unexpected-message", type(msg).__name__)
            finally:
                await close_quietly(stream)
        if scope.cancelled_caught:
            raise NetError(f"request to {peer} timed out")
        return found

    async def _fetch_heads(self, peer: ID, limit: int) -> list[bytes]:
        lim = self._limits
        heads: list[bytes] = []
        with trio.move_on_after(lim.request_timeout) as scope:
            stream = await self._open(peer)
            try:
                await stream.write(encode_frame(HeadsRequest(limit)))
                decoder = FrameDecoder(max_frame_bytes=lim.max_frame_bytes, max_items=1024)
                while True:
                    msg = await _read_message(stream, decoder)
                    if msg is None or isinstance(msg, End):
                        break
                    if isinstance(msg, Refused):
                        raise NetError(f"{peer} refused: {msg.reason}")
                    if not isinstance(msg, Heads) or heads:
                        raise ProtocolViolation("unexpected-message", type(msg).__name__)
                    if len(msg.heads) > lim.max_heads_per_response:
                        raise ProtocolViolation("too-many-heads")
                    heads = list(msg.heads)
            finally:
                await close_quietly(stream)
        if scope.cancelled_caught:
            raise NetError(f"request to {peer} timed out")
        return heads
