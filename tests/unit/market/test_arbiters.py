"""The seller's accepted arbiters in its catalog, and the arbiter directory (real profiles)."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.core import UsageError
from umbra.core.crypto import Argon2Params, encode_public_key
from umbra.market import (
    ArbiterDirectory,
    ArbiterOffer,
    SellerCatalog,
    TradeService,
    sample_drafts,
    sign_own_profile,
)
from umbra.market._trade_node import adopt_legacy_arbiters
from umbra.market._trade_service import ARBITERS_KEY
from umbra.market._trade_store import TradeStore
from umbra.store import Profile, create_profile

FAST = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
A, B = b"\x01" * 32, b"\x02" * 32


@pytest.fixture
def seller(tmp_path: Path) -> Iterator[Profile]:
    profile = create_profile(tmp_path, "seller", "pw", params=FAST)
    yield profile
    profile.close()


def test_arbiters_go_into_a_new_catalog_and_survive_listing_changes(seller: Profile) -> None:
    catalog = SellerCatalog(seller)
    assert catalog.arbiters() == []
    assert catalog.set_arbiters([B, A])
    first = catalog.current_catalog()
    assert first is not None and first.body.v == 3 and first.body.arbiters == [B, A]
    assert not catalog.set_arbiters([B, A])  # unchanged: no new catalog
    catalog.create(sample_drafts(1)[0])
    after = catalog.current_catalog()
    assert after is not None and after.body.seq == first.body.seq + 1
    assert after.body.arbiters == [B, A] and len(after.body.listings) == 1
    with pytest.raises(UsageError, match="own sales"):
        catalog.set_arbiters([seller.identity.signing_public])
    with pytest.raises(UsageError, match="at most"):
        catalog.set_arbiters([bytes([i]) * 32 for i in range(3, 20)])


def test_the_escrow_rule_is_signed_in_the_catalog_and_survives_other_changes(
    seller: Profile,
) -> None:
    catalog, service = SellerCatalog(seller), TradeService(seller)
    assert catalog.escrow_above() is None and service.seller_escrow_above() is None
    assert catalog.set_escrow_above(5 * 10**11)
    first = catalog.current_catalog()
    assert first is not None and (first.body.v, first.body.escrow_above) == (3, 5 * 10**11)
    assert not catalog.set_escrow_above(5 * 10**11)  # unchanged: no new catalog
    catalog.create(sample_drafts(1)[0])
    catalog.set_arbiters([A])
    after = catalog.current_catalog()
    assert after is not None and after.body.seq == first.body.seq + 2
    assert after.body.escrow_above == 5 * 10**11 and after.body.arbiters == [A]
    service.set_seller_escrow_above(None)
    cleared = catalog.current_catalog()
    assert cleared is not None and cleared.body.escrow_above is None
    assert cleared.body.arbiters == [A] and len(cleared.body.listings) == 1
    with pytest.raises(UsageError, match="the amount is 0"):
        service.set_seller_escrow_above(10**18 + 1)


def test_the_trade_service_list_is_the_catalog(seller: Profile) -> None:
    service = TradeService(seller)
    service.set_accepted_arbiters([encode_public_key(A), encode_public_key(B)])
    assert service.accepted_arbiters() == [encode_public_key(A), encode_public_key(B)]
    assert SellerCatalog(seller).arbiters() == [A, B]
    (first, _second) = service.seller_arbiters(seller.identity.signing_public) or []
    assert first["id"] == encode_public_key(A) and not first["known"]


def test_an_older_profiles_list_moves_into_the_catalog_once(seller: Profile) -> None:
    store = TradeStore(seller.db)
    with store.db.transaction():
        store.set_config(ARBITERS_KEY, f"{encode_public_key(A)},{encode_public_key(B)}")
    adopt_legacy_arbiters(seller)
    assert SellerCatalog(seller).arbiters() == [A, B]
    assert not store.get_config(ARBITERS_KEY)
    adopt_legacy_arbiters(seller)  # nothing left to do
    assert SellerCatalog(seller).arbiters() == [A, B]


def test_the_directory_keeps_the_newest_profile_and_wants_the_missing(
    tmp_path: Path, seller: Profile
) -> None:
    arbiter = create_profile(tmp_path, "arbiter", "pw", params=FAST)
    try:
        key = arbiter.identity.signing_public
        SellerCatalog(seller).set_arbiters([key, A])
        directory = ArbiterDirectory(seller)
        assert directory.wanted() == [key, A]
        now = int(time.time())
        new = sign_own_profile(arbiter, ArbiterOffer("New name"), now)
        old = sign_own_profile(arbiter, ArbiterOffer("Old name"), now - 100)
        directory.remember(new)
        directory.remember(old)  # an older profile does not replace a newer one
        found = directory.profile(key)
        assert found is not None and found.body.name == "New name"
        assert directory.wanted() == [A]
        assert directory.describe(key)["known"] and directory.describe(key)["name"] == "New name"
        late = ArbiterDirectory(seller, clock=lambda: now + 8 * 24 * 3600)
        assert late.profile(key) is None  # expired profiles are not shown
    finally:
        arbiter.close()
