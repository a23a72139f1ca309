"""The market layer: listings (now), orders, escrow, disputes and ratings (later issues).

Layout: ``_images`` (strict image processing, metadata stripping), ``_listings`` (the seller's
own listings and signed catalog), ``_samples`` (demo data).
"""

from ._images import ProcessedImage, process_image
from ._listings import DEFAULT_LIFETIME_DAYS, ListingChanges, ListingDraft, SellerCatalog
from ._samples import sample_drafts, sample_image

__all__ = [
    "DEFAULT_LIFETIME_DAYS",
    "ListingChanges",
    "ListingDraft",
    "ProcessedImage",
    "SellerCatalog",
    "process_image",
    "sample_drafts",
    "sample_image",
]
