"""The served-block cache (`umbra.net._block_cache`): order, budget, eviction, one load."""

import trio

from umbra.net._block_cache import BlockCache


def test_blocks_come_in_order_from_memory_and_one_load_for_the_rest() -> None:
    store = {"a": b"1" * 10, "b": b"2" * 20, "c": b"3" * 30}
    loads: list[list[str]] = []

    async def load(cids: list[str], budget: int) -> list[bytes | None]:
        loads.append(list(cids))
        return [store.get(c) for c in cids]

    async def main() -> None:
        cache = BlockCache(1000)
        assert await cache.get_blocks(["a", "x", "b"], 1000, load) == [
            store["a"],
            None,
            store["b"],
        ]
        assert await cache.get_blocks(["b", "a", "c"], 1000, load) == [
            store["b"],
            store["a"],
            store["c"],
        ]
        assert loads == [["a", "x", "b"], ["c"]]  # a and b came from memory the second time
        assert cache.hits == 2
        # The byte budget holds across memory and store: c would pass it.
        assert await cache.get_blocks(["a", "b", "c"], 35, load) == [store["a"], store["b"], None]
        assert len(loads) == 2  # all three from memory
        cache.clear()
        await cache.get_blocks(["a"], 1000, load)
        assert loads[-1] == ["a"]

    trio.run(main)


def test_least_recently_used_goes_first_and_big_blocks_are_not_kept() -> None:
    cache = BlockCache(25, max_block=15)
    cache.put("a", b"1" * 10)
    cache.put("b", b"2" * 10)
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", b"3" * 10)  # 30 > 25: b goes
    assert cache.get("b") is None and cache.get("a") and cache.get("c")
    cache.put("d", b"4" * 16)  # over max_block: not kept
    assert cache.get("d") is None
