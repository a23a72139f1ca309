"""The trio driver of `_swarm`: runs one fetch's requests and feeds their outcomes back.

One `SwarmFetcher` per node holds what all fetches share: the sync client, the count of
requests in flight per peer (so concurrent syncs together stay under a peer's stream limit)
and the strike callback. `SwarmFetcher.fetch` runs one fetch to its end; the caller gets the
verified blocks as each request completes (``deliver``), may add blocks to fetch from there
(a listing's thumbnail), and may add peers while it runs (`SwarmFetch.add_peers`).
"""

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import trio
from libp2p.peer.id import ID
from multiformats import CID

from ._errors import NetError, ProtocolViolation
from ._swarm import SwarmSchedule, SwarmStatistics
from ._sync import SyncClient

log = logging.getLogger(__name__)

Deliver = Callable[[dict[CID, bytes]], Awaitable[None]]
Strike = Callable[[str, str], None]


@dataclass(frozen=True)
class _Answered:
    request: int


@dataclass(frozen=True)
class _Completed:
    request: int
    blocks: dict[CID, bytes]


@dataclass(frozen=True)
class _Failed:
    request: int


_Event = _Answered | _Completed | _Failed


@dataclass
class SwarmFetch:
    """One fetch in progress: its schedule and the peer ids behind the schedule's names."""

    schedule: SwarmSchedule
    ids: dict[str, ID] = field(default_factory=dict)
    wake: trio.Event = field(default_factory=trio.Event)

    def add_peers(self, peers: Iterable[ID]) -> None:
        """More peers that may have the blocks (e.g. ones that offered the same head)."""
        fresh = [p for p in peers if str(p) not in self.ids]
        for peer in fresh:
            self.ids[str(peer)] = peer
        if fresh:
            self.schedule.add_peers(str(p) for p in fresh)
            self.wake.set()

    def want(self, cids: Iterable[CID]) -> None:
        self.schedule.want(cids)
        self.wake.set()


class SwarmFetcher:
    """Fetches blocks from many peers at once (see `_swarm` for the rules)."""

    def __init__(
        self,
        client: SyncClient,
        *,
        strike: Strike,
        batch: int,
        per_peer: int,
        per_fetch: int,
        hedge_after: float,
    ) -> None:
        self._client = client
        self._strike = strike
        self._batch = batch
        self._per_peer = per_peer
        self._per_fetch = per_fetch
        self._hedge_after = hedge_after
        self._busy: dict[str, int] = {}

    def new_fetch(self, peers: Sequence[ID], cids: Iterable[CID]) -> SwarmFetch:
        fetch = SwarmFetch(
            SwarmSchedule(
                batch=self._batch,
                per_peer=self._per_peer,
                total=self._per_fetch,
                hedge_after=self._hedge_after,
            )
        )
        fetch.add_peers(peers)
        fetch.want(cids)
        return fetch

    async def fetch(
        self, peers: Sequence[ID], cids: Sequence[CID], deliver: Deliver | None = None
    ) -> dict[CID, bytes]:
        """The blocks of ``cids`` that some peer had (all verified against their CIDs)."""
        found: dict[CID, bytes] = {}

        async def keep(blocks: dict[CID, bytes]) -> None:
            found.update(blocks)
            if deliver is not None:
                await deliver(blocks)

        await self.run(self.new_fetch(peers, cids), keep)
        return found

    async def run(self, fetch: SwarmFetch, deliver: Deliver) -> SwarmStatistics:
        """Run ``fetch`` until every wanted block arrived or no usable peer has it."""
        schedule = fetch.schedule
        send, receive = trio.open_memory_channel[_Event](math.inf)
        scopes: dict[int, trio.CancelScope] = {}
        peers_of: dict[int, str] = {}
        async with trio.open_nursery() as nursery:
            while True:
                now = trio.current_time()
                schedule.check(now)
                for ask in schedule.asks(now, self._busy):
                    scope = trio.CancelScope()
                    scopes[ask.request] = scope
                    peers_of[ask.request] = ask.peer
                    nursery.start_soon(
                        self._request, scope, ask.request, fetch.ids[ask.peer], ask.cids, send
                    )
                if schedule.done:
                    nursery.cancel_scope.cancel()  # only redundant (slow) requests are left
                    break
                fetch.wake = trio.Event()
                event = await self._next_event(receive, fetch.wake, schedule.next_check())
                while event is not None:
                    abandons = []
                    if isinstance(event, _Answered):
                        schedule.answered(event.request, trio.current_time())
                    elif isinstance(event, _Completed):
                        scopes.pop(event.request, None)
                        # Fresh blocks only: a hedged block may arrive twice.
                        fresh = {c: d for c, d in event.blocks.items() if not schedule.have(c)}
                        abandons = schedule.completed(
                            event.request, event.blocks, trio.current_time()
                        )
                        if fresh:
                            await deliver(fresh)
                    else:
                        scopes.pop(event.request, None)
                        schedule.failed(event.request, trio.current_time())
                    for abandon in abandons:
                        peer = peers_of[abandon.request]
                        if not schedule.delivered(peer):
                            # Not when a new request to the same peer answered (a lone
                            # source asked again): it is needed for the rest of the sync.
                            log.info("peer %s stalled; its share was fetched elsewhere", peer)
                            self._client.note_stalled(fetch.ids[peer])
                        schedule.abandoned(abandon.request)
                        running = scopes.pop(abandon.request, None)
                        if running is not None:
                            running.cancel()
                    try:
                        event = receive.receive_nowait()
                    except trio.WouldBlock:
                        event = None
        stats = schedule.statistics()
        if stats.hedged or stats.dropped_peers:
            log.info("swarm fetch: %s", stats)
        return stats

    @staticmethod
    async def _next_event(
        receive: trio.MemoryReceiveChannel[_Event], wake: trio.Event, deadline: float | None
    ) -> _Event | None:
        """The next request outcome; None when woken (new peers, new blocks) or at a deadline."""
        event: _Event | None = None
        with trio.move_on_at(math.inf if deadline is None else deadline):
            async with trio.open_nursery() as nursery:

                async def on_wake() -> None:
                    await wake.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(on_wake)
                event = await receive.receive()
                nursery.cancel_scope.cancel()
        return event

    async def _request(
        self,
        scope: trio.CancelScope,
        request: int,
        peer: ID,
        cids: tuple[CID, ...],
        send: trio.MemorySendChannel[_Event],
    ) -> None:
        key = str(peer)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            with scope:
                try:
                    blocks = await self._client.fetch_blocks(
                        peer, cids, on_answer=lambda: send.send_nowait(_Answered(request))
                    )
                except ProtocolViolation as exc:
                    self._strike(key, exc.reason)
                    send.send_nowait(_Failed(request))
                except NetError as exc:
                    log.debug("fetch from %s failed: %s", peer, exc)
                    send.send_nowait(_Failed(request))
                else:
                    send.send_nowait(_Completed(request, blocks))
        finally:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]
