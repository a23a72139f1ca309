"""`umbra search`: private search over the local index. The query never leaves this device."""

import time

import click

from umbra.core import UsageError, format_xmr, is_region, parse_xmr
from umbra.core.crypto import encode_public_key
from umbra.store import SNIPPET_END, SNIPPET_START, SearchQuery

from ._app import CliState, emit, json_option, pass_state
from ._format import iso_time


def plain_snippet(snippet: str) -> str:
    """Turn the index's highlight markers into **bold** Markdown for text output."""
    return snippet.replace(SNIPPET_START, "**").replace(SNIPPET_END, "**")


@click.command()
@click.argument("words", nargs=-1)
@click.option("--category", help="A category or top category, e.g. electronics.")
@click.option("--max-price", help="In XMR.")
@click.option("--min-price", help="In XMR.")
@click.option("--ships-to", help="ISO country code you want it shipped to.")
@click.option("--sort", type=click.Choice(["relevance", "price", "newest"]), default="relevance")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--page", type=click.IntRange(1, 10_000), default=1, show_default=True)
@json_option
@pass_state
def search(
    state: CliState,
    words: tuple[str, ...],
    category: str | None,
    max_price: str | None,
    min_price: str | None,
    ships_to: str | None,
    sort: str,
    limit: int,
    page: int,
) -> None:
    """Search every listing this node knows. Runs locally; nothing is sent anywhere."""
    if ships_to is not None and not is_region(ships_to.upper()):
        raise UsageError(f"--ships-to {ships_to!r} is not an ISO country code (e.g. DE, US)")
    query = SearchQuery(
        text=" ".join(words),
        category=category,
        max_price=None if max_price is None else parse_xmr(max_price),
        min_price=None if min_price is None else parse_xmr(min_price),
        ships_to=None if ships_to is None else ships_to.upper(),
        sort=sort,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        limit=limit,
        offset=(page - 1) * limit,
        now=int(time.time()),
    )
    result = state.profile().search.search(query)
    hits = [
        {
            "cid": h.cid,
            "id": h.listing_id.hex(),
            "seller": encode_public_key(h.seller),
            "title": h.title,
            "price": {"piconero": h.price, "xmr": format_xmr(h.price)},
            "category": h.category,
            "ships_from": h.ships_from,
            "ship_regions": list(h.ship_regions),
            "quantity": h.quantity,
            "sold_out": h.quantity == 0,
            "created_at": iso_time(h.created_at),
            "expires_at": iso_time(h.expires_at),
            "score": hit.score,
            "snippet": plain_snippet(hit.snippet),
        }
        for hit in result.hits
        for h in (hit.entry,)
    ]

    def human() -> None:
        if not hits:
            click.echo("No listings match.")
            return
        first = query.offset + 1
        noun = "listing matches" if result.total == 1 else "listings match"
        count = f"{result.total}" if result.total_exact else f"{result.total}+"
        click.echo(f"{count} {noun}; showing {first}–{query.offset + len(hits)}")
        for h in (hit.entry for hit in result.hits):
            click.echo(
                f"{h.listing_id.hex()[:12]}  {format_xmr(h.price):>14} XMR  {h.title[:60]}"
                f"  [{h.category}, from {h.ships_from}]{'  SOLD OUT' if h.quantity == 0 else ''}"
            )

    data = {"total": result.total, "total_exact": result.total_exact, "page": page, "hits": hits}
    emit(state, data, human)
