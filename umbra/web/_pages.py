"""The pages: browse, search, listing, my listings, create/edit, settings.

Handlers are ``async def`` and reach the store only through ``services.run`` (one worker
thread at a time). Buying, orders, wallet, messages and disputes come with later issues: they
add routes to `page_set` and links to `NAV`; the settings page already shows the node and
wallet as "not connected yet" until a service is plugged into ``services.node`` /
``services.wallet``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, Response
from multiformats import CID
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from umbra.core import (
    CATEGORIES,
    CONDITIONS,
    EUROPEAN_UNION,
    WORLDWIDE,
    InvalidDocument,
    SignedListing,
    UsageError,
    is_known_category,
    is_region,
    parse_cid,
    parse_xmr,
)
from umbra.core.crypto import encode_public_key
from umbra.market import ListingChanged, TradeService, seller_escrow_above, stored_listing
from umbra.net import StartingNode
from umbra.store import SearchPage, SearchQuery

from ._common import (
    ARBITER_SCOPE_KEY,
    NETWORK_SCOPE_KEY,
    PageError,
    error_page,
    guarded,
    page,
    see_other,
)
from ._forms import ListingForm, read_listing_form
from ._message_pages import message_routes
from ._network_note import NetworkNote
from ._order_pages import arbiter_console, order_routes
from ._render import STATIC_FILES
from ._role import ArbiterRole, noting
from ._services import PageServices
from ._starting_page import starting_response
from ._wallet_pages import wallet_routes

PAGE_SIZE = 24
SORT_LABELS = {"relevance": "Best match", "newest": "Newest", "price": "Lowest price"}


# -- reading the store (run in the worker thread) -------------------------------------------


def _load_listing(services: PageServices, text: str) -> tuple[SignedListing, bool]:
    missing = PageError(
        404,
        "This listing is not on this device. It may have been deleted or expired, or not "
        "synced yet. Search again to see current listings.",
    )
    try:
        cid: CID = parse_cid(text)
    except InvalidDocument:
        raise missing from None
    signed = stored_listing(services.profile, cid)
    if signed is None:
        raise missing
    return signed, signed.body.seller == services.profile.identity.signing_public


def _newer_revision(services: PageServices, signed: SignedListing) -> str | None:
    """The CID of a newer revision of ``signed`` in the index, if there is one."""
    b = signed.body
    entry = services.profile.search.current(b.seller, b.listing_id)
    return entry.cid if entry is not None and entry.revision > b.revision else None


def _own_listing(services: PageServices, ref: str) -> SignedListing:
    ref = ref.strip().lower()
    for signed in services.catalog.own_listings():
        if ref in (str(signed.cid), signed.body.listing_id.hex()):
            return signed
    raise PageError(404, "You have no listing with this id. Pick one from My listings.")


@dataclass
class _Filters:
    q: str = ""
    category: str = ""
    min_price: str = ""
    max_price: str = ""
    ships_to: str = ""
    sort: str = "relevance"
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls, request: Request) -> "_Filters":
        params = request.query_params

        def get(name: str, cap: int) -> str:
            return params.get(name, "").strip()[:cap]

        f = cls(
            q=get("q", 200),
            category=get("category", 70).lower(),
            min_price=get("min_price", 40),
            max_price=get("max_price", 40),
            ships_to=get("ships_to", 10).upper(),
            sort=get("sort", 20) or "relevance",
        )
        page = get("page", 6)
        f.page = int(page) if page.isascii() and page.isdigit() and 1 <= int(page) <= 400 else 1
        return f

    def query(self, now: int) -> SearchQuery:
        prices: list[int | None] = []
        for label, text in (("Lowest price", self.min_price), ("Highest price", self.max_price)):
            try:
                prices.append(parse_xmr(text) if text else None)
            except UsageError as exc:
                self.errors.append(f"{label}: {exc}. Write an amount in XMR, like 0.25.")
                prices.append(None)
        category = self.category
        if category and not is_known_category(category):
            self.errors.append(f"There is no category {category!r}; pick one from the list.")
            category = ""
        ships_to = self.ships_to
        if ships_to and (not is_region(ships_to) or ships_to in (WORLDWIDE, EUROPEAN_UNION)):
            self.errors.append(
                f"{ships_to!r} is not a country code. Use two letters, like DE or US."
            )
            ships_to = ""
        if self.sort not in SORT_LABELS:
            self.errors.append("Unknown sort order; showing the best matches first.")
            self.sort = "relevance"
        return SearchQuery(
            text=self.q,
            category=category or None,
            min_price=prices[0],
            max_price=prices[1],
            ships_to=ships_to or None,
            sort=self.sort,  # type: ignore[arg-type]  # checked against SORT_LABELS
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
            now=now,
        )

    def url(self, page: int) -> str:
        params = {
            k: v
            for k, v in (
                ("q", self.q),
                ("category", self.category),
                ("min_price", self.min_price),
                ("max_price", self.max_price),
                ("ships_to", self.ships_to),
                ("sort", self.sort if self.sort != "relevance" else ""),
                ("page", str(page) if page > 1 else ""),
            )
            if v
        }
        return "/search" + (f"?{urlencode(params)}" if params else "")


# -- the pages ----------------------------------------------------------------------------------


@dataclass
class Pages:
    """The routes and the error page, handed to ``umbra.api.create_app``."""

    services: PageServices
    extra_routes: Sequence[BaseRoute] = ()
    role: ArbiterRole = field(init=False)
    network: NetworkNote = field(init=False)

    def __post_init__(self) -> None:
        self.role = ArbiterRole(self.services)
        self.network = NetworkNote(self.services)

    @property
    def routes(self) -> list[BaseRoute]:
        h = self._handlers()
        routes = self.role.wrap(
            [
                Route("/", h["home"], methods=["GET"]),
                Route("/browse", h["browse"], methods=["GET"]),
                Route("/search", h["search"], methods=["GET"]),
                Route("/listing/{cid}", h["listing"], methods=["GET"]),
                Route("/my", h["my"], methods=["GET"]),
                Route("/my/new", h["new_form"], methods=["GET"]),
                Route("/my/new", h["create"], methods=["POST"]),
                Route("/my/{ref}/edit", h["edit_form"], methods=["GET"]),
                Route("/my/{ref}/edit", h["edit"], methods=["POST"]),
                Route("/my/{ref}/delete", h["delete"], methods=["POST"]),
                Route("/settings", h["settings"], methods=["GET"]),
                Route("/static/{name}", h["static"], methods=["GET"]),
                *wallet_routes(self.services),
                *message_routes(self.services),
                *order_routes(self.services),
                *self.extra_routes,
            ]
        )
        return noting(routes, self.network.note)

    def error_response(self, request: Request, status: int, message: str) -> Response:
        # Not a routed page (e.g. a 404): the banner goes by the last mode known.
        request.scope.setdefault(NETWORK_SCOPE_KEY, self.network.last)
        return error_page(request, status, message)

    def starting_response(self, request: Request, starting: StartingNode) -> Response:
        return starting_response(request, starting)

    def _handlers(self) -> dict[str, Callable[[Request], Any]]:
        services = self.services

        async def home(request: Request) -> Response:
            if request.scope.get(ARBITER_SCOPE_KEY):
                return await arbiter_console(services, request)
            return await browse(request)

        async def browse(request: Request) -> Response:
            def read() -> tuple[SearchPage, dict[str, int]]:
                now = services.now()
                newest = services.profile.search.search(
                    SearchQuery(sort="newest", limit=12, now=now)
                )
                counts = {
                    top: services.profile.search.search(
                        SearchQuery(category=top, limit=1, now=now)
                    ).total
                    for top in CATEGORIES
                }
                return newest, counts

            newest, counts = await services.run(read)
            return page(request, "home.html", newest=newest, counts=counts)

        async def search(request: Request) -> Response:
            filters = _Filters.from_request(request)
            query = filters.query(services.now())
            result = await services.run(services.profile.search.search, query)
            pages = max(1, -(-result.total // PAGE_SIZE))
            return page(
                request,
                "search.html",
                status=400 if filters.errors else 200,
                filters=filters,
                result=result,
                pages=pages,
                sort_labels=SORT_LABELS,
                prev_url=filters.url(filters.page - 1) if filters.page > 1 else None,
                next_url=filters.url(filters.page + 1) if filters.page < pages else None,
            )

        async def listing(request: Request) -> Response:
            signed, own = await services.run(_load_listing, services, request.path_params["cid"])
            newer = await services.run(_newer_revision, services, signed)
            if newer is not None:  # e.g. a sale changed the stock since this link was made
                return see_other(f"/listing/{newer}")
            escrow_above = await services.run(
                seller_escrow_above, services.profile, signed.body.seller
            )
            return page(
                request,
                "listing.html",
                listing=signed,
                body=signed.body,
                own=own,
                expired=signed.body.is_expired_at(services.now()),
                seller=encode_public_key(signed.body.seller),
                escrow_above=escrow_above,
            )

        async def my(request: Request) -> Response:
            listings = await services.run(services.catalog.own_listings)
            escrow_above = await services.run(services.catalog.escrow_above)
            return page(
                request,
                "my_listings.html",
                listings=listings,
                escrow_above=escrow_above,
                now=services.now(),
                done=request.query_params.get("done", "")[:20],
            )

        def form_page(
            request: Request, form: ListingForm, *, edit: SignedListing | None, error: str = ""
        ) -> HTMLResponse:
            return page(
                request,
                "listing_form.html",
                status=400 if error else 200,
                form=form,
                edit=edit,
                error=error,
                conditions=CONDITIONS,
            )

        async def new_form(request: Request) -> Response:
            return form_page(request, ListingForm(), edit=None)

        async def create(request: Request) -> Response:
            form = await read_listing_form(request)
            try:
                signed = await services.run(services.catalog.create, form.to_draft())
            except UsageError as exc:
                return form_page(request, form, edit=None, error=_sentence(exc, bool(form.images)))
            return see_other(f"/listing/{signed.cid}")

        async def edit_form(request: Request) -> Response:
            signed = await services.run(_own_listing, services, request.path_params["ref"])
            return form_page(request, ListingForm.from_listing(signed), edit=signed)

        async def edit(request: Request) -> Response:
            old = await services.run(_own_listing, services, request.path_params["ref"])
            form = await read_listing_form(request)
            try:
                changes = form.to_changes()
                signed = await services.run(services.catalog.edit, str(old.cid), changes)
            except ListingChanged:
                # A sale took stock while the seller edited: show the quantity left now,
                # keep the rest of what was typed, and let the seller save again.
                current = await services.run(_own_listing, services, request.path_params["ref"])
                form.quantity = str(current.body.quantity)
                form.base_revision = str(current.body.revision)
                error = (
                    f"While you edited, the listing changed (a sale?): {current.body.quantity}"
                    " left now. The quantity below is the current one; check it and save again."
                )
                return form_page(request, form, edit=current, error=error)
            except UsageError as exc:
                return form_page(request, form, edit=old, error=_sentence(exc, bool(form.images)))
            return see_other(f"/listing/{signed.cid}")

        async def delete(request: Request) -> Response:
            def drop() -> None:
                old = _own_listing(services, request.path_params["ref"])
                services.catalog.delete(str(old.cid))

            await services.run(drop)
            return see_other("/my?done=deleted")

        async def settings(request: Request) -> Response:
            def read() -> tuple[int, int, dict[str, int | None]]:
                own = len(services.catalog.own_listings())
                trade = TradeService(services.profile)
                rules = {
                    "seller_above": trade.seller_escrow_above(),
                    "buyer_above": trade.buyer_escrow_above(),
                }
                return own, services.profile.search.count(), rules

            own, indexed, rules = await services.run(read)
            network = await services.network_status()
            monero = await services.wallet_access.status_summary()
            return page(
                request,
                "settings.html",
                profile_name=services.profile.name,
                seller=encode_public_key(services.profile.identity.signing_public),
                profile_path=str(services.profile.path),
                own=own,
                indexed=indexed,
                network=network,
                monero=monero,
                rules=rules,
                done=request.query_params.get("done", "")[:20],
                # While catalogs are being synced the page reloads itself to show progress.
                refresh=bool(network.get("running") and network.get("syncs_pending"))
                or _bootstrapping(network),
            )

        async def static(request: Request) -> Response:
            found = STATIC_FILES.get(request.path_params["name"])
            if found is None:
                raise PageError(404, "There is no such file.")
            data, content_type = found
            return Response(data, media_type=content_type, headers={"cache-control": "no-cache"})

        handlers = {
            "home": home,
            "browse": browse,
            "search": search,
            "listing": listing,
            "my": my,
            "new_form": new_form,
            "create": create,
            "edit_form": edit_form,
            "edit": edit,
            "delete": delete,
            "settings": settings,
            "static": static,
        }
        return {name: guarded(fn) for name, fn in handlers.items()}


def _bootstrapping(network: dict[str, Any]) -> bool:
    tor = network.get("tor_bootstrap")
    return bool(network.get("running")) and isinstance(tor, dict) and tor.get("percent", 100) < 100


def _sentence(exc: UsageError, had_images: bool) -> str:
    text = str(exc)
    text = text[0].upper() + text[1:] if text else "The listing could not be saved."
    if not text.endswith("."):
        text += "."
    text += " Correct it and save again."
    if had_images:
        text += " Choose the images again too (browsers do not keep them)."
    return text


def page_set(services: PageServices, *, extra_routes: Sequence[BaseRoute] = ()) -> Pages:
    """The pages for ``umbra.api.create_app(..., pages=page_set(services))``."""
    return Pages(services, extra_routes)
