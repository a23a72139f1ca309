"""Signed documents: listings, catalogs, catalog heads and arbiter profiles.

Wire form (DAG-CBOR, canonical): ``{"body": <body map>, "sig": <64-byte ed25519 signature>}``.
The signature covers ``tag || 0x00 || dag-cbor(body)`` where the tag names the document kind
(``crypto.tags``), so a listing signature can never pass as a catalog signature. A document's
identity is the CIDv1 (dag-cbor, sha2-256) of the whole wire form.

Parsing order for bytes from outside (cheapest and most decisive first): size cap → CID match
(if the CID was what we asked for) → canonical decode → envelope shape → schema version →
field validation → signature. Each kind names the schema versions it accepts (catalogs: 1, 2
and 3) and the body field that holds the signer's key (``seller``, or ``arbiter``).
"""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from multiformats import CID
from pydantic import BaseModel, ValidationError

from . import _limits as limits
from ._cid import compute_cid, verify_block
from ._encoding import decode_canonical, encode_canonical
from ._errors import BadSignature, InvalidDocument
from ._models import ArbiterProfileBody, CatalogBody, CatalogHeadBody, ListingBody, first_error
from .crypto import SigningKey, tags, verify_signature

BodyT = TypeVar("BodyT", bound=BaseModel)


@dataclass(frozen=True)
class SignedDocument(Generic[BodyT]):
    """A verified document: its validated body, wire bytes and CID."""

    body: BodyT
    data: bytes
    cid: CID


SignedListing = SignedDocument[ListingBody]
SignedCatalog = SignedDocument[CatalogBody]
SignedCatalogHead = SignedDocument[CatalogHeadBody]
SignedArbiterProfile = SignedDocument[ArbiterProfileBody]


@dataclass(frozen=True)
class _Kind(Generic[BodyT]):
    name: str
    model: type[BodyT]
    tag: bytes
    max_bytes: int
    versions: frozenset[int] = frozenset({1})
    signer: str = "seller"  # the body field holding the signing key


_LISTING = _Kind("listing", ListingBody, tags.LISTING_SIG, limits.MAX_LISTING_DOCUMENT_BYTES)
_CATALOG = _Kind(
    "catalog",
    CatalogBody,
    tags.CATALOG_SIG,
    limits.MAX_CATALOG_DOCUMENT_BYTES,
    frozenset({1, 2, 3}),
)
_HEAD = _Kind("catalog-head", CatalogHeadBody, tags.CATALOG_HEAD_SIG, limits.MAX_CATALOG_HEAD_BYTES)
_ARBITER = _Kind(
    "arbiter-profile",
    ArbiterProfileBody,
    tags.ARBITER_PROFILE_SIG,
    limits.MAX_ARBITER_PROFILE_BYTES,
    signer="arbiter",
)


def _body_to_wire(body: BaseModel) -> dict[str, Any]:
    # exclude_unset: a field with a default (a catalog's ``arbiters``, ``escrow_above``) is on
    # the wire only where the schema version has it; every other field has no default and is
    # always set.
    wire: dict[str, Any] = body.model_dump(mode="python", exclude_unset=True)
    return wire


def _sign(kind: _Kind[BodyT], key: SigningKey, body: BodyT) -> SignedDocument[BodyT]:
    if getattr(body, kind.signer) != key.public_key:
        raise InvalidDocument(
            "wrong-key", f"the {kind.name} names another {kind.signer} than the key"
        )
    body_bytes = encode_canonical(_body_to_wire(body))
    data = encode_canonical({"body": _body_to_wire(body), "sig": key.sign(kind.tag, body_bytes)})
    if len(data) > kind.max_bytes:
        raise InvalidDocument(
            "oversize", f"the {kind.name} encodes to more than {kind.max_bytes} bytes"
        )
    return SignedDocument(body, data, compute_cid(data, "dag-cbor"))


def _parse(kind: _Kind[BodyT], data: bytes, expected_cid: CID | None) -> SignedDocument[BodyT]:
    if len(data) > kind.max_bytes:
        raise InvalidDocument(
            "oversize", f"{kind.name} of {len(data)} bytes exceeds {kind.max_bytes}"
        )
    if expected_cid is not None:
        verify_block(expected_cid, data)
    wire = decode_canonical(data, max_size=kind.max_bytes)
    if not isinstance(wire, dict) or set(wire) != {"body", "sig"}:
        raise InvalidDocument("bad-envelope", "a signed document is a map of exactly body and sig")
    body, sig = wire["body"], wire["sig"]
    if not isinstance(body, dict) or not isinstance(sig, bytes):
        raise InvalidDocument("bad-envelope", "body must be a map and sig a byte string")
    if body.get("kind") != kind.name:
        raise InvalidDocument("wrong-kind", f"expected a {kind.name}, got {body.get('kind')!r}")
    version = body.get("v")
    if type(version) is not int or version not in kind.versions:
        raise InvalidDocument(
            "unknown-version", f"schema version {body.get('v')!r} is not supported"
        )
    try:
        model = kind.model.model_validate(body)
    except ValidationError as exc:
        raise InvalidDocument("invalid-field", first_error(exc, kind.name)) from None
    try:
        verify_signature(body[kind.signer], kind.tag, encode_canonical(body), sig)
    except BadSignature:
        raise InvalidDocument(
            "bad-signature", f"the {kind.name} signature does not verify"
        ) from None
    return SignedDocument(model, data, compute_cid(data, "dag-cbor"))


def sign_listing(key: SigningKey, body: ListingBody) -> SignedListing:
    """Sign a listing body with the seller's key."""
    return _sign(_LISTING, key, body)


def parse_listing(data: bytes, *, expected_cid: CID | None = None) -> SignedListing:
    """Strictly parse and verify a listing from outside (see module docstring for the order).

    Raises:
        InvalidDocument: with ``reason`` one of oversize, cid-mismatch, malformed-encoding,
            non-canonical, bad-envelope, wrong-kind, unknown-version, invalid-field,
            bad-signature.
    """
    return _parse(_LISTING, data, expected_cid)


def sign_catalog(key: SigningKey, body: CatalogBody) -> SignedCatalog:
    """Sign a catalog body with the seller's key."""
    return _sign(_CATALOG, key, body)


def parse_catalog(data: bytes, *, expected_cid: CID | None = None) -> SignedCatalog:
    """Strictly parse and verify a catalog from outside; same reasons as :func:`parse_listing`."""
    return _parse(_CATALOG, data, expected_cid)


def sign_catalog_head(key: SigningKey, body: CatalogHeadBody) -> SignedCatalogHead:
    """Sign the DHT record that points at the seller's current catalog."""
    return _sign(_HEAD, key, body)


def parse_catalog_head(data: bytes) -> SignedCatalogHead:
    """Strictly parse and verify a catalog head; same reasons as :func:`parse_listing`."""
    return _parse(_HEAD, data, None)


def sign_arbiter_profile(key: SigningKey, body: ArbiterProfileBody) -> SignedArbiterProfile:
    """Sign an arbiter's profile with the arbiter persona's key."""
    return _sign(_ARBITER, key, body)


def parse_arbiter_profile(data: bytes) -> SignedArbiterProfile:
    """Strictly parse and verify an arbiter profile; same reasons as :func:`parse_listing`."""
    return _parse(_ARBITER, data, None)
