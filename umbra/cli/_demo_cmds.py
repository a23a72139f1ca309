"""`umbra demo`: a ready-made seller profile with sample listings, searched privately."""

import time
from pathlib import Path
from typing import Any

import click

from umbra.core import UsageError, format_xmr
from umbra.core.crypto import encode_public_key
from umbra.market import SellerCatalog, sample_drafts
from umbra.store import ProfileExists, SearchQuery, create_profile, open_profile

from ._app import CliState, emit, json_option, pass_state

DEMO_PASSPHRASE = "demo"  # noqa: S105 - a throwaway demo profile, printed to the user
DEMO_PROFILE = "demo-seller"
DEMO_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("camera", {}),
    ("", {"category": "services"}),
    ("mug", {"ships_to": "FR"}),
    ("", {"max_price": 50 * 10**9, "sort": "price"}),
]


def _describe_filter(key: str, value: object) -> str:
    if key == "max_price" and isinstance(value, int):
        return f"max price {format_xmr(value)} XMR"
    return f"{key.replace('_', ' ')} {value}"


@click.command()
@click.option(
    "--demo-dir",
    "demo_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".umbra-dev"),
    show_default=True,
    help="Where the demo profiles live (kept apart from your real data).",
)
@click.option("--listings", type=click.IntRange(1, 20), default=20, show_default=True)
@json_option
@pass_state
def demo(state: CliState, demo_dir: Path, listings: int) -> None:
    """Create a demo seller with sample listings and search them privately."""
    demo_dir = demo_dir.resolve()
    try:
        profile = create_profile(demo_dir, DEMO_PROFILE, DEMO_PASSPHRASE)
        created = True
    except ProfileExists:
        profile = open_profile(demo_dir, DEMO_PROFILE, DEMO_PASSPHRASE)
        created = False
    try:
        catalog = SellerCatalog(profile)
        if not catalog.own_listings():
            for draft in sample_drafts(listings):
                catalog.create(draft)
        own = catalog.own_listings()
        results: list[dict[str, Any]] = []
        for text, filters in DEMO_QUERIES:
            query = SearchQuery(text=text, now=int(time.time()), limit=5, **filters)
            page = profile.search.search(query)
            results.append(
                {
                    "query": text,
                    "filters": {k: str(v) for k, v in filters.items()},
                    "described": ", ".join(_describe_filter(k, v) for k, v in filters.items()),
                    "total": page.total,
                    "titles": [h.entry.title for h in page.hits],
                }
            )
        seller = encode_public_key(profile.identity.signing_public)
        current = catalog.current_catalog()
        if current is None:
            raise UsageError("the demo catalog could not be created")
        data = {
            "ready": True,
            "data_dir": str(demo_dir),
            "profile": DEMO_PROFILE,
            "passphrase": DEMO_PASSPHRASE,
            "created": created,
            "seller_id": seller,
            "listings": len(own),
            "catalog": {"cid": str(current.cid), "seq": current.body.seq},
            "searches": results,
        }

        def human() -> None:
            click.echo(f"Demo seller {DEMO_PROFILE!r} ({'created' if created else 'reopened'})")
            click.echo(f"  seller id  {seller}")
            click.echo(f"  listings   {len(own)}, catalog seq {current.body.seq}")
            click.echo(f"  catalog    {current.cid}")
            click.echo("\nPrivate searches, answered from the local encrypted index:")
            for r in results:
                label = f"{r['query']!r}" if r["query"] else "browse"
                extra = f" ({r['described']})" if r["described"] else ""
                click.echo(f"  {label}{extra}: {r['total']} found")
                for title in r["titles"][:3]:
                    click.echo(f"      {title}")
            cheapest = min(own, key=lambda s: s.body.price)
            click.echo(
                f"\nCheapest: {cheapest.body.title} at {format_xmr(cheapest.body.price, unit=True)}"
            )
            base = f"umbra --data-dir {demo_dir} --profile {DEMO_PROFILE}"
            click.echo("\nTry (passphrase: demo, or export UMBRA_PASSPHRASE=demo):")
            click.echo(f"  {base} search bike --max-price 1")
            click.echo(f"  {base} listing list")
            click.echo(f"  {base} listing show <id> --save-images /tmp/demo-images")

        emit(state, data, human)
    finally:
        profile.close()
