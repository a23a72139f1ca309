"""Recently served blocks, in memory: a new catalog is asked for by every peer at once.

When a seller publishes, each peer that hears the head asks for the same catalog block and then
the same new listings within the same second. Without a cache each request waits its turn for
the profile's one database connection (a thread hop per request, behind status writes and the
node's own syncs); with it the second and later requests are answered from memory.

Blocks are content-addressed, so a cached block is never wrong; the node clears the cache when
its own catalog changes and after garbage collection, so a listing its seller deleted is not
served from memory for long. Bounded in bytes; least recently used first out.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

BlocksGetter = Callable[[list[str], int], Awaitable[list[bytes | None]]]


class BlockCache:
    """An LRU of block bytes by CID text, at most ``capacity`` bytes in all."""

    def __init__(self, capacity: int, *, max_block: int = 64 * 1024) -> None:
        self._capacity = capacity
        self._max_block = max_block
        self._blocks: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0

    def clear(self) -> None:
        self._blocks.clear()
        self._bytes = 0

    def get(self, cid: str) -> bytes | None:
        data = self._blocks.get(cid)
        if data is not None:
            self._blocks.move_to_end(cid)
        return data

    def put(self, cid: str, data: bytes) -> None:
        if len(data) > self._max_block or cid in self._blocks:
            return
        self._blocks[cid] = data
        self._bytes += len(data)
        while self._bytes > self._capacity:
            _, old = self._blocks.popitem(last=False)
            self._bytes -= len(old)

    async def get_blocks(
        self, cids: Sequence[str], budget: int, load: BlocksGetter
    ) -> list[bytes | None]:
        """As ``load`` (blocks in order, None if not held or past ``budget``), from memory
        where possible; ``load`` is called once for the rest, if any."""
        cached = [self.get(c) for c in cids]
        rest = [c for c, data in zip(cids, cached, strict=True) if data is None]
        loaded = dict(zip(rest, await load(rest, budget), strict=True)) if rest else {}
        out: list[bytes | None] = []
        for cid, data in zip(cids, cached, strict=True):
            if data is None:
                data = loaded.get(cid)
                if data is not None:
                    self.put(cid, data)
            else:
                self.hits += 1
            if data is not None and len(data) > budget:
                data = None
            if data is not None:
                budget -= len(data)
            out.append(data)
        return out
