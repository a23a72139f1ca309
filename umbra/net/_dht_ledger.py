"""Who a stored DHT record is held for, and which record goes when the store is full. Pure.

A DHT server stores records for other peers: values (PUT_VALUE) and provider records
(ADD_PROVIDER). Signatures prove that a record is genuine but not that anyone wants it: a new
persona key costs nothing, so one peer can sign as many valid records as it likes. The ledger
makes storage a per-peer budget instead of a first-come pool:

- Every item (a value's key, or a key + provider pair) is charged to one *holder*, the peer
  whose PUT stored it, at a cost in bytes (`DhtLimits` says how costs are counted).
- A peer may hold at most ``per_peer`` bytes (its quota); the store at most ``capacity``.
- When a new item does not fit, items are evicted from the *heaviest* holder (its oldest item
  first), but only while that holder holds more than the newcomer will hold with the new
  item. So a peer's flood can only push out items of peers holding more than it does, and
  a peer that holds a single record keeps it against any newcomer with a record at least as
  large; if nothing may be evicted the new item is refused. Nothing is evicted for a refused
  item.
- A re-PUT of an item that is already held (a refresh, or a newer version of a record) costs
  the difference in size; the item moves to the re-putter when that one holds less than the
  current holder (a flooder cannot adopt a record its honest publisher keeps re-putting).
- Items we stored ourselves (our own records and what our own reads cached) belong to the
  `LOCAL` holder: never refused, never evicted and never evicting, not subject to a quota,
  but counted in the store's total (so they leave less room for others).

The clock is passed in (``now``) only to order items; nothing here reads time or does I/O.
"""

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)

LOCAL = ""  # the holder of items this node stored itself (peer ids are never empty)


class StoreRefused(ValueError):
    """The item is not stored: its holder is over quota, or the store is full of lighter holders.

    A ValueError, so that the libp2p DHT handler answers the PUT with a stream reset.
    """


@dataclass(frozen=True)
class Admission(Generic[Item]):
    """What storing an item does: the items to evict first (possibly none)."""

    evict: tuple[Item, ...]


class HolderLedger(Generic[Item]):
    """Quota and eviction bookkeeping for one store (values, or provider records)."""

    def __init__(self, *, capacity: int, per_peer: int) -> None:
        self.capacity = capacity
        self.per_peer = per_peer
        self._items: dict[Item, tuple[str, int]] = {}  # item → (holder, cost)
        self._by_holder: dict[str, OrderedDict[Item, None]] = {}  # oldest first
        self._load: dict[str, int] = {}
        self.total = 0
        # Holders by load, heaviest first: (-load, order, holder). Entries whose load is no
        # longer the holder's are dropped when met, so finding the heaviest holder costs
        # O(log n) and not a scan of every holder (a full store of 28,000 one-record holders
        # took 44 ms per PUT with a scan).
        self._heaviest: list[tuple[int, int, str]] = []
        self._order = itertools.count()

    # -- reading -----------------------------------------------------------------------------

    def holder(self, item: Item) -> str | None:
        entry = self._items.get(item)
        return None if entry is None else entry[0]

    def load(self, holder: str) -> int:
        return self._load.get(holder, 0)

    def items_of(self, holder: str) -> list[Item]:
        return list(self._by_holder.get(holder, ()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[Item]:
        """The items held, as a snapshot (the ledger may change while it is walked)."""
        return iter(list(self._items))

    # -- deciding ----------------------------------------------------------------------------

    def plan(self, item: Item, holder: str, cost: int) -> Admission[Item]:
        """Decide whether ``holder`` may store ``item`` at ``cost`` bytes; change nothing.

        Raises:
            StoreRefused: the holder is over its quota, or the store is full and every other
                holder holds no more than the newcomer would.
        """
        current = self._items.get(item)
        if current is not None:
            return self._plan_update(item, current, holder, cost)
        if holder == LOCAL:
            return Admission(())
        after = self.load(holder) + cost
        if after > self.per_peer:
            raise StoreRefused(f"the peer would hold {after} bytes, over its quota")
        return Admission(self._victims(holder, after, cost, exclude=item))

    def _plan_update(
        self, item: Item, current: tuple[str, int], holder: str, cost: int
    ) -> Admission[Item]:
        old_holder, old_cost = current
        new_holder = self._holder_after_update(old_holder, holder, cost)
        growth = cost - old_cost
        if growth <= 0 or new_holder == LOCAL:
            return Admission(())
        after = self.load(new_holder) - (old_cost if new_holder == old_holder else 0) + cost
        if after > self.per_peer:
            raise StoreRefused(f"the peer would hold {after} bytes, over its quota")
        return Admission(self._victims(new_holder, after, growth, exclude=item))

    def _holder_after_update(self, old: str, putter: str, cost: int) -> str:
        """The lighter supporter keeps the item; ours stay ours."""
        if old == LOCAL or putter == old:
            return old
        if putter == LOCAL:
            return LOCAL
        after = self.load(putter) + cost
        return putter if after < self.load(old) and after <= self.per_peer else old

    def _victims(self, holder: str, after: int, cost: int, *, exclude: Item) -> tuple[Item, ...]:
        """Items to evict so that ``cost`` more bytes fit (heaviest holders, oldest first).

        ``after`` is what ``holder`` will hold; a victim's holder must hold more than that.
        Holders taken from the index are simulated in ``taken`` (their load shrinks with each
        planned eviction) and put back into the index afterwards: planning changes nothing.
        """
        over = self.total + cost - self.capacity
        if over <= 0:
            return ()
        stash: list[tuple[int, int, str]] = []
        taken: list[tuple[int, int, str]] = []  # (-simulated load, order, holder)
        seen: set[str] = set()
        queues: dict[str, Iterator[Item]] = {}
        victims: list[Item] = []
        try:
            while over > 0:
                untouched = self._peek_heaviest(seen | {holder}, stash)
                if untouched is not None and (not taken or untouched[0] < taken[0][0]):
                    stash.append(heapq.heappop(self._heaviest))
                    seen.add(untouched[2])
                    queues[untouched[2]] = iter(self._by_holder[untouched[2]])
                    heapq.heappush(taken, untouched)
                    continue
                if not taken or -taken[0][0] <= after:
                    raise StoreRefused("the store is full and no heavier holder can give way")
                neg_load, order, heaviest = heapq.heappop(taken)
                victim = next(queues[heaviest], None)
                if victim is None:
                    continue
                if victim != exclude:
                    victim_cost = self._items[victim][1]
                    victims.append(victim)
                    over -= victim_cost
                    neg_load += victim_cost
                heapq.heappush(taken, (neg_load, order, heaviest))
        finally:
            for entry in stash:
                heapq.heappush(self._heaviest, entry)
        return tuple(victims)

    def _peek_heaviest(
        self, skip: set[str], stash: list[tuple[int, int, str]]
    ) -> tuple[int, int, str] | None:
        """The index's heaviest live entry whose holder is not in ``skip`` (left in place).

        Stale entries are dropped for good; live ones of skipped holders move to ``stash``.
        """
        heap = self._heaviest
        while heap:
            neg_load, _order, holder = heap[0]
            if self._load.get(holder) != -neg_load:
                heapq.heappop(heap)
            elif holder in skip:
                stash.append(heapq.heappop(heap))
            else:
                return heap[0]
        return None

    def _index(self, holder: str) -> None:
        """Record ``holder``'s new load in the heaviest-first index (LOCAL is never a victim)."""
        load = self._load.get(holder, 0)
        if holder != LOCAL and load > 0:
            heapq.heappush(self._heaviest, (-load, next(self._order), holder))
        if len(self._heaviest) > 2 * len(self._load) + 64:  # mostly stale: rebuild
            self._heaviest = [
                (-load, next(self._order), h) for h, load in self._load.items() if h != LOCAL
            ]
            heapq.heapify(self._heaviest)

    # -- changing ----------------------------------------------------------------------------

    def store(self, item: Item, holder: str, cost: int) -> tuple[Item, ...]:
        """Plan, then record ``item``; returns the evicted items (the caller deletes them).

        Raises:
            StoreRefused: see `plan`; nothing changed.
        """
        admission = self.plan(item, holder, cost)
        current = self._items.get(item)
        new_holder = (
            holder if current is None else self._holder_after_update(current[0], holder, cost)
        )
        for victim in admission.evict:
            self.release(victim)
        self.release(item)
        self._items[item] = (new_holder, cost)
        self._by_holder.setdefault(new_holder, OrderedDict())[item] = None
        self._load[new_holder] = self.load(new_holder) + cost
        self.total += cost
        self._index(new_holder)
        return admission.evict

    def release(self, item: Item) -> None:
        """Forget ``item`` (deleted, expired or evicted); unknown items are ignored."""
        entry = self._items.pop(item, None)
        if entry is None:
            return
        holder, cost = entry
        queue = self._by_holder[holder]
        del queue[item]
        self._load[holder] -= cost
        self.total -= cost
        if not queue:
            del self._by_holder[holder]
            del self._load[holder]
        self._index(holder)
