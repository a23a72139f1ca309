"""Content identifiers: IPFS-compatible CIDv1 with sha2-256.

Image bytes use the ``raw`` codec (what ``ipfs add --cid-version 1 --raw-leaves`` gives for a
file of one block, i.e. up to 256 KiB; larger files need UnixFS chunking and are never produced
here: processed images are capped below one block). Documents use ``dag-cbor``.
"""

from typing import Literal

from multiformats import CID, multihash

from ._errors import InvalidDocument

Codec = Literal["raw", "dag-cbor"]

# One IPFS block; images are re-encoded to fit so their raw CID equals what IPFS computes.
MAX_BLOCK_BYTES = 256 * 1024


def compute_cid(data: bytes, codec: Codec) -> CID:
    """The CIDv1 (sha2-256, base32) of ``data`` under ``codec``."""
    return CID("base32", 1, codec, multihash.digest(data, "sha2-256"))


def parse_cid(text: str) -> CID:
    """Parse a CID given as text; only CIDv1 with sha2-256 and our two codecs are accepted."""
    try:
        cid = CID.decode(text.strip())
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidDocument("bad-cid", f"not a valid CID: {text[:80]!r}") from exc
    return normalize_cid(cid)


def normalize_cid(cid: CID) -> CID:
    """Check that a CID is one we produce and return it in base32 form."""
    if (
        cid.version != 1
        or cid.hashfun.name != "sha2-256"
        or cid.codec.name
        not in (
            "raw",
            "dag-cbor",
        )
    ):
        raise InvalidDocument(
            "bad-cid", f"unsupported CID {cid}: need CIDv1, sha2-256, raw|dag-cbor"
        )
    return cid.set(base="base32")


def verify_block(cid: CID, data: bytes) -> None:
    """Check that ``data`` hashes to ``cid``; call on every byte string that came from outside.

    Raises:
        InvalidDocument: the bytes do not match the CID.
    """
    cid = normalize_cid(cid)
    codec: Codec = "raw" if cid.codec.name == "raw" else "dag-cbor"
    if compute_cid(data, codec) != cid:
        raise InvalidDocument("cid-mismatch", f"bytes do not hash to {cid}")
