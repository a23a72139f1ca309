"""Turning documents into JSON-ready dicts and human text."""

from datetime import UTC, datetime
from typing import Any

from umbra.core import SignedListing, format_xmr
from umbra.core.crypto import encode_public_key
from umbra.market import condition_label


def iso_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def listing_to_json(signed: SignedListing) -> dict[str, Any]:
    b = signed.body
    return {
        "cid": str(signed.cid),
        "id": b.listing_id.hex(),
        "revision": b.revision,
        "seller": encode_public_key(b.seller),
        "title": b.title,
        "description": b.description,
        "price": {"piconero": b.price, "xmr": format_xmr(b.price)},
        "quantity": b.quantity,
        "category": b.category,
        "tags": list(b.tags),
        "condition": b.condition,
        "ships_from": b.ships_from,
        "shipping": [
            {
                "name": o.name,
                "regions": list(o.regions),
                "cost": {"piconero": o.cost, "xmr": format_xmr(o.cost)},
            }
            for o in b.shipping
        ],
        "images": [
            {"full": str(i.full), "thumb": str(i.thumb), "width": i.width, "height": i.height}
            for i in b.images
        ],
        "created_at": iso_time(b.created_at),
        "expires_at": iso_time(b.expires_at),
    }


def listing_to_text(signed: SignedListing) -> str:
    b = signed.body
    lines = [
        f"{b.title}",
        f"  id {b.listing_id.hex()[:12]}  revision {b.revision}  cid {signed.cid}",
        f"  price {format_xmr(b.price, unit=True)}  quantity {b.quantity}"
        f"  condition: {condition_label(b.condition)}",
        f"  category {b.category}  tags {', '.join(b.tags) or '-'}",
        f"  ships from {b.ships_from}",
    ]
    for o in b.shipping:
        lines.append(f"    {o.name}: {', '.join(o.regions)} for {format_xmr(o.cost, unit=True)}")
    lines.append(f"  images {len(b.images)}  expires {iso_time(b.expires_at)}")
    lines.append("")
    lines.append(b.description)
    return "\n".join(lines)
