"""`umbra listing create|list|show|edit|delete|categories`."""

from pathlib import Path

import click

from umbra.core import CONDITIONS, UsageError, format_xmr, known_categories, limits, parse_xmr
from umbra.market import (
    DEFAULT_LIFETIME_DAYS,
    ListingChanges,
    ListingDraft,
    SellerCatalog,
)

from ._app import CliState, emit, json_option, pass_state
from ._format import iso_time, listing_to_json, listing_to_text
from ._invocation import with_runnable_commands
from ._listing_input import draft_from_toml, parse_shipping_flag, read_image, read_text_file


@click.group()
def listing() -> None:
    """Create and manage your own listings."""


def _description(text: str | None, file: Path | None) -> str | None:
    if file is not None:
        # Room for the description limit (checked with its own message later) and a bit more.
        return read_text_file(file, 4 * limits.MAX_DESCRIPTION_BYTES, "description file")
    return text


_condition = click.Choice(CONDITIONS)


@listing.command()
@click.option("--from", "from_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--title")
@click.option("--description", help="Markdown text.")
@click.option("--description-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--price", help="Price in XMR, e.g. 0.25.")
@click.option("--quantity", type=int, default=1, show_default=True)
@click.option("--category", help="See `umbra listing categories`.")
@click.option("--tag", "tags", multiple=True)
@click.option("--condition", type=_condition, default="new", show_default=True)
@click.option("--ships-from", help="ISO country code, e.g. DE.")
@click.option("--shipping", "shipping", multiple=True, help="NAME:REGION[,REGION]:COST_XMR")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--expires-days", type=int, default=DEFAULT_LIFETIME_DAYS, show_default=True)
@json_option
@pass_state
def create(
    state: CliState,
    from_file: Path | None,
    title: str | None,
    description: str | None,
    description_file: Path | None,
    price: str | None,
    quantity: int,
    category: str | None,
    tags: tuple[str, ...],
    condition: str,
    ships_from: str | None,
    shipping: tuple[str, ...],
    images: tuple[Path, ...],
    expires_days: int,
) -> None:
    """Create a listing from flags or from a listing.toml file (--from)."""
    if from_file is not None:
        draft = draft_from_toml(from_file)
    else:
        missing = [
            n
            for n, v in (
                ("--title", title),
                ("--price", price),
                ("--category", category),
                ("--ships-from", ships_from),
            )
            if not v
        ]
        if missing:
            raise UsageError(f"missing {', '.join(missing)} (or use --from listing.toml)")
        assert title and price and category and ships_from
        draft = ListingDraft(
            title=title,
            description=_description(description, description_file) or "",
            price=parse_xmr(price),
            quantity=quantity,
            category=category,
            condition=condition,
            ships_from=ships_from,
            tags=tags,
            shipping=tuple(parse_shipping_flag(s) for s in shipping),
            lifetime_days=expires_days,
            images=tuple(read_image(p) for p in images),
        )
    signed = SellerCatalog(state.profile()).create(draft)
    emit(
        state,
        listing_to_json(signed),
        lambda: click.echo(f"Created listing {signed.body.listing_id.hex()[:12]} ({signed.cid})"),
    )


@listing.command(name="list")
@json_option
@pass_state
def list_(state: CliState) -> None:
    """List your own listings, newest first."""
    listings = SellerCatalog(state.profile()).own_listings()

    def human() -> None:
        if not listings:
            click.echo(
                with_runnable_commands("You have no listings yet: `umbra listing create --help`.")
            )
        for s in listings:
            b = s.body
            click.echo(
                f"{b.listing_id.hex()[:12]}  {format_xmr(b.price):>14} XMR  x{b.quantity:<4} "
                f"{b.title[:50]:<50}  expires {iso_time(b.expires_at)[:10]}"
            )

    emit(state, {"listings": [listing_to_json(s) for s in listings]}, human)


@listing.command()
@click.argument("ref")
@click.option(
    "--save-images",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the listing's processed images into this directory.",
)
@json_option
@pass_state
def show(state: CliState, ref: str, save_images: Path | None) -> None:
    """Show one of your listings (by id prefix or CID)."""
    catalog = SellerCatalog(state.profile())
    signed = catalog.resolve(ref)
    saved: list[str] = []
    if save_images is not None:
        save_images.mkdir(parents=True, exist_ok=True)
        for n, img in enumerate(signed.body.images, 1):
            for size, cid in (("full", img.full), ("thumb", img.thumb)):
                path = save_images / f"{n:02d}-{size}.webp"
                path.write_bytes(catalog.block(cid))
                saved.append(str(path))
    escrow_above = catalog.escrow_above()
    data = listing_to_json(signed) | {"saved_images": saved, "escrow_above": escrow_above}

    def human() -> None:
        click.echo(listing_to_text(signed))
        if escrow_above is not None:  # the catalog's rule applies to every listing in it
            amount = format_xmr(escrow_above, unit=True)
            click.echo(f"\nEscrow required above {amount}: your catalog's rule for every order.")

    emit(state, data, human)


@listing.command()
@click.argument("ref")
@click.option("--title")
@click.option("--description")
@click.option("--description-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--price", help="Price in XMR.")
@click.option("--quantity", type=int)
@click.option("--category")
@click.option("--tag", "tags", multiple=True, help="Replaces all tags.")
@click.option("--condition", type=_condition)
@click.option("--ships-from")
@click.option("--shipping", "shipping", multiple=True, help="Replaces all shipping options.")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--expires-days", type=int)
@json_option
@pass_state
def edit(
    state: CliState,
    ref: str,
    title: str | None,
    description: str | None,
    description_file: Path | None,
    price: str | None,
    quantity: int | None,
    category: str | None,
    tags: tuple[str, ...],
    condition: str | None,
    ships_from: str | None,
    shipping: tuple[str, ...],
    images: tuple[Path, ...],
    expires_days: int | None,
) -> None:
    """Change a listing; it gets a new revision and CID, and renews its expiry."""
    changes = ListingChanges(
        title=title,
        description=_description(description, description_file),
        price=None if price is None else parse_xmr(price),
        quantity=quantity,
        category=category,
        condition=condition,
        ships_from=ships_from,
        tags=tags or None,
        shipping=tuple(parse_shipping_flag(s) for s in shipping) or None,
        lifetime_days=expires_days,
        images=tuple(read_image(p) for p in images) or None,
    )
    signed = SellerCatalog(state.profile()).edit(ref, changes)
    emit(
        state,
        listing_to_json(signed),
        lambda: click.echo(
            f"Updated listing {signed.body.listing_id.hex()[:12]} "
            f"to revision {signed.body.revision} ({signed.cid})"
        ),
    )


@listing.command()
@click.argument("ref")
@json_option
@pass_state
def delete(state: CliState, ref: str) -> None:
    """Remove a listing from your catalog."""
    old = SellerCatalog(state.profile()).delete(ref)
    emit(
        state,
        {"deleted": old.body.listing_id.hex(), "cid": str(old.cid)},
        lambda: click.echo(f"Deleted listing {old.body.listing_id.hex()[:12]}: {old.body.title}"),
    )


@listing.command()
@json_option
@pass_state
def categories(state: CliState) -> None:
    """Show the categories a listing can use."""
    slugs = known_categories()
    emit(state, {"categories": slugs}, lambda: click.echo("\n".join(slugs)))
