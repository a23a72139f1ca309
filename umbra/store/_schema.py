"""The store layer's tables, as versioned migrations under the ``store`` namespace.

Rules: never edit a released step; add a new one. ``STORE_MIGRATIONS[i]`` takes the namespace
from version ``i`` to ``i + 1`` (see `Database.migrate`). Other layers keep their own
namespaces (``wallet``, ``market``, ``net``) and never touch these tables.

Search tables, and why they are shaped this way (see ``_search`` and ``_facets``):

- ``search_listings`` is narrow (what filters, sorts and hits read) so its pages stay in the
  page cache: with SQLCipher every page read from disk is also a page decrypted. Its ``id``
  is ``created_at << 20 | slot``, so "newest first" is plain rowid order, which FTS5 walks
  natively without looking rows up (see ``_search_write``).
- ``search_texts`` holds title, tags, description and the facet tokens: the external content
  of the FTS5 table. `SearchIndex` writes the three tables together in one transaction.
  Not with triggers: FTS5 flushes its buffer of pending terms at every statement savepoint,
  which a trigger opens, and that made each insert about seven times slower.
- ``search_fts`` indexes the texts and the facets (category, regions, price buckets) so all
  filters except the exact price edges and expiry are evaluated inside FTS5.
"""

from umbra.core import InvalidDocument, UsageError, parse_cid, parse_listing

from ._database import Database

STORE_NAMESPACE = "store"

_V1 = """
CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    signing_seed BLOB NOT NULL CHECK (length(signing_seed) = 32),
    encryption_secret BLOB NOT NULL CHECK (length(encryption_secret) = 32)
);

CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    cid TEXT NOT NULL UNIQUE,       -- base32 CIDv1
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);

CREATE TABLE search_listings (
    id INTEGER PRIMARY KEY,         -- created_at << 20 | slot: rowid order is age order
    cid TEXT NOT NULL UNIQUE,
    seller BLOB NOT NULL,
    listing_id BLOB NOT NULL,
    revision INTEGER NOT NULL,
    category TEXT NOT NULL,
    price INTEGER NOT NULL,         -- piconero
    ship_regions TEXT NOT NULL,     -- JSON array, as given
    ships_from TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    thumbnail TEXT,
    UNIQUE (seller, listing_id)
);
CREATE INDEX search_listings_price ON search_listings (price, expires_at);
CREATE INDEX search_listings_expires ON search_listings (expires_at);

CREATE TABLE search_texts (
    id INTEGER PRIMARY KEY,         -- = search_listings.id
    title TEXT NOT NULL,
    tags TEXT NOT NULL,             -- JSON array; its punctuation is a token separator
    description TEXT NOT NULL,
    facets TEXT NOT NULL            -- filter tokens, see _facets.py
);

CREATE VIRTUAL TABLE search_fts USING fts5 (
    title, tags, description, facets,
    content = 'search_texts', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
-- ORDER BY rank = bm25 with column weights title 10, tags 5, description 1, facets 0.
INSERT INTO search_fts (search_fts, rank) VALUES ('rank', 'bm25(10.0, 5.0, 1.0, 0.0)');
-- The index's vocabulary: expands a long prefix into the whole terms it stands for.
CREATE VIRTUAL TABLE search_vocab USING fts5vocab (search_fts, 'row');
"""

# The quantity a listing still offers, so results can say "Sold out" without reading blocks.
# Rows indexed before stay NULL (unknown) until `migrate_store` fills them in.
_V2 = "ALTER TABLE search_listings ADD COLUMN quantity INTEGER;"

STORE_MIGRATIONS: tuple[str, ...] = (_V1, _V2)


def migrate_store(db: Database) -> int:
    """Create or upgrade the store layer's tables; returns the schema version."""
    before = db.schema_version(STORE_NAMESPACE)
    version = db.migrate(STORE_NAMESPACE, STORE_MIGRATIONS)
    if 0 < before < 2:
        _fill_quantities(db)
    return version


def _fill_quantities(db: Database) -> None:
    """Read the quantity of listings indexed before version 2 from their stored blocks."""
    rows = db.query(
        "SELECT l.cid, b.data FROM search_listings l JOIN blocks b ON b.cid = l.cid"
        " WHERE l.quantity IS NULL"
    )
    with db.transaction():
        for cid, data in rows:
            try:
                quantity = parse_listing(bytes(data), expected_cid=parse_cid(cid)).body.quantity
            except (InvalidDocument, UsageError):
                continue  # a damaged block: shown as available, as before
            db.execute("UPDATE search_listings SET quantity = ? WHERE cid = ?", (quantity, cid))
