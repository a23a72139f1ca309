"""What a node keeps of the catalogs it syncs: the policy the sync asks, and nothing else.

Every node syncs every catalog it hears of, so that search runs on the device and no query
ever leaves it. What that costs grows with the market (``bench/storage_model.py``, "Scale
model" in docs/operations.md): at 10,000 sellers of 100 listings each, listing documents and
the search index fit a laptop (about 1 GB to download, 4 GB on disk), but prefetching every
listing's first thumbnail (about 7 KB for a photo) would add 7 GB to the first sync. So
thumbnails are prefetched only while the node holds few listings; beyond that a page fetches
the thumbnails it shows (`ImageFetcher`), from the seller's node or the nodes that synced the
catalog, as it always did for full images. Searching stays local either way: fetching a
shown thumbnail tells its source only which listing is being looked at, as opening it does.

Rules: the policy is a frozen value in `NodeConfig`; ``prefetch_thumbnails`` is a pure
function of how many listings the node holds, so the sync calls it once per catalog.
"""

from dataclasses import dataclass
from typing import Literal, get_args

ThumbnailMode = Literal["auto", "with-catalog", "when-shown"]
THUMBNAIL_MODES: tuple[str, ...] = get_args(ThumbnailMode)

# Listings held above which "auto" stops prefetching thumbnails: about 140 MB of photo
# thumbnails, a few minutes of download over Tor (see the storage model's inputs).
AUTO_PREFETCH_LISTINGS = 20_000


@dataclass(frozen=True, kw_only=True)
class StoragePolicy:
    """How much of each synced catalog a node stores ahead of being shown it.

    ``thumbnails``: ``"with-catalog"`` prefetches each listing's first thumbnail with the
    catalog (instant result pages, the most download); ``"when-shown"`` never prefetches (a
    page fetches the thumbnails it shows); ``"auto"`` (default) prefetches while the node
    holds fewer than ``auto_prefetch_listings`` listings, then fetches when shown. Thumbnails
    already stored stay.
    """

    thumbnails: ThumbnailMode = "auto"
    auto_prefetch_listings: int = AUTO_PREFETCH_LISTINGS

    def __post_init__(self) -> None:
        if self.thumbnails not in THUMBNAIL_MODES:
            raise ValueError(
                f"unknown thumbnails mode {self.thumbnails!r}; use one of"
                f" {', '.join(THUMBNAIL_MODES)}"
            )
        if self.auto_prefetch_listings < 0:
            raise ValueError("auto_prefetch_listings cannot be negative")

    def prefetch_thumbnails(self, listings_held: int) -> bool:
        """Whether a sync fetches the new listings' first thumbnails with their catalog."""
        if self.thumbnails == "with-catalog":
            return True
        if self.thumbnails == "when-shown":
            return False
        return listings_held < self.auto_prefetch_listings
