import os

import pytest

from umbra.core import ImageRef, ListingBody, ShippingOption, compute_cid
from umbra.core.crypto import SigningKey


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(bytes(range(32)))


def make_body(key: SigningKey, **overrides: object) -> ListingBody:
    fields: dict[str, object] = {
        "v": 1,
        "kind": "listing",
        "seller": key.public_key,
        "listing_id": bytes(16),
        "revision": 1,
        "created_at": 1_700_000_000,
        "expires_at": 1_700_000_000 + 30 * 86400,
        "title": "Road bike, 56 cm frame",
        "description": "Lightly used. **Carbon** fork.",
        "price": 250_000_000_000,
        "quantity": 1,
        "category": "sports/cycling",
        "tags": ["bike", "road"],
        "condition": "used-good",
        "shipping": [ShippingOption(name="Post", regions=["DE", "EU"], cost=5_000_000_000)],
        "ships_from": "DE",
        "images": [
            ImageRef(
                full=compute_cid(b"full", "raw"),
                thumb=compute_cid(b"thumb", "raw"),
                width=800,
                height=600,
            )
        ],
    }
    fields.update(overrides)
    return ListingBody(**fields)  # type: ignore[arg-type]


@pytest.fixture
def body(key: SigningKey) -> ListingBody:
    return make_body(key)


def random_key() -> SigningKey:
    return SigningKey(os.urandom(32))
