"""The core layer: models, canonical encoding, CIDs, signed documents, money, regions.

Layout: ``_errors`` (error types), ``_encoding`` (canonical DAG-CBOR), ``_cbor_decode`` (the
one strict decoder of CBOR from outside), ``_cid`` (CIDv1),
``_models`` (strict document bodies), ``_documents`` (sign/parse), ``_limits`` (size caps),
``_money`` (piconero), ``_regions`` and ``_categories`` (vocabularies), ``crypto/`` (the only
crypto imports), ``_fast_cbor`` (the encoder, and ``decode_fast`` for records without CIDs),
``_webp`` (the header check of image blocks from peers), ``_text`` (invisible and
direction-changing characters: refused in one-line fields, removed where free text is shown).
Nothing here does I/O.
"""

from . import _limits as limits
from ._categories import CATEGORIES, is_known_category, known_categories
from ._cid import (
    MAX_BLOCK_BYTES,
    Codec,
    cid_from_binary,
    cid_text,
    compute_cid,
    normalize_cid,
    parse_cid,
    verify_block,
)
from ._documents import (
    SignedArbiterProfile,
    SignedCatalog,
    SignedCatalogHead,
    SignedDocument,
    SignedListing,
    parse_arbiter_profile,
    parse_catalog,
    parse_catalog_head,
    parse_listing,
    sign_arbiter_profile,
    sign_catalog,
    sign_catalog_head,
    sign_listing,
)
from ._encoding import decode_canonical, encode_canonical
from ._errors import BadSignature, InvalidDocument, UmbraError, UsageError
from ._fast_cbor import cbor_head, decode_fast, encode_fast
from ._models import (
    CATALOG_VERSION,
    CONDITIONS,
    SCHEMA_VERSION,
    ArbiterProfileBody,
    CatalogBody,
    CatalogHeadBody,
    ImageRef,
    ListingBody,
    ShippingOption,
    first_error,
)
from ._money import MAX_AMOUNT, PICONERO_PER_XMR, format_xmr, parse_xmr
from ._regions import EU_MEMBERS, EUROPEAN_UNION, REGIONS, WORLDWIDE, is_region, region_covers
from ._text import check_line, escape_hidden, first_hidden, hidden_message, neutralize
from ._webp import MAX_IMAGE_SIDE, is_still_webp, still_webp_size

__all__ = [
    "CATALOG_VERSION",
    "CATEGORIES",
    "CONDITIONS",
    "EUROPEAN_UNION",
    "EU_MEMBERS",
    "MAX_AMOUNT",
    "MAX_BLOCK_BYTES",
    "MAX_IMAGE_SIDE",
    "PICONERO_PER_XMR",
    "REGIONS",
    "SCHEMA_VERSION",
    "WORLDWIDE",
    "ArbiterProfileBody",
    "BadSignature",
    "CatalogBody",
    "CatalogHeadBody",
    "Codec",
    "ImageRef",
    "InvalidDocument",
    "ListingBody",
    "ShippingOption",
    "SignedArbiterProfile",
    "SignedCatalog",
    "SignedCatalogHead",
    "SignedDocument",
    "SignedListing",
    "UmbraError",
    "UsageError",
    "cbor_head",
    "check_line",
    "cid_from_binary",
    "cid_text",
    "compute_cid",
    "decode_canonical",
    "decode_fast",
    "encode_canonical",
    "encode_fast",
    "escape_hidden",
    "first_error",
    "first_hidden",
    "format_xmr",
    "hidden_message",
    "is_known_category",
    "is_region",
    "is_still_webp",
    "known_categories",
    "limits",
    "neutralize",
    "normalize_cid",
    "parse_arbiter_profile",
    "parse_catalog",
    "parse_catalog_head",
    "parse_cid",
    "parse_listing",
    "parse_xmr",
    "region_covers",
    "sign_arbiter_profile",
    "sign_catalog",
    "sign_catalog_head",
    "sign_listing",
    "still_webp_size",
    "verify_block",
]
