"""Size limits for everything that may come from outside. Documented in docs/specifications/."""

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_BYTES = 20_000  # UTF-8 bytes of the Markdown description
MAX_TAGS = 20
MAX_TAG_CHARS = 32
MAX_IMAGES = 10
MAX_IMAGE_INPUT_BYTES = 10 * 1024 * 1024  # before processing
MAX_SHIPPING_OPTIONS = 10
MAX_REGIONS_PER_OPTION = 60
MAX_SHIPPING_NAME_CHARS = 60
MAX_QUANTITY = 1_000_000
MAX_LISTING_DOCUMENT_BYTES = 64 * 1024
MAX_CATALOG_LISTINGS = 1_000
MAX_CATALOG_DOCUMENT_BYTES = 64 * 1024
MAX_CATALOG_HEAD_BYTES = 512  # fits a DHT record comfortably
# Listings live at most a year before the seller must renew them.
MAX_LISTING_LIFETIME_S = 366 * 24 * 3600
# Arbiters: a seller's catalog names at most this many; an arbiter's profile is a DHT record.
MAX_CATALOG_ARBITERS = 16
MAX_ARBITER_PROFILE_BYTES = 4096
MAX_ARBITER_NAME_CHARS = 60
MAX_ARBITER_FEE_CHARS = 200
MAX_ARBITER_TERMS_BYTES = 2000  # UTF-8 bytes
# A profile is re-signed (and so stays fresh) long before it expires.
MAX_ARBITER_PROFILE_LIFETIME_S = 30 * 24 * 3600
