"""Listings, search hits and amounts as JSON-ready dicts (the API's output shapes)."""

from datetime import UTC, datetime
from typing import Any

from umbra.core import SignedListing, format_xmr
from umbra.core.crypto import encode_public_key
from umbra.store import SNIPPET_END, SNIPPET_START, IndexEntry, SearchHit

IMAGE_PATH = "/api/v1/images/"


def iso_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def amount(piconero: int) -> dict[str, Any]:
    return {"piconero": piconero, "xmr": format_xmr(piconero)}


def snippet_parts(snippet: str) -> list[dict[str, Any]]:
    """Split a marked snippet into ``{"text", "match"}`` pieces (no markup to escape)."""
    parts: list[dict[str, Any]] = []
    for i, chunk in enumerate(snippet.split(SNIPPET_START)):
        if i == 0:
            if chunk:
                parts.append({"text": chunk, "match": False})
            continue
        matched, _, rest = chunk.partition(SNIPPET_END)
        if matched:
            parts.append({"text": matched, "match": True})
        if rest:
            parts.append({"text": rest, "match": False})
    return parts


def listing_json(signed: SignedListing, *, own: bool, now: int) -> dict[str, Any]:
    b = signed.body
    return {
        "cid": str(signed.cid),
        "id": b.listing_id.hex(),
        "revision": b.revision,
        "own": own,
        "seller": encode_public_key(b.seller),
        "title": b.title,
        "description": b.description,
        "price": amount(b.price),
        "quantity": b.quantity,
        "sold_out": b.quantity == 0,
        "category": b.category,
        "tags": list(b.tags),
        "condition": b.condition,
        "ships_from": b.ships_from,
        "shipping": [
            {"name": o.name, "regions": list(o.regions), "cost": amount(o.cost)} for o in b.shipping
        ],
        "images": [
            {
                "full": str(i.full),
                "thumb": str(i.thumb),
                "width": i.width,
                "height": i.height,
                "url": f"{IMAGE_PATH}{i.full}",
                "thumb_url": f"{IMAGE_PATH}{i.thumb}",
            }
            for i in b.images
        ],
        "created_at": iso_time(b.created_at),
        "expires_at": iso_time(b.expires_at),
        "expired": b.is_expired_at(now),
    }


def entry_json(entry: IndexEntry) -> dict[str, Any]:
    return {
        "cid": entry.cid,
        "id": entry.listing_id.hex(),
        "seller": encode_public_key(entry.seller),
        "title": entry.title,
        "price": amount(entry.price),
        "category": entry.category,
        "tags": list(entry.tags),
        "ships_from": entry.ships_from,
        "ship_regions": list(entry.ship_regions),
        "quantity": entry.quantity,
        "sold_out": entry.quantity == 0,
        "thumbnail": entry.thumbnail,
        "thumbnail_url": None if entry.thumbnail is None else f"{IMAGE_PATH}{entry.thumbnail}",
        "created_at": iso_time(entry.created_at),
        "expires_at": iso_time(entry.expires_at),
    }


def hit_json(hit: SearchHit) -> dict[str, Any]:
    plain = hit.snippet.replace(SNIPPET_START, "").replace(SNIPPET_END, "")
    return {
        **entry_json(hit.entry),
        "score": hit.score,
        "snippet": plain,
        "snippet_parts": snippet_parts(hit.snippet),
    }
