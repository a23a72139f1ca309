"""Where local search spends its CPU, by step, and how that grows with the index.

Run: ``.venv/bin/python bench/search_parts.py --n 300000 [--db PATH]``. Builds (once: the file
is kept at ``--db`` and reused) an unkeyed SQLCipher index of ``bench/search.py``'s N listings,
then runs its 1,000 queries and prints the process CPU per step of `umbra.store._search_read`
(each step function wrapped with a timer) and the 25 slowest queries. Unkeyed, so a profile
at a few hundred thousand listings builds in minutes; the encrypted cost is in search.json.
Prints JSON (saved by hand in `bench/results/search_parts.json`, runs at 100k and 300k).
"""

import argparse
import collections
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import search  # bench/search.py: the listing and query generators

import umbra.store._search_read as steps
from umbra.store import Database, SearchIndex, migrate_store

STEPS = {
    "read newest matches": (steps._Matches, "newest"),
    "read newest matches with prices": (steps._Matches, "newest_priced"),
    "sort matches by price": (steps._Matches, "by_price"),
    "count matches": (steps._Matches, "count"),
    "excluded rows check": (steps._Matches, "__init__"),
    "bm25 of the ranking window": (steps, "_score_text"),
    "prefix expansion": (steps, "_expand_prefix"),
    "hits and snippets": (steps, "_hits"),
    "listings table only": (steps, "_from_table"),
}


def _timed(spent: collections.Counter[str], label: str, func: Callable[..., Any]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--db", type=Path, help="index file (default: /tmp/umbra-parts-N.db)")
    args = parser.parse_args()
    path = args.db or Path(f"/tmp/umbra-parts-{args.n}.db")
    fresh = not path.exists()
    db = Database.open_plain_for_benchmark(path, library="sqlcipher3")
    index = SearchIndex(db)
    out: dict[str, Any] = {"n": args.n}
    if fresh:
        migrate_store(db)
        entries = search.generate_listings(args.n, 1)
        started = time.process_time()
        for start in range(0, args.n, search.BATCH):
            index.upsert_many(entries[start : start + search.BATCH])
        index.purge_expired(search.NOW - search.DAY)
        index.optimize()
        out["build_cpu_s"] = round(time.process_time() - started, 1)
        del entries
    spent: collections.Counter[str] = collections.Counter()
    for label, (owner, name) in STEPS.items():
        setattr(owner, name, _timed(spent, label, getattr(owner, name)))
    for query in search.generate_queries(100, 2):  # warm-up
        index.search(query)
    spent.clear()
    per_query = []
    for number, query in enumerate(search.generate_queries(1_000, 1)):
        started = time.process_time()
        index.search(query)
        per_query.append(((time.process_time() - started) * 1000, number, query))
    per_query.sort(key=lambda item: item[0], reverse=True)
    cpu = sorted(ms for ms, _, _ in per_query)
    out["query_cpu_ms"] = {"p50": round(cpu[499], 2), "p90": round(cpu[899], 2)}
    out["query_cpu_ms"]["p99"] = round(cpu[989], 2)
    out["total_cpu_s"] = round(sum(cpu) / 1000, 2)
    out["cpu_s_by_step"] = {label: round(s, 2) for label, s in spent.most_common()}
    out["slowest"] = [
        {"cpu_ms": round(ms, 1), "query": number, "text": q.text, "sort": q.sort,
         "category": q.category, "min_price": q.min_price, "max_price": q.max_price,
         "ships_to": q.ships_to, "offset": q.offset}
        for ms, number, q in per_query[:25]
    ]  # fmt: skip
    db.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
