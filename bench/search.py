"""Benchmark of local listing search: SQLCipher profile vs plain SQLite, same SearchIndex code.

Run: ``.venv/bin/python bench/search.py [--n 100000] [--queries 1000] [--seed 1] [--batch 5000]``
(``--n 1000000`` writes ``bench/results/search-1m.json``: about half an hour for the three
backends on this 2-core machine, and about 3 GB of temporary disk per backend.)

Generates N listings deterministically (seeded RNG, word lists below), indexes them into
(a) an encrypted profile database (SQLCipher, raw key) and (b) an unencrypted stdlib sqlite3
database with the identical schema, and (c, reference) the SQLCipher library without a key,
which separates the cost of encryption from the cost of that SQLite build. Then runs the same
queries against each. Each backend runs in its own child process so memory figures are not
mixed. Writes ``bench/results/search.json``.

Targets: query p99 <= 20 ms and build <= 30 s at 100k listings; query p99 <= 50 ms at 1,000,000
(#17: what a node holds with 10,000 sellers of 100 listings), where the build time and the disk
size are stated, not targeted. Wall-clock figures depend on what else runs on the machine;
per-query CPU time and the load average are recorded too.
"""

import argparse
import gc
import json
import math
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import sqlcipher3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umbra.core import compute_cid
from umbra.core.crypto import Argon2Params
from umbra.store import (
    Database,
    IndexEntry,
    SearchIndex,
    SearchQuery,
    create_profile,
    migrate_store,
)

TARGET_P99_MS = 20.0
TARGET_BUILD_S = 30.0
# From this many listings on (10,000 sellers of 100), the #17 target applies instead.
LARGE_N = 1_000_000
TARGET_P99_MS_LARGE = 50.0
# Listings per transaction: an initial sync stores several catalogs (at most 1,000 listings
# each) per transaction. Each commit flushes FTS5's pending terms into a new segment.
BATCH = 5_000
BACKENDS = ("encrypted", "plain", "sqlcipher-unkeyed")
NOW = 1_780_000_000  # fixed "now" so expiry is reproducible
DAY = 86_400
PICONERO_PER_USD = 10**12 // 150  # rough rate; only the spread of prices matters

# -- word lists --------------------------------------------------------------------------------

# category -> (median price in USD, {subcategory: nouns}, brands)
CATALOG: dict[str, tuple[float, dict[str, list[str]], list[str]]] = {
    "electronics": (
        250,
        {
            "phones": "phone smartphone handset charger case earbuds".split(),
            "computers": "laptop notebook desktop tablet keyboard monitor mouse".split(),
            "audio": "headphones speaker amplifier turntable soundbar microphone".split(),
            "cameras": "camera lens tripod camcorder flash drone".split(),
            "components": "processor motherboard graphics card memory ssd router".split(),
        },
        "Nokia Samsung Apple Sony Lenovo Dell Asus Canon Nikon Fujifilm Bose Sennheiser "
        "Pixel Thinkpad Raspberry Logitech Xiaomi Olympus Panasonic Garmin".split(),
    ),
    "clothing": (
        45,
        {
            "men": "jacket shirt sweater jeans coat hoodie suit".split(),
            "women": "dress blouse skirt cardigan coat jumpsuit scarf".split(),
            "shoes": "sneakers boots sandals loafers trainers heels".split(),
            "accessories": "belt wallet hat gloves sunglasses watch backpack".split(),
        },
        "Levis Patagonia Adidas Nike Barbour Uniqlo Carhartt Birkenstock Dr.Martens "
        "Arcteryx Fjallraven Columbia Zara Burberry Timberland".split(),
    ),
    "books": (
        15,
        {
            "fiction": "novel paperback hardcover anthology thriller saga".split(),
            "non-fiction": "biography textbook guide handbook atlas cookbook".split(),
            "comics": "comic manga graphic novel omnibus issue".split(),
        },
        "Penguin Oreilly Springer Folio Vintage Marvel Dc Shueisha Taschen Bloomsbury".split(),
    ),
    "home": (
        60,
        {
            "kitchen": "knife pan kettle grinder blender teapot skillet".split(),
            "furniture": "chair table shelf lamp desk sofa stool".split(),
            "garden": "planter hose shears seeds trowel lantern".split(),
            "tools": "drill wrench saw screwdriver hammer multimeter".split(),
        },
        "Ikea Bosch Makita Dewalt Lecreuset Wusthof Moccamaster Fiskars Bialetti Vitra".split(),
    ),
    "sports": (
        80,
        {
            "outdoor": "tent sleeping bag stove backpack compass headlamp".split(),
            "fitness": "dumbbells kettlebell mat rower bands bench".split(),
            "cycling": "bicycle helmet saddle wheelset pedals jersey".split(),
        },
        "Msr Osprey Garmin Shimano Specialized Trek Rogue Decathlon Petzl Blackdiamond".split(),
    ),
    "collectibles": (
        40,
        {
            "coins": "coin sovereign dollar franc crown medal".split(),
            "cards": "card deck booster binder holo".split(),
            "stamps": "stamp sheet cover album block".split(),
        },
        "Pokemon Magic Panini Topps Perth Royal Krause Stanley Gibbons Upper Deck".split(),
    ),
    "digital": (
        12,
        {
            "software": "license template plugin theme script font".split(),
            "ebooks": "ebook guide course workbook".split(),
            "music": "album track sample pack loops stems".split(),
            "art": "wallpaper icon set brushes textures".split(),
        },
        "Indie Studio Pixel Lofi Vector Synthwave Retro Open".split(),
    ),
    "services": (
        90,
        {
            "design": "logo poster branding illustration mockup".split(),
            "programming": "website script bot api integration audit".split(),
            "writing": "article copy resume proofreading essay".split(),
            "translation": "translation localization subtitles document".split(),
            "tutoring": "lesson tutoring coaching course session".split(),
        },
        "Freelance Expert Native Certified Senior Remote".split(),
    ),
    "toys": (
        30,
        {
            "games": "board game puzzle card game dice set".split(),
            "models": "model kit train car plane figure".split(),
            "puzzles": "jigsaw puzzle cube brainteaser maze".split(),
        },
        "Lego Ravensburger Hornby Tamiya Playmobil Hasbro Mattel Rubik Catan Carcassonne".split(),
    ),
    "art": (
        120,
        {
            "prints": "print poster lithograph etching screenprint".split(),
            "paintings": "painting canvas watercolor oil acrylic".split(),
            "crafts": "pottery vase ceramic weaving macrame candle".split(),
        },
        "Handmade Original Signed Limited Vintage Studio".split(),
    ),
}
ADJECTIVES = (
    "vintage new used refurbished rare classic compact portable wireless handmade genuine "
    "original sealed mint boxed lightweight waterproof rugged premium limited unlocked "
    "black white red blue green grey silver leather wooden steel organic large small"
).split()
FILLER = (
    "excellent condition barely used works perfectly includes original box and manual "
    "ships fast discreet packaging tracked shipping available pickup possible no returns "
    "bundle discount for multiple items cleaned and tested minor scratches see photos "
    "comes with accessories battery holds charge well stored in smoke free home "
    "great gift collector quality authentic serial number available upon request "
    "upgraded firmware spare parts included fits most models measured dimensions listed "
    "colour may vary slightly from pictures price is firm open to reasonable offers"
).split()
COUNTRIES = "US DE GB FR NL CA AU ES IT SE PL CH AT BE DK FI IE NO PT CZ JP NZ BR MX".split()
COUNTRY_WEIGHTS = [30, 14, 12, 8, 6, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1]


# -- data generation ---------------------------------------------------------------------------


def _words(rng: random.Random, pool: list[str], k: int) -> list[str]:
    return [rng.choice(pool) for _ in range(k)]


def generate_listings(n: int, seed: int) -> list[IndexEntry]:
    """N varied listings; identical for a given (n, seed)."""
    rng = random.Random(seed)
    sellers = [rng.randbytes(32) for _ in range(max(1, n // 50))]
    categories = list(CATALOG)
    entries = []
    for i in range(n):
        top = rng.choice(categories)
        median_usd, subs, brands = CATALOG[top]
        sub = rng.choice(list(subs))
        nouns = subs[sub]
        noun, brand = rng.choice(nouns), rng.choice(brands)
        model = f"{rng.choice('ABCDEFGHKMRSTXZ')}{rng.randint(1, 999)}"
        shape = rng.random()
        if shape < 0.4:
            title = f"{rng.choice(ADJECTIVES).title()} {brand} {noun} {model}"
        elif shape < 0.7:
            title = f"{brand} {noun} {model} - {rng.choice(ADJECTIVES)} {rng.choice(ADJECTIVES)}"
        else:
            title = f"{rng.choice(ADJECTIVES).title()} {noun} by {brand}"
        sentences = [
            f"{brand} {noun} {model} in {rng.choice(ADJECTIVES)} finish.",
            *(
                " ".join(_words(rng, FILLER + ADJECTIVES + nouns, rng.randint(8, 18))).capitalize()
                + "."
                for _ in range(rng.randint(2, 6))
            ),
        ]
        tags = tuple(
            dict.fromkeys(
                [noun.replace(" ", "-"), brand.lower(), *_words(rng, ADJECTIVES, rng.randint(0, 3))]
            )
        )
        roll = rng.random()
        if roll < 0.3:
            regions: tuple[str, ...] = ("WW",)
        elif roll < 0.5:
            regions = ("EU",)
        elif top in ("digital", "services"):
            regions = ("WW",)
        else:
            picked = rng.choices(COUNTRIES, COUNTRY_WEIGHTS, k=rng.randint(1, 5))
            regions = tuple(sorted(set(picked)))
        usd = median_usd * math.exp(rng.gauss(0, 0.9))
        created = NOW - rng.randint(0, 200 * DAY)
        seller = rng.choice(sellers)
        entries.append(
            IndexEntry(
                cid=str(compute_cid(i.to_bytes(8, "big") + seller, "dag-cbor")),
                seller=seller,
                listing_id=rng.randbytes(16),
                revision=rng.randint(1, 4),
                title=title,
                description=" ".join(sentences),
                tags=tags,
                category=f"{top}/{sub}",
                price=max(1, int(usd * PICONERO_PER_USD)),
                ship_regions=regions,
                ships_from=rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0],
                created_at=created,
                # Sellers renew what they still sell: a few listings expired in the last two
                # days, the rest run for up to ten months more.
                expires_at=min(created + 366 * DAY, NOW + rng.randint(-2 * DAY, 300 * DAY)),
                thumbnail=None if rng.random() < 0.2 else f"bafkthumb{i}",
            )
        )
    return entries


def generate_queries(count: int, seed: int) -> list[SearchQuery]:
    """Varied queries: 0-3 words (brands, nouns, adjectives, prefixes), filters, all sorts."""
    rng = random.Random(seed + 7919)
    vocabulary = ADJECTIVES + FILLER[:20]
    for _, subs, brands in CATALOG.values():
        vocabulary += brands + [noun for nouns in subs.values() for noun in nouns]
    queries = []
    for _ in range(count):
        words = _words(rng, vocabulary, rng.choice([0, 1, 1, 1, 2, 2, 2, 3]))
        if words and rng.random() < 0.3:  # still typing: a prefix of the last word
            last = words[-1]
            words[-1] = last[: max(2, rng.randint(2, len(last)))]
        if words and rng.random() < 0.05:
            words.append(rng.choice(['"', "*", "NEAR(", "-", "x:", ")"]))  # operator noise
        top = rng.choice(list(CATALOG))
        category = None
        if rng.random() < 0.3:
            category = top if rng.random() < 0.6 else f"{top}/{rng.choice(list(CATALOG[top][1]))}"
        max_price = None
        if rng.random() < 0.25:
            max_price = int(CATALOG[top][0] * rng.choice([0.5, 1, 2, 5]) * PICONERO_PER_USD)
        min_price = None
        if rng.random() < 0.1:
            min_price = int(CATALOG[top][0] * rng.choice([0.2, 0.5]) * PICONERO_PER_USD)
        ships_to = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0] if rng.random() < 0.3 else None
        queries.append(
            SearchQuery(
                text=" ".join(words),
                category=category,
                max_price=max_price,
                min_price=min_price,
                ships_to=ships_to,
                sort=rng.choice(["relevance", "relevance", "price", "newest"]),
                limit=20,
                offset=rng.choice([0, 0, 0, 0, 0, 0, 20, 40]),
                now=NOW,
            )
        )
    return queries


# -- one backend, in a child process -----------------------------------------------------------


def _rss_mb() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run_backend(
    backend: str, n: int, query_count: int, seed: int, batch: int, workdir: Path
) -> dict[str, Any]:
    entries = generate_listings(n, seed)
    queries = generate_queries(query_count, seed)
    warmup = generate_queries(100, seed + 1)
    rss_before = _rss_mb()
    if backend == "encrypted":
        # Real profile: Argon2id is paid once here and is not part of the build time.
        profile = create_profile(workdir, "bench", "bench passphrase", params=Argon2Params())
        db, index = profile.db, profile.search
        files = [profile.path / "umbra.db"]
    else:
        path = workdir / "plain.db"
        library: Literal["sqlite3", "sqlcipher3"] = (
            "sqlite3" if backend == "plain" else "sqlcipher3"
        )
        db = Database.open_plain_for_benchmark(path, library=library)
        migrate_store(db)
        index = SearchIndex(db)
        files = [path]

    started, cpu_started = time.perf_counter(), time.process_time()
    batch_s = []  # per batch: does storing a catalog get slower as the index grows?
    for start in range(0, n, batch):
        t0 = time.perf_counter()
        index.upsert_many(entries[start : start + batch])
        batch_s.append(time.perf_counter() - t0)
    insert_s = time.perf_counter() - started
    # As the market layer does daily: drop what expired more than a day ago.
    purged = index.purge_expired(NOW - DAY)
    index.optimize()
    build_s = time.perf_counter() - started
    build_cpu_s = time.process_time() - cpu_started
    del entries
    gc.collect()

    for query in warmup:
        index.search(query)
    latencies = []
    cpu_times = []
    totals = []
    load_before = os.getloadavg()[0]
    for query in queries:
        c0, t0 = time.process_time(), time.perf_counter()
        page = index.search(query)
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu_times.append((time.process_time() - c0) * 1000)
        totals.append(page.total)
    load_after = os.getloadavg()[0]
    rss_after = _rss_mb()
    indexed = index.count()
    live = int(db.scalar("SELECT count(*) FROM search_listings WHERE expires_at > ?", (NOW,)))
    db.close()
    size = sum(f.stat().st_size for f in files if f.exists())
    for suffix in ("-wal", "-shm"):
        size += sum(
            Path(str(f) + suffix).stat().st_size for f in files if Path(str(f) + suffix).exists()
        )
    ordered = sorted(latencies)
    by_sort: dict[str, list[float]] = {}
    for query, latency in zip(queries, latencies, strict=True):
        kind = f"{'text' if query.text.strip() else 'browse'}/{query.sort}"
        by_sort.setdefault(kind, []).append(latency)
    return {
        "backend": backend,
        "listings_indexed": indexed,
        "listings_purged": purged,
        "listings_live": live,
        "build_s": round(build_s, 3),
        "insert_s": round(insert_s, 3),
        "optimize_s": round(build_s - insert_s, 3),
        # Seconds per 1,000 listings stored, for the first and the last tenth of the batches.
        "insert_s_per_1000_first_tenth": _per_thousand(
            batch_s[: max(1, len(batch_s) // 10)], batch
        ),
        "insert_s_per_1000_last_tenth": _per_thousand(
            batch_s[-max(1, len(batch_s) // 10) :], batch
        ),
        "build_cpu_s": round(build_cpu_s, 3),
        "query_p50_ms": round(_percentile(ordered, 0.50), 3),
        "query_p90_ms": round(_percentile(ordered, 0.90), 3),
        "query_p99_ms": round(_percentile(ordered, 0.99), 3),
        "query_max_ms": round(ordered[-1], 3),
        "query_mean_ms": round(sum(ordered) / len(ordered), 3),
        # CPU time of this process per query: less sensitive to other load on the machine.
        "query_cpu_p50_ms": round(_percentile(sorted(cpu_times), 0.50), 3),
        "query_cpu_p99_ms": round(_percentile(sorted(cpu_times), 0.99), 3),
        "load_average_during_queries": [round(load_before, 2), round(load_after, 2)],
        "p99_ms_by_kind": {
            kind: {"count": len(values), "p99_ms": round(_percentile(sorted(values), 0.99), 3)}
            for kind, values in sorted(by_sort.items())
        },
        "mean_total_hits": round(sum(totals) / len(totals), 1),
        "db_bytes": size,
        "rss_mb": round(rss_after, 1),
        "rss_mb_before_db": round(rss_before, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _per_thousand(seconds: list[float], batch: int) -> float:
    return round(sum(seconds) / (len(seconds) * batch) * 1000, 4)


def _calibrate() -> float:
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i % 7
    return round(time.process_time() - started, 3)


def write_report(
    args: argparse.Namespace,
    results: dict[str, Any],
    calibration: float,
    load_at_start: list[float],
    target_p99: float,
    target_build: float | None,
    *,
    complete: bool,
) -> None:
    """Write ``args.out``; ``complete`` False while backends remain to run."""
    cipher = sqlcipher3.connect(":memory:")
    cipher_version = cipher.execute("PRAGMA cipher_version").fetchone()[0]
    cipher.close()
    report = {
        "benchmark": "umbra.store.SearchIndex",
        "parameters": {
            "n": args.n,
            "queries": args.queries,
            "seed": args.seed,
            "batch": args.batch,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "sqlite_plain": sqlite3.sqlite_version,
            "sqlite_sqlcipher": sqlcipher3.sqlite_version,
            "sqlcipher": cipher_version,
            "load_average_at_start": load_at_start,
            # Seconds for a fixed pure-Python loop: compare runs made on different days.
            "calibration_loop_s": calibration,
        },
        # At 1,000,000 listings the build time is stated, not targeted (null).
        "targets": {"query_p99_ms": target_p99, "build_s": target_build},
        # False: the run stopped before every backend had run (see "results" for which).
        "complete": complete,
        "results": results,
        "pass": {
            backend: {
                "query_p99": result["query_p99_ms"] <= target_p99,
                "query_cpu_p99": result["query_cpu_p99_ms"] <= target_p99,
                **(
                    {}
                    if target_build is None
                    else {
                        "build": result["build_s"] <= target_build,
                        "build_cpu": result["build_cpu_s"] <= target_build,
                    }
                ),
            }
            for backend, result in results.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


# -- driver ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="listings to index")
    parser.add_argument("--queries", type=int, default=1_000, help="queries to time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, help="default bench/results/search.json (search-1m.json from 1M)"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help="listings per transaction")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the unkeyed SQLCipher reference run"
    )
    parser.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    large = args.n >= LARGE_N
    if args.out is None:
        name = "search-1m.json" if large else "search.json"
        args.out = Path(__file__).parent / "results" / name
    target_p99 = TARGET_P99_MS_LARGE if large else TARGET_P99_MS
    target_build = None if large else TARGET_BUILD_S

    if args.backend:  # child: one backend, JSON on stdout
        workdir = Path(tempfile.mkdtemp(prefix=f"umbra-bench-{args.backend}-"))
        try:
            result = run_backend(args.backend, args.n, args.queries, args.seed, args.batch, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(json.dumps(result))
        return

    results = {}
    calibration = _calibrate()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    for backend in BACKENDS[:2] if args.no_reference else BACKENDS:
        print(f"{backend}: indexing {args.n} listings, {args.queries} queries…", file=sys.stderr)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--backend",
                backend,
                "--n",
                str(args.n),
                "--queries",
                str(args.queries),
                "--seed",
                str(args.seed),
                "--batch",
                str(args.batch),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results[backend] = json.loads(child.stdout.strip().splitlines()[-1])
        print(json.dumps(results[backend], indent=2), file=sys.stderr)
        # After each backend: a long run stopped half-way still leaves what it measured.
        report = (args, results, calibration, load_at_start, target_p99, target_build)
        write_report(*report, complete=False)
    write_report(args, results, calibration, load_at_start, target_p99, target_build, complete=True)


if __name__ == "__main__":
    main()
