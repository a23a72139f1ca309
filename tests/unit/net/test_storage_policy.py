"""`StoragePolicy`: when a sync prefetches thumbnails (pure; the node asks it per catalog)."""

import pytest

from umbra.cli._node_cmds import THUMBNAIL_CHOICES
from umbra.net import AUTO_PREFETCH_LISTINGS, THUMBNAIL_MODES, StoragePolicy


def test_auto_prefetches_until_the_node_holds_many_listings() -> None:
    policy = StoragePolicy()
    assert policy.thumbnails == "auto"
    assert policy.prefetch_thumbnails(0)
    assert policy.prefetch_thumbnails(AUTO_PREFETCH_LISTINGS - 1)
    assert not policy.prefetch_thumbnails(AUTO_PREFETCH_LISTINGS)
    assert not policy.prefetch_thumbnails(1_000_000)
    small = StoragePolicy(auto_prefetch_listings=10)
    assert small.prefetch_thumbnails(9) and not small.prefetch_thumbnails(10)


def test_explicit_modes_ignore_how_much_is_held() -> None:
    for held in (0, AUTO_PREFETCH_LISTINGS, 10**7):
        assert StoragePolicy(thumbnails="with-catalog").prefetch_thumbnails(held)
        assert not StoragePolicy(thumbnails="when-shown").prefetch_thumbnails(held)


def test_unknown_mode_and_negative_threshold_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown thumbnails mode"):
        StoragePolicy(thumbnails="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        StoragePolicy(auto_prefetch_listings=-1)


def test_the_cli_offers_exactly_the_policy_modes() -> None:
    assert set(THUMBNAIL_CHOICES) == set(THUMBNAIL_MODES)
