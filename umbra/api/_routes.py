"""The JSON endpoints under ``/api/v1``: every UI action, for scripts and other clients.

Handlers are ``async def`` (so they run on the server's trio loop) and reach the store only
through `Services.run`. Input is checked before it reaches the store; see ``_errors`` for how
failures become 4xx answers.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from multiformats import CID

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
    is_still_webp,
    parse_cid,
    parse_xmr,
    verify_block,
)
from umbra.core.crypto import encode_public_key
from umbra.market import stored_listing
from umbra.net import ImageNotReferenced, ImageUnavailable
from umbra.store import SearchQuery

from ._errors import ApiError, NotFound, sentence
from ._forms import changes_from_form, draft_from_form, request_form
from ._security import SESSION_SCOPE_KEY, Session
from ._services import Services
from ._views import entry_json, hit_json, listing_json

IMMUTABLE = "private, max-age=31536000, immutable"

CidText = Annotated[str, Path(min_length=10, max_length=120, description="A CIDv1 (base32).")]
ListingRef = Annotated[
    str,
    Path(
        min_length=4,
        max_length=120,
        description="The listing's CID, its 32-hex-digit id, or a unique prefix of the id.",
    ),
]
Sort = Literal["relevance", "price", "newest"]


def _parse_cid(text: str, what: str) -> CID:
    try:
        return parse_cid(text)
    except InvalidDocument:
        raise ApiError(400, f"{text[:80]!r} is not a {what} CID (they start with 'baf').") from None


def _xmr_param(name: str, text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_xmr(text)
    except UsageError as exc:
        raise ApiError(400, f"{name}: {exc}") from None


def destination(text: str | None) -> str | None:
    """A ships-to country code (two letters), upper-cased; None when not given."""
    if text is None or not text.strip():
        return None
    code = text.strip().upper()
    if not is_region(code) or code in (WORLDWIDE, EUROPEAN_UNION):
        raise ApiError(400, f"ships_to: {text[:10]!r} is not a country code; use e.g. DE or US")
    return code


def category_param(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    slug = text.strip().lower()
    if not is_known_category(slug):
        raise ApiError(
            400, f"category: {text[:70]!r} is not a known category; GET /api/v1/categories"
        )
    return slug


def _own_listing(services: Services, ref: str) -> SignedListing:
    """An own listing by CID, full id or unique id prefix; NotFound if there is none."""
    ref = ref.strip().lower()
    listings = services.catalog.own_listings()
    if ref.startswith("baf"):
        matches = [s for s in listings if str(s.cid) == ref]
    elif all(ch in "0123456789abcdef" for ch in ref):
        matches = [s for s in listings if s.body.listing_id.hex().startswith(ref)]
    else:
        raise ApiError(400, f"{ref[:80]!r} is neither a listing CID nor a listing id (hex)")
    if not matches:
        raise NotFound("You have no listing with this id. List yours at /api/v1/own/listings.")
    if len(matches) > 1:
        raise ApiError(400, f"{ref!r} matches {len(matches)} of your listings; give more digits")
    return matches[0]


def load_listing(services: Services, text: str) -> tuple[SignedListing, bool]:
    """A listing from the local block store, verified; and whether it is our own."""
    cid = _parse_cid(text, "listing")
    missing = NotFound(
        "This listing is not on this device. It may have been deleted or expired, or not "
        "synced yet; search again for current listings."
    )
    signed = stored_listing(services.profile, cid)
    if signed is None:
        raise missing
    return signed, signed.body.seller == services.profile.identity.signing_public


def load_image(services: Services, cid: CID) -> bytes | None:
    """An image block by CID if this device holds it (None if not), checked against its CID
    and as a still WebP of bounded size.

    Image blocks come from sellers' nodes; the browser decodes what this returns, so the
    header check (`still_webp_size`) keeps bombs and other file types off every page.
    """
    if cid.codec.name != "raw":
        raise NotFound("This is not an image CID.")
    data = services.profile.blocks.get(cid)
    if data is None:
        return None
    verify_block(cid, data)
    if not is_still_webp(data):
        raise NotFound("This image is not a valid listing image, so it is not shown.")
    return data


async def image_bytes(services: Services, text: str) -> bytes:
    """The image: from this device, else fetched by the node from the peers that have the
    listing's catalog (only for an image a listing on this device names)."""
    cid = _parse_cid(text, "image")
    data = await services.run(load_image, services, cid)
    if data is not None:
        return data
    if services.images is None:
        raise NotFound(
            "This image is not on this device yet, and no node runs here to fetch it: start"
            " `umbra node`, then reload."
        )
    try:
        return await services.images.fetch_image(cid)
    except ImageNotReferenced:
        raise NotFound(
            "No listing on this device shows this image, so it is not fetched."
        ) from None
    except ImageUnavailable as exc:
        raise ApiError(503, sentence(str(exc))) from None


def api_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get("/categories", tags=["browse"], summary="Categories and conditions")
    async def categories() -> dict[str, Any]:
        """Every category a listing may use (``top`` and ``top/sub`` slugs), and conditions."""
        return {
            "categories": [
                {"slug": top, "subcategories": [f"{top}/{sub}" for sub in subs]}
                for top, subs in CATEGORIES.items()
            ],
            "conditions": list(CONDITIONS),
        }

    @router.get("/session", tags=["profile"], summary="How this request authenticated")
    async def session(request: Request) -> dict[str, Any]:
        """For browser scripts: the CSRF token to send as ``X-CSRF-Token`` on changes."""
        current: Session = request.scope[SESSION_SCOPE_KEY]
        return {"auth": current.kind, "csrf_token": current.csrf_token or None}

    @router.get("/profile", tags=["profile"], summary="This profile and its services")
    async def profile() -> dict[str, Any]:
        """Name, seller id, counts, and whether the node and wallet are connected."""

        def read() -> tuple[int, int]:
            return len(services.catalog.own_listings()), services.profile.search.count()

        own, indexed = await services.run(read)
        node = None if services.node is None else dict(await services.node.status_summary())
        if services.wallet is not None:
            wallet: dict[str, Any] | None = dict(await services.wallet.status_summary())
        else:
            found = await services.wallet_access.status_summary()
            wallet = found if found["connected"] else None
        return {
            "name": services.profile.name,
            "seller_id": encode_public_key(services.profile.identity.signing_public),
            "own_listings": own,
            "indexed_listings": indexed,
            "node": {"connected": node is not None, "status": node},
            "wallet": {"connected": wallet is not None, "status": wallet},
        }

    @router.get("/status", tags=["profile"], summary="Network health and Monero connection")
    async def status() -> dict[str, Any]:
        """``network``: whether the node runs, how it connects (``network``: ``"tor"`` or
        ``"clearnet"``; ``tor_bootstrap``: ``{"percent", "summary"}`` while Tor's bootstrap is
        known; ``tor_error``: why the node's tor is down, when it died; ``tor_socks``: its
        tor's SOCKS port, for one's own wallet-rpc ``--proxy``), peers, DHT routing
        table size, catalogs and listings synced, last sync.
        ``monero``: which wallet-rpc is connected and whether it
        answers (with how to connect one when none is).
        ``starting``: while the node on this server is still starting (nothing else answers
        then: 503), how far it got (``stage``, Tor's ``percent`` and ``summary``, ``error``
        when it could not start, ``message`` in words); null once it is up."""
        starting = None if services.startup is None else services.startup.snapshot()
        return {
            "starting": None if starting is None else starting.to_json(),
            "network": await services.network_status(),
            "monero": await services.wallet_access.status_summary(),
        }

    @router.get("/search", tags=["browse"], summary="Search listings on this device")
    async def search(
        q: Annotated[str, Query(max_length=1000, description="Words to find.")] = "",
        category: Annotated[str | None, Query(max_length=70)] = None,
        min_price: Annotated[str | None, Query(max_length=40, description="XMR")] = None,
        max_price: Annotated[str | None, Query(max_length=40, description="XMR")] = None,
        ships_to: Annotated[str | None, Query(max_length=10, description="Country")] = None,
        sort: Sort = "relevance",
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> dict[str, Any]:
        """Search the local index (the query never leaves this device). Prices are XMR text.

        Each hit has a ``snippet`` and the same text split into ``snippet_parts`` with the
        matched words marked.
        """
        query = SearchQuery(
            text=q,
            category=category_param(category),
            min_price=_xmr_param("min_price", min_price),
            max_price=_xmr_param("max_price", max_price),
            ships_to=destination(ships_to),
            sort=sort,
            limit=limit,
            offset=offset,
            now=services.now(),
        )
        page = await services.run(services.profile.search.search, query)
        return {
            "total": page.total,
            "offset": offset,
            "limit": limit,
            "hits": [hit_json(h) for h in page.hits],
        }

    @router.get("/listings/{cid}", tags=["browse"], summary="One listing by CID")
    async def listing(cid: CidText) -> dict[str, Any]:
        """A listing document from the local store, its signature checked."""
        signed, own = await services.run(load_listing, services, cid)
        return listing_json(signed, own=own, now=services.now())

    @router.get(
        "/images/{cid}",
        tags=["browse"],
        summary="An image by CID (WebP)",
        response_class=Response,
        responses={200: {"content": {"image/webp": {}}}},
    )
    async def image(cid: CidText, request: Request) -> Response:
        """Image bytes, checked against the CID; cacheable for a year (they never change).

        An image of a listing on this device that is not here yet (a sync brings first
        thumbnails only) is fetched by the node from the seller's node or the nodes that
        synced its catalog, which may take some seconds; 503 when no peer sent it (try again
        later), 404 for an image no listing here names."""
        etag = f'"{cid}"'
        data = await image_bytes(services, cid)
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag, "cache-control": IMMUTABLE})
        return Response(
            data,
            media_type="image/webp",
            headers={"etag": etag, "cache-control": IMMUTABLE},
        )

    @router.get("/own/listings", tags=["own listings"], summary="Your listings")
    async def own_listings() -> dict[str, Any]:
        listings = await services.run(services.catalog.own_listings)
        now = services.now()
        return {"listings": [listing_json(s, own=True, now=now) for s in listings]}

    @router.get("/own/listings/{ref}", tags=["own listings"], summary="One of your listings")
    async def own_listing(ref: ListingRef) -> dict[str, Any]:
        signed = await services.run(_own_listing, services, ref)
        return listing_json(signed, own=True, now=services.now())

    form_doc: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string"},
                            "description": {"type": "string", "description": "Markdown"},
                            "price": {"type": "string", "example": "0.25"},
                            "quantity": {"type": "integer", "default": 1},
                            "category": {"type": "string", "example": "electronics/phones"},
                            "condition": {"type": "string", "enum": list(CONDITIONS)},
                            "ships_from": {"type": "string", "example": "DE"},
                            "tags": {"type": "string", "description": "comma-separated"},
                            "shipping": {
                                "type": "array",
                                "items": {"type": "string", "example": "Post:DE,AT:0.002"},
                            },
                            "lifetime_days": {"type": "integer", "default": 30},
                            "remove_images": {"type": "boolean", "description": "edit only"},
                            "revision": {
                                "type": "integer",
                                "description": "edit only: refuse if the listing is no longer"
                                " at this revision (a sale makes a new one)",
                            },
                            "images": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                        },
                    }
                }
            },
        }
    }

    @router.post(
        "/own/listings",
        tags=["own listings"],
        summary="Create a listing",
        status_code=201,
        openapi_extra=form_doc,
    )
    async def create_listing(request: Request) -> JSONResponse:
        """Multipart form: title, price, category and ships_from are required; up to 10
        images (JPEG, PNG or WebP), cleaned of metadata before they are stored."""
        draft = await draft_from_form(request_form(request))
        signed = await services.run(services.catalog.create, draft)
        return JSONResponse(listing_json(signed, own=True, now=services.now()), status_code=201)

    @router.patch(
        "/own/listings/{ref}",
        tags=["own listings"],
        summary="Edit a listing",
        openapi_extra=form_doc,
    )
    async def edit_listing(ref: ListingRef, request: Request) -> dict[str, Any]:
        """Only the fields sent change; new images replace all old ones. The listing gets a
        new revision and a new CID."""
        changes = await changes_from_form(request_form(request))

        def edit() -> SignedListing:
            return services.catalog.edit(str(_own_listing(services, ref).cid), changes)

        signed = await services.run(edit)
        return listing_json(signed, own=True, now=services.now())

    @router.delete("/own/listings/{ref}", tags=["own listings"], summary="Delete a listing")
    async def delete_listing(ref: ListingRef) -> dict[str, Any]:
        def delete() -> SignedListing:
            return services.catalog.delete(str(_own_listing(services, ref).cid))

        old = await services.run(delete)
        return {"deleted": str(old.cid), "id": old.body.listing_id.hex()}

    return router


__all__ = ["api_router", "category_param", "destination", "entry_json"]
