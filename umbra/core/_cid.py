"""Content identifiers: IPFS-compatible CIDv1 with sha2-256.

Image bytes use the ``raw`` codec (what ``ipfs add --cid-version 1 --raw-leaves`` gives for a
file of one block, i.e. up to 256 KiB; larger files need UnixFS chunking and are never produced
here: processed images are capped below one block). Documents use ``dag-cbor``.

Speed: ``CID(...)``, ``CID.decode`` and ``CID.set`` run ``typing_validation`` on every argument
(~0.4 ms per CID, the largest cost of parsing a catalog or a sync message). For the only CIDs we
accept (v1, sha2-256, raw or dag-cbor) `fast_cid` builds the same interned object through
multiformats' post-validation constructor, from constants whose types are known.
Text is the same story: ``str(cid)`` and ``CID.decode(text)`` go through ``bases``, which
validates every character (~0.6 ms per CID: 2.2 of 2.8 s when committing a 300-listing sync).
`cid_text` and `parse_cid` do base32 with the standard library for our CIDs.
"""

import base64
import binascii
import hashlib
from typing import Literal

from multiformats import CID, multibase, multicodec, multihash

from ._errors import InvalidDocument

Codec = Literal["raw", "dag-cbor"]

# One IPFS block; images are re-encoded to fit so their raw CID equals what IPFS computes.
MAX_BLOCK_BYTES = 256 * 1024

_BASE32 = multibase.get("base32")
_BASE58 = multibase.get("base58btc")
_SHA2_256 = multihash.get("sha2-256")
_SHA2_256_PREFIX = b"\x12\x20"  # multihash code 0x12, 32-byte digest
_CODECS = {"raw": multicodec.get("raw"), "dag-cbor": multicodec.get("dag-cbor")}
_CODEC_BY_CODE = {codec.code: codec for codec in _CODECS.values()}
# Binary form of a CID we accept: 0x01 (v1), one-byte codec varint, 0x12 0x20, 32 bytes.
CID_BINARY_BYTES = 1 + 1 + 2 + 32


def _new_cid(base: multibase.Multibase, codec: multicodec.Multicodec, digest: bytes) -> CID:
    # What CID() stores after its checks, set directly: the arguments are module constants and
    # a 34-byte sha2-256 multihash, so the checks hold. Skipping multiformats' intern table
    # (a weak dict keyed by slow-hashing tuples) too; CIDs compare and hash by value anyway.
    # tests/unit/core/test_encoding_paths.py checks the result equals CID(...) in every attribute.
    cid = object.__new__(CID)
    cid._base = base
    cid._version = 1
    cid._codec = codec
    cid._hashfun = _SHA2_256
    cid._digest = digest
    return cid


def cid_from_binary(raw: bytes) -> CID | None:
    """The CID for its binary form if it is one we accept (v1, sha2-256, raw|dag-cbor), else None.

    Equal to ``CID.decode(raw)`` (which gives base58btc for binary input) for those CIDs; the
    caller falls back to ``CID.decode`` for anything else.
    """
    if len(raw) != CID_BINARY_BYTES or raw[0] != 1 or raw[2:4] != _SHA2_256_PREFIX:
        return None
    codec = _CODEC_BY_CODE.get(raw[1])
    if codec is None:
        return None
    return _new_cid(_BASE58, codec, bytes(raw[2:]))


def cid_to_binary(cid: CID) -> bytes:
    """``bytes(cid)`` without multiformats' varint helpers for the CIDs we produce."""
    codec = cid.codec
    if cid.version == 1 and codec.code < 0x80 and cid.hashfun.code == _SHA2_256.code:
        return bytes((1, codec.code)) + cid.digest
    return bytes(cid)


def cid_text(cid: CID) -> str:
    """``str(normalize_cid(cid))``: base32 text, fast; raises `InvalidDocument` as that does."""
    if cid.version == 1 and cid.hashfun.code == _SHA2_256.code and cid.codec.code in _CODEC_BY_CODE:
        raw = bytes((1, cid.codec.code)) + cid.digest
        return "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()
    return str(normalize_cid(cid))


def _parse_base32(text: str) -> CID | None:
    """The CID for canonical base32 text of one we accept, else None (the caller falls back)."""
    body = text[1:]
    if not text.startswith("b") or body != body.lower():
        return None
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None
    cid = cid_from_binary(raw)
    if cid is None:
        return None
    cid = _new_cid(_BASE32, cid.codec, cid.digest)
    # Non-canonical text (stray bits in the last character) is left to multiformats.
    return cid if cid_text(cid) == text else None


def compute_cid(data: bytes, codec: Codec) -> CID:
    """The CIDv1 (sha2-256, base32) of ``data`` under ``codec``."""
    # hashlib here is content addressing (what multihash.digest calls), not a crypto recipe.
    return _new_cid(_BASE32, _CODECS[codec], _SHA2_256_PREFIX + hashlib.sha256(data).digest())


def parse_cid(text: str) -> CID:
    """Parse a CID given as text; only CIDv1 with sha2-256 and our two codecs are accepted."""
    text = text.strip()
    fast = _parse_base32(text)
    if fast is not None:
        return fast
    try:
        cid = CID.decode(text)
    except (ValueError, KeyError, TypeError, IndexError) as exc:  # IndexError: e.g. "7"
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
    if cid.base is _BASE32:
        return cid
    return _new_cid(_BASE32, cid.codec, cid.digest)


def verify_block(cid: CID, data: bytes) -> None:
    """Check that ``data`` hashes to ``cid``; call on every byte string that came from outside.

    Raises:
        InvalidDocument: the bytes do not match the CID.
    """
    cid = normalize_cid(cid)
    codec: Codec = "raw" if cid.codec.name == "raw" else "dag-cbor"
    if compute_cid(data, codec) != cid:
        raise InvalidDocument("cid-mismatch", f"bytes do not hash to {cid}")
