"""The seller's own listings and catalog.

The catalog (schema 3) also names the arbiters the seller accepts, first = default
(`set_arbiters`), and the amount above which it takes orders only into escrow
(`set_escrow_above`); listing changes carry both over. Every change (create, edit, delete,
new arbiters, a new escrow rule, a stock change) is one database transaction that reads the
current catalog, stores the new signed listing and its image blocks, signs a new catalog with
``seq + 1``, moves the catalog pointer and updates the local search index, so a crash leaves
either the old or the new state, and two writers (the user's edit, the node selling stock)
never overwrite each other's change.

Every revision we publish is remembered (``own_listing_revisions``: CID → listing id and the
CID of its *terms*, everything but revision, quantity and times), so an order made against
an older revision is still recognised, and accepted if only the stock changed since
(`revision_of`).
"""

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from multiformats import CID
from pydantic import ValidationError

from umbra.core import (
    CATALOG_VERSION,
    MAX_AMOUNT,
    CatalogBody,
    ImageRef,
    ListingBody,
    ShippingOption,
    SignedCatalog,
    SignedListing,
    UsageError,
    compute_cid,
    encode_canonical,
    first_error,
    format_xmr,
    is_known_category,
    limits,
    parse_catalog,
    parse_cid,
    parse_listing,
    sign_catalog,
    sign_listing,
)
from umbra.store import Profile, index_entry_for

from ._images import process_image

DAY_S = 24 * 3600
DEFAULT_LIFETIME_DAYS = 30

_MIGRATIONS = [
    """
    CREATE TABLE own_catalog (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        cid TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE own_listing_revisions (
        cid TEXT PRIMARY KEY,
        listing_id BLOB NOT NULL,
        terms TEXT NOT NULL
    );
    CREATE INDEX own_listing_revisions_id ON own_listing_revisions (listing_id);
    """,
]
# What is not part of a listing's terms: a buyer who ordered an older revision that differs
# only in these still gets what it ordered.
_NOT_TERMS = frozenset({"revision", "quantity", "created_at", "expires_at"})


def listing_terms(body: ListingBody) -> str:
    """The CID of everything a buyer agrees to in a listing (price, shipping, text, images)."""
    terms = {k: v for k, v in body.model_dump(mode="python").items() if k not in _NOT_TERMS}
    return str(compute_cid(encode_canonical(terms), "dag-cbor"))


@dataclass(frozen=True)
class ListingDraft:
    """What a seller fills in; amounts are piconero, images are raw uploaded bytes."""

    title: str
    description: str
    price: int
    quantity: int
    category: str
    condition: str
    ships_from: str
    tags: tuple[str, ...] = ()
    shipping: tuple[ShippingOption, ...] = ()
    lifetime_days: int = DEFAULT_LIFETIME_DAYS
    images: tuple[bytes, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ListingChanges:
    """Fields to change in an edit; ``None`` keeps the current value."""

    title: str | None = None
    description: str | None = None
    price: int | None = None
    quantity: int | None = None
    category: str | None = None
    condition: str | None = None
    ships_from: str | None = None
    tags: tuple[str, ...] | None = None
    shipping: tuple[ShippingOption, ...] | None = None
    lifetime_days: int | None = None
    images: tuple[bytes, ...] | None = field(default=None, repr=False)
    # The revision the user saw when it started editing (None: do not check). The node
    # changes the quantity by itself when it sells; an edit based on an older revision
    # would silently put the sold stock back on offer.
    base_revision: int | None = None


def _key(cid: CID) -> str:
    """A CID as the revisions table keeps it: base32 (a peer may send any multibase)."""
    return str(cid.encode("base32"))


class ListingChanged(UsageError):
    """An edit was based on an older revision (a sale or another edit came in between)."""


def _friendly(exc: ValidationError) -> UsageError:
    return UsageError(first_error(exc, "listing"))


class SellerCatalog:
    """Create, edit and delete the profile's own listings; keep its signed catalog current."""

    def __init__(self, profile: Profile, *, clock: Callable[[], float] = time.time) -> None:
        self._profile = profile
        self._clock = clock
        profile.db.migrate("market.catalog", _MIGRATIONS)
        self._remember_current()

    # -- reading ---------------------------------------------------------------------------

    def current_catalog(self) -> SignedCatalog | None:
        row = self._profile.db.query_one("SELECT cid FROM own_catalog WHERE id = 1")
        if row is None:
            return None
        cid = parse_cid(row[0])
        return parse_catalog(self._block(cid), expected_cid=cid)

    def own_listings(self) -> list[SignedListing]:
        catalog = self.current_catalog()
        if catalog is None:
            return []
        listings = [parse_listing(self._block(c), expected_cid=c) for c in catalog.body.listings]
        return sorted(listings, key=lambda s: s.body.created_at, reverse=True)

    def resolve(self, ref: str) -> SignedListing:
        """Find an own listing by CID or by a prefix (≥ 4 hex digits) of its listing id."""
        ref = ref.strip().lower()
        listings = self.own_listings()
        if ref.startswith("baf"):
            matches = [s for s in listings if str(s.cid) == ref]
        elif len(ref) >= 4 and all(ch in "0123456789abcdef" for ch in ref):
            matches = [s for s in listings if s.body.listing_id.hex().startswith(ref)]
        else:
            raise UsageError(f"{ref!r} is not a listing id (hex, as shown by `listing list`)")
        if not matches:
            raise UsageError(f"no listing of yours matches {ref!r}")
        if len(matches) > 1:
            raise UsageError(f"{ref!r} matches {len(matches)} listings; give more digits")
        return matches[0]

    def block(self, cid: CID) -> bytes:
        """A stored block (image or document) by CID."""
        return self._block(cid)

    def arbiters(self) -> list[bytes]:
        """The arbiters our catalog says we accept (persona keys), first = default."""
        catalog = self.current_catalog()
        return [] if catalog is None else list(catalog.body.arbiters)

    def set_arbiters(self, arbiters: Sequence[bytes]) -> bool:
        """Publish a new catalog naming ``arbiters`` (first = default); False if unchanged.

        Raises:
            UsageError: more than the catalog's limit, a duplicate, or our own key.
        """
        keys = list(arbiters)
        if len(keys) > limits.MAX_CATALOG_ARBITERS:
            raise UsageError(f"a catalog names at most {limits.MAX_CATALOG_ARBITERS} arbiters")
        if len(set(keys)) != len(keys):
            raise UsageError("each arbiter is named once")
        if self._profile.identity.signing_public in keys:
            raise UsageError("you cannot be the arbiter of your own sales")
        return self._republish(lambda body: body.arbiters == keys, arbiters=keys)

    def escrow_above(self) -> int | None:
        """The amount (piconero) above which our catalog says we take only escrow orders."""
        catalog = self.current_catalog()
        return None if catalog is None else catalog.body.escrow_above

    def set_escrow_above(self, amount: int | None) -> bool:
        """Publish a new catalog with ``escrow_above`` (None: no rule); False if unchanged.

        Raises:
            UsageError: a negative amount or one above the maximum.
        """
        if amount is not None and not 0 <= amount <= MAX_AMOUNT:
            raise UsageError(f"the amount is 0..{format_xmr(MAX_AMOUNT)} XMR")
        return self._republish(lambda body: body.escrow_above == amount, escrow_above=(amount,))

    def _republish(
        self,
        unchanged: Callable[[CatalogBody], bool],
        *,
        arbiters: list[bytes] | None = None,
        escrow_above: tuple[int | None] | None = None,
    ) -> bool:
        """A new catalog with the same listings and the new ``arbiters`` or ``escrow_above``
        (as `_commit` takes them); False, and nothing signed, when the current one says so."""
        with self._profile.db.transaction():
            catalog = self.current_catalog()
            if (
                catalog is not None
                and catalog.body.v == CATALOG_VERSION
                and unchanged(catalog.body)
            ):
                return False
            listings = [] if catalog is None else list(catalog.body.listings)
            self._commit(
                listings,
                new=None,
                images=[],
                old=None,
                arbiters=arbiters,
                escrow_above=escrow_above,
            )
        return True

    def revision_of(self, cid: CID) -> tuple[SignedListing, bool] | None:
        """The current own listing that ``cid`` is a revision of, and whether its terms are
        still those of ``cid`` (only the stock or the times changed); None if not ours or
        no longer offered. Reads one listing block, however big the catalog."""
        row = self._profile.db.query_one(
            "SELECT listing_id, terms FROM own_listing_revisions WHERE cid = ?", (_key(cid),)
        )
        if row is None:
            return None
        current = self.listing(bytes(row[0]))
        if current is None:
            return None
        return current, current.cid == cid or listing_terms(current.body) == row[1]

    def listing(self, listing_id: bytes) -> SignedListing | None:
        """The current revision of our listing ``listing_id``, if we still offer it."""
        catalog = self.current_catalog()
        if catalog is None:
            return None
        offered = {_key(c): c for c in catalog.body.listings}
        rows = self._profile.db.query(
            "SELECT cid FROM own_listing_revisions WHERE listing_id = ?", (listing_id,)
        )
        for (key,) in rows:
            if key in offered:
                cid = offered[key]
                return parse_listing(self._block(cid), expected_cid=cid)
        return None

    def listing_id_of(self, cid: CID) -> bytes | None:
        """The id of our listing ``cid`` is (or was) a revision of; None if not ours."""
        row = self._profile.db.query_one(
            "SELECT listing_id FROM own_listing_revisions WHERE cid = ?", (_key(cid),)
        )
        return None if row is None else bytes(row[0])

    # -- changing --------------------------------------------------------------------------

    def create(self, draft: ListingDraft) -> SignedListing:
        images = self._process_images(draft.images)
        with self._profile.db.transaction():
            now = int(self._clock())
            catalog = self.current_catalog()
            if catalog is not None and len(catalog.body.listings) >= limits.MAX_CATALOG_LISTINGS:
                raise UsageError(f"a catalog holds at most {limits.MAX_CATALOG_LISTINGS} listings")
            body = self._build_body(draft, os.urandom(16), 1, now, [ref for ref, _ in images])
            signed = sign_listing(self._profile.identity.signing, body)
            current = [] if catalog is None else list(catalog.body.listings)
            self._commit([*current, signed.cid], new=signed, images=images, old=None)
        return signed

    def edit(self, ref: str, changes: ListingChanges) -> SignedListing:
        """Publish a new revision with ``changes``.

        Raises:
            UsageError: bad values, or ``changes.base_revision`` is not the current revision
                (the listing changed meanwhile, e.g. a sale took stock: edit it again).
        """
        new_images = None if changes.images is None else self._process_images(changes.images)
        with self._profile.db.transaction():
            old = self.resolve(ref)
            if changes.base_revision is not None and changes.base_revision != old.body.revision:
                raise ListingChanged(
                    "this listing changed since you opened it (a sale or another edit);"
                    " check it and save again"
                )
            signed, images = self._edited(old, changes, new_images)
            catalog = self.current_catalog()
            assert catalog is not None  # resolve() found the listing in it
            listings = [signed.cid if c == old.cid else c for c in catalog.body.listings]
            self._commit(listings, new=signed, images=images, old=old)
        return signed

    def set_quantity(self, listing_id: bytes, quantity: int) -> SignedListing:
        """Publish a stock revision: only ``quantity`` changes (terms and times are kept).

        Raises:
            UsageError: no current listing with that id, or a quantity out of range.
        """
        if not 0 <= quantity <= limits.MAX_QUANTITY:
            raise UsageError(f"a quantity is 0..{limits.MAX_QUANTITY}")
        with self._profile.db.transaction():
            old = self.listing(listing_id)
            if old is None:
                raise UsageError("this listing is no longer offered")
            b = old.body
            fields = {**dict(b), "revision": b.revision + 1, "quantity": quantity}
            signed = sign_listing(self._profile.identity.signing, ListingBody(**fields))
            catalog = self.current_catalog()
            assert catalog is not None
            listings = [signed.cid if c == old.cid else c for c in catalog.body.listings]
            self._commit(listings, new=signed, images=[], old=old)
        return signed

    def delete(self, ref: str) -> SignedListing:
        with self._profile.db.transaction():
            old = self.resolve(ref)
            catalog = self.current_catalog()
            assert catalog is not None
            self._commit(
                [c for c in catalog.body.listings if c != old.cid], new=None, images=[], old=old
            )
        return old

    def _edited(
        self,
        old: SignedListing,
        changes: ListingChanges,
        new_images: list[tuple[ImageRef, tuple[bytes, bytes]]] | None,
    ) -> tuple[SignedListing, list[tuple[ImageRef, tuple[bytes, bytes]]]]:
        now = int(self._clock())
        if new_images is None:
            images: list[tuple[ImageRef, tuple[bytes, bytes]]] = []
            refs = list(old.body.images)
        else:
            images = new_images
            refs = [ref for ref, _ in images]
        b = old.body
        draft = ListingDraft(
            title=b.title if changes.title is None else changes.title,
            description=b.description if changes.description is None else changes.description,
            price=b.price if changes.price is None else changes.price,
            quantity=b.quantity if changes.quantity is None else changes.quantity,
            category=b.category if changes.category is None else changes.category,
            condition=b.condition if changes.condition is None else changes.condition,
            ships_from=b.ships_from if changes.ships_from is None else changes.ships_from,
            tags=tuple(b.tags) if changes.tags is None else changes.tags,
            shipping=tuple(b.shipping) if changes.shipping is None else changes.shipping,
            lifetime_days=(
                max(1, (b.expires_at - b.created_at) // DAY_S)
                if changes.lifetime_days is None
                else changes.lifetime_days
            ),
        )
        body = self._build_body(draft, b.listing_id, b.revision + 1, now, refs)
        return sign_listing(self._profile.identity.signing, body), images

    # -- internals -------------------------------------------------------------------------

    def _block(self, cid: CID) -> bytes:
        data = self._profile.blocks.get(cid)
        if data is None:
            raise UsageError(f"block {cid} is missing from the local store")
        return data

    @staticmethod
    def _process_images(raw: Sequence[bytes]) -> list[tuple[ImageRef, tuple[bytes, bytes]]]:
        if len(raw) > limits.MAX_IMAGES:
            raise UsageError(f"a listing has at most {limits.MAX_IMAGES} images")
        out = []
        for n, data in enumerate(raw, 1):
            try:
                img = process_image(data)
            except UsageError as exc:
                raise UsageError(f"image {n}: {exc}") from None
            ref = ImageRef(
                full=compute_cid(img.full, "raw"),
                thumb=compute_cid(img.thumb, "raw"),
                width=img.width,
                height=img.height,
            )
            out.append((ref, (img.full, img.thumb)))
        return out

    def _build_body(
        self,
        draft: ListingDraft,
        listing_id: bytes,
        revision: int,
        now: int,
        images: list[ImageRef],
    ) -> ListingBody:
        if not is_known_category(draft.category):
            raise UsageError(f"unknown category {draft.category!r}; see `umbra listing categories`")
        if not 1 <= draft.lifetime_days <= 365:
            raise UsageError("a listing lives between 1 and 365 days")
        try:
            return ListingBody(
                v=1,
                kind="listing",
                seller=self._profile.identity.signing_public,
                listing_id=listing_id,
                revision=revision,
                created_at=now,
                expires_at=now + draft.lifetime_days * DAY_S,
                title=draft.title.strip(),
                description=draft.description,
                price=draft.price,
                quantity=draft.quantity,
                category=draft.category,
                tags=sorted({t.strip().lower() for t in draft.tags if t.strip()}),
                condition=draft.condition,  # type: ignore[arg-type]  # validated by the model
                shipping=list(draft.shipping),
                ships_from=draft.ships_from.upper(),
                images=images,
            )
        except ValidationError as exc:
            raise _friendly(exc) from None

    def _commit(
        self,
        listings: list[CID],
        *,
        new: SignedListing | None,
        images: list[tuple[ImageRef, tuple[bytes, bytes]]],
        old: SignedListing | None,
        arbiters: list[bytes] | None = None,
        escrow_above: tuple[int | None] | None = None,
    ) -> None:
        profile = self._profile
        with profile.db.transaction():  # a savepoint inside the caller's transaction
            self._commit_in_transaction(listings, new, images, old, arbiters, escrow_above)

    def _commit_in_transaction(
        self,
        listings: list[CID],
        new: SignedListing | None,
        images: list[tuple[ImageRef, tuple[bytes, bytes]]],
        old: SignedListing | None,
        arbiters: list[bytes] | None,
        escrow_above: tuple[int | None] | None,
    ) -> None:
        profile = self._profile
        previous = self.current_catalog()
        seq = 1 if previous is None else previous.body.seq + 1
        if arbiters is None:  # a listing change keeps the accepted arbiters
            arbiters = [] if previous is None else list(previous.body.arbiters)
        # ... and the escrow rule (a one-tuple, because None is a rule value: "no rule").
        if escrow_above is None:
            escrow_above = (None if previous is None else previous.body.escrow_above,)
        catalog = sign_catalog(
            profile.identity.signing,
            CatalogBody(
                v=CATALOG_VERSION,
                kind="catalog",
                seller=profile.identity.signing_public,
                seq=seq,
                updated_at=int(self._clock()),
                listings=listings,
                arbiters=arbiters,
                escrow_above=escrow_above[0],
            ),
        )
        for _, (full, thumb) in images:
            profile.blocks.put(full, "raw")
            profile.blocks.put(thumb, "raw")
        if new is not None:
            profile.blocks.put(new.data, "dag-cbor")
            profile.search.upsert(index_entry_for(new))
            for signed in (new, old):  # ``old`` may predate this table
                if signed is not None:
                    self._remember(signed)
        elif old is not None:
            profile.search.remove(old.body.seller, old.body.listing_id)
            profile.db.execute(
                "DELETE FROM own_listing_revisions WHERE listing_id = ?", (old.body.listing_id,)
            )
        profile.blocks.put(catalog.data, "dag-cbor")
        profile.db.execute(
            "INSERT INTO own_catalog (id, seq, cid) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, cid = excluded.cid",
            (seq, str(catalog.cid)),
        )
        if previous is not None:
            profile.blocks.delete(previous.cid)
        if old is not None:
            self._drop_unreferenced(old, new)

    def _remember_current(self) -> None:
        """Listings last changed before revisions were kept: remember them (once)."""
        db = self._profile.db
        if db.query_one("SELECT 1 FROM own_listing_revisions LIMIT 1") is not None:
            return
        listings = self.own_listings()
        if listings:
            with db.transaction():
                for signed in listings:
                    self._remember(signed)

    def _remember(self, signed: SignedListing) -> None:
        self._profile.db.execute(
            "INSERT OR IGNORE INTO own_listing_revisions (cid, listing_id, terms) VALUES (?, ?, ?)",
            (_key(signed.cid), signed.body.listing_id, listing_terms(signed.body)),
        )

    def _drop_unreferenced(self, old: SignedListing, new: SignedListing | None) -> None:
        keep = set()
        if new is not None:
            keep = {c for img in new.body.images for c in (img.full, img.thumb)}
        self._profile.blocks.delete(old.cid)
        for img in old.body.images:
            for cid in (img.full, img.thumb):
                if cid not in keep:
                    self._profile.blocks.delete(cid)
