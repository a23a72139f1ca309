"""A Bitswap server: IPFS nodes connected to us fetch public blocks by CID.

Why not py-libp2p 0.8.1's own `libp2p.bitswap` (read 2026-12)? Its server is not safe for
hostile peers and does not work with Helia: it stores *any* block a peer pushes, unasked, in
its block store; keeps every peer's wantlist with no cap until the peer disconnects (one
4 MiB message adds ~100,000 entries, and a peer may send any number); has no rate limit or
per-peer stream limit; reads a message by concatenating chunks (quadratic) and logs every
block at INFO; and answers on the requester's own stream, which Helia closes for reading
right after writing its wantlist (Helia, like Kubo, expects answers on a stream the server
opens). So this module serves with our own sans-IO decoder (`_bitswap_wire`).

How a request is served: an IPFS node opens a stream with ``/ipfs/bitswap/1.2.0`` (or 1.1.0,
1.0.0) and writes wantlist messages. For each message we take tokens from the peer's bucket
(1 per message and per want; wants past the tokens are dropped), look the wanted blocks up
among the *public* ones (`_public_blocks`: only blocks a known catalog names) a few at a time
(`lookup_batch`, so a stream holds at most that many blocks in memory), and write the answers
on one stream we open back to the peer, over the connection it already has to us.
We never dial to answer (a peer that has gone gets nothing), so this works the same over Tor
(the stream runs inside the peer's circuit to our onion service) and never makes us reach
out to anyone. Backpressure: the next message is read only after the answers to the last
were written (yamux's window blocks a reader that does not read), each within a deadline.

Provider records are not announced anywhere for this: an IPFS node must already be connected
to us (it asks its connected peers first). Umbra's own DHT is a separate network
(``/umbra/kad/1.0.0``).
"""

import logging
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from umbra.core import MAX_BLOCK_BYTES

from ._bitswap_wire import (
    PROTOCOL_V120,
    PROTOCOLS,
    BitswapLimits,
    MessageDecoder,
    Want,
    Wants,
    WantType,
    answer,
    servable_cid,
)
from ._errors import ProtocolViolation
from ._ratelimit import PeerLimiter
from ._streams import StreamsPerPeer, close_quietly, reset_quietly

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024

# (CIDs as base32 text, byte budget) → the blocks in order, None for one not public or held.
PublicBlocksGetter = Callable[[list[str], int], Awaitable[list[bytes | None]]]
StrikeFn = Callable[[str, str], None]  # (peer id, reason)


class BitswapServer:
    """Answers Bitswap wantlists with public blocks. Never raises out of a stream handler."""

    def __init__(
        self,
        host: IHost,
        *,
        limits: BitswapLimits,
        get_blocks: PublicBlocksGetter,
        strike: StrikeFn,
        clock: Callable[[], float],
    ) -> None:
        self._host = host
        self._limits = limits
        self._get_blocks = get_blocks
        self._strike = strike
        self._clock = clock
        # Strikes go to the node (one ban for all protocols); this limiter only meters wants.
        self._buckets = PeerLimiter(
            burst=limits.want_burst, rate=limits.want_rate, max_strikes=1 << 30, ban_seconds=0
        )
        self._open = StreamsPerPeer(limits.max_streams_per_peer)
        self.served_blocks = 0
        self.refused_wants = 0

    def register(self) -> None:
        """Handle every Bitswap version we speak on ``host``."""
        for protocol in PROTOCOLS:
            self._host.set_stream_handler(TProtocol(protocol), self.handle)

    async def handle(self, stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        key = str(peer)
        protocol = str(stream.get_protocol() or PROTOCOL_V120)
        if not self._open.try_open(key):
            await reset_quietly(stream)
            return
        replies = _Replies(self._host, peer, protocol, self._limits.send_timeout)
        try:
            await self._serve(stream, key, protocol, replies)
        except trio.Cancelled:
            raise
        except ProtocolViolation as exc:
            log.info("bitswap message from %s rejected: %s", key, exc)
            self._strike(key, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a broken stream must not end the node
            log.debug("bitswap stream with %s failed: %s", key, exc)
        finally:
            self._open.closed(key)
            await replies.close()
            await close_quietly(stream)

    async def _serve(
        self, stream: INetStream, key: str, protocol: str, replies: "_Replies"
    ) -> None:
        decoder = MessageDecoder(self._limits)
        batch = self._limits.lookup_batch
        while True:
            with trio.move_on_after(self._limits.idle_timeout) as idle:
                msg = await _read_message(stream, decoder)
            if idle.cancelled_caught or msg is None:
                return  # silent for too long, or done
            wants = self.metered(key, msg)
            for start in range(0, len(wants), batch):
                await replies.send(await self.answer(protocol, wants[start : start + batch]))

    def metered(self, key: str, msg: Wants) -> list[Want]:
        """The wants of ``msg`` the peer has tokens for (1 for the message, 1 per want, all
        taken at one instant), each CID once; the others are dropped unanswered."""
        now = self._clock()
        if not self._buckets.allow_at(key, now):
            self.refused_wants += len(msg.wants)
            return []
        kept: dict[bytes, Want] = {}
        for i, want in enumerate(msg.wants):
            if not self._buckets.allow_at(key, now):
                self.refused_wants += len(msg.wants) - i
                break
            kept.setdefault(want.cid, want)
        return list(kept.values())

    async def answer(self, protocol: str, wants: list[Want]) -> list[bytes]:
        """The messages answering ``wants`` (a batch: at most `lookup_batch`)."""
        lookup = {want.cid: cid for want in wants if (cid := servable_cid(want)) is not None}
        found: dict[bytes, bytes] = {}
        if lookup:
            keys = list(lookup)
            budget = len(keys) * MAX_BLOCK_BYTES  # never withholds: the batch bounds memory
            blocks = await self._get_blocks([str(lookup[k]) for k in keys], budget)
            found = {k: data for k, data in zip(keys, blocks, strict=True) if data is not None}
        self.served_blocks += sum(
            1 for want in wants if want.want_type is WantType.BLOCK and want.cid in found
        )
        return answer(
            wants, found, protocol=protocol, max_response_bytes=self._limits.max_response_bytes
        )


class _Replies:
    """The stream our answers go out on: opened back to the peer at the first answer, over
    the connection the peer already has (never a new dial), and kept for the next ones."""

    def __init__(self, host: IHost, peer: ID, protocol: str, timeout: float) -> None:
        self._host = host
        self._peer = peer
        self._protocol = protocol
        self._timeout = timeout
        self._stream: INetStream | None = None

    async def send(self, frames: list[bytes]) -> None:
        if not frames:
            return
        with trio.fail_after(self._timeout):
            if self._stream is None:
                connections = self._host.get_network().get_connections(self._peer)
                if all(c.is_closed for c in connections):
                    raise ConnectionError("the peer is gone")  # and we do not dial it
                self._stream = await self._host.new_stream(self._peer, [TProtocol(self._protocol)])
            for frame in frames:
                await self._stream.write(frame)

    async def close(self) -> None:
        if self._stream is not None:
            await close_quietly(self._stream)


async def _read_message(stream: INetStream, decoder: MessageDecoder) -> Wants | None:
    """The next message on ``stream``, or None at a clean end of stream."""
    while True:
        msg = decoder.next_message()
        if msg is not None:
            return msg
        data = await stream.read(min(_READ_CHUNK, decoder.wanted()))
        if not data:
            if decoder.buffered:
                raise ProtocolViolation("truncated", "the stream ended inside a message")
            return None
        decoder.feed(data)
