"""Content-addressed blocks (listing documents, catalogs, images) inside the encrypted DB.

Blocks are keyed by their base32 CIDv1 string. Bytes that came from outside go through
`BlockStore.put_verified`, which checks the size cap before hashing and the hash before
storing, so the store only ever holds blocks that match their CID. Reads are not re-hashed:
SQLCipher authenticates every page, so stored bytes cannot change unnoticed.
"""

from multiformats import CID

from umbra.core import (
    MAX_BLOCK_BYTES,
    Codec,
    InvalidDocument,
    UsageError,
    cid_text,
    compute_cid,
    limits,
    normalize_cid,
    parse_cid,
    verify_block,
)

from ._database import Database

# Signed documents are far smaller than image blocks; a dag-cbor block above the largest
# document cap cannot be one of ours.
MAX_DOCUMENT_BLOCK_BYTES = max(limits.MAX_LISTING_DOCUMENT_BYTES, limits.MAX_CATALOG_DOCUMENT_BYTES)


def block_cap(codec: str) -> int:
    """The largest block accepted for ``codec``."""
    return MAX_BLOCK_BYTES if codec == "raw" else MAX_DOCUMENT_BLOCK_BYTES


def _cid_text(cid: CID | str) -> str:
    parsed = parse_cid(cid) if isinstance(cid, str) else normalize_cid(cid)
    return cid_text(parsed)


class BlockStore:
    """Blocks of one profile, stored in its encrypted database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, data: bytes, codec: Codec) -> CID:
        """Store bytes we produced ourselves; returns their CID.

        Raises:
            UsageError: the block is larger than the cap for ``codec``.
        """
        if len(data) > block_cap(codec):
            raise UsageError(f"a {codec} block may be at most {block_cap(codec)} bytes")
        cid = compute_cid(data, codec)
        self._insert(cid_text(cid), data)
        return cid

    def put_verified(self, cid: CID | str, data: bytes) -> CID:
        """Store bytes that came from outside, after checking them against ``cid``.

        Raises:
            InvalidDocument: bad CID, too large for its codec, or bytes that do not hash to it.
        """
        parsed = parse_cid(cid) if isinstance(cid, str) else normalize_cid(cid)
        cap = block_cap(parsed.codec.name)
        if len(data) > cap:
            raise InvalidDocument("oversize", f"{len(data)} bytes is more than the limit of {cap}")
        verify_block(parsed, data)
        self._insert(cid_text(parsed), data)
        return parsed

    def _insert(self, cid: str, data: bytes) -> None:
        # Same CID means same bytes, so an existing row is already right.
        self._db.execute(
            "INSERT INTO blocks (cid, size, data) VALUES (?, ?, ?) ON CONFLICT (cid) DO NOTHING",
            (cid, len(data), data),
        )

    def get(self, cid: CID | str) -> bytes | None:
        data = self._db.scalar("SELECT data FROM blocks WHERE cid = ?", (_cid_text(cid),))
        return None if data is None else bytes(data)

    def has(self, cid: CID | str) -> bool:
        return self._db.scalar("SELECT 1 FROM blocks WHERE cid = ?", (_cid_text(cid),)) is not None

    def delete(self, cid: CID | str) -> bool:
        """Remove a block; returns whether it was there."""
        return self._db.execute("DELETE FROM blocks WHERE cid = ?", (_cid_text(cid),)) > 0

    def count(self) -> int:
        """How many blocks are stored."""
        return int(self._db.scalar("SELECT count(*) FROM blocks"))

    def size(self) -> int:
        """Total bytes of all stored blocks (for quotas and the status page)."""
        return int(self._db.scalar("SELECT coalesce(sum(size), 0) FROM blocks"))
