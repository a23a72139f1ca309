"""The seller's stock: taken when an order is accepted, given back if the order dies unsold.

Rules (the seller's node alone keeps them; buyers only read the published quantity):
- A listing's ``quantity`` is what is still on offer. The seller's node takes an order's
  quantity from it when it **accepts** the order, and publishes that as a new listing
  revision (``revision + 1``, same terms and times) in a new catalog (``seq + 1``), in the
  same database transaction that stores the order's new state (`TradeDriver.step`). A node
  killed at any moment therefore has either both or neither: it never sells stock twice and
  never loses it.
- The quantity comes back (again a new revision) when an accepted order ends **cancelled or
  void**: the goods never left the shop (a cancel is possible only before shipping; after
  funding it comes with a refund). A completed or arbitrated order keeps it. A declined
  order never had any.
- Each taking is recorded per order (``stock_reservations``), so an order gives back exactly
  what it took, once, and orders accepted before stock was kept give back nothing.
- An order that asks for more than is left is refused with one line the buyer sees
  (`stock_problem`): when it arrives, when the seller accepts it, and — as soon as an
  acceptance leaves too little for them — every other order still waiting for an answer.
"""

from dataclasses import dataclass

from multiformats import CID

from umbra.core import UmbraError, limits
from umbra.store import Profile

from ._listings import SellerCatalog
from ._order_table import State

NAMESPACE = "market.stock"
_MIGRATIONS = [
    """
    CREATE TABLE stock_reservations (
        order_id BLOB PRIMARY KEY CHECK (length(order_id) = 16),
        listing_id BLOB NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity > 0)
    );
    """,
]

SOLD_OUT = "sold out"

# States in which an accepted order holds its stock (taken at accept, kept once sold).
HOLDS_STOCK: frozenset[State] = frozenset(
    {
        State.S2_accepted,
        State.S3_escrow_setup,
        State.S4_funded,
        State.S5_shipped,
        State.S6_completed,
        State.S7_disputed,
        State.S8_resolved,
    }
)


class OutOfStock(UmbraError):
    """An order asks for more than the listing has left; the message is the reason shown."""


def stock_problem(available: int, wanted: int) -> str | None:
    """Why an order for ``wanted`` items cannot be filled from ``available`` (None: it can)."""
    if available <= 0:
        return SOLD_OUT
    if wanted > available:
        return f"only {available} left"
    return None


def stock_move(before: State, after: State) -> int:
    """+1: the order takes its stock now; -1: it gives it back; 0: nothing changes."""
    return int(after in HOLDS_STOCK) - int(before in HOLDS_STOCK)


@dataclass(frozen=True)
class Reservation:
    order_id: bytes
    listing_id: bytes
    quantity: int


class StockKeeper:
    """Takes and gives back stock of the profile's own listings, per order.

    Every method is meant to run inside the caller's transaction (it opens a savepoint), so
    the stock change commits with the order state that caused it.
    """

    def __init__(self, profile: Profile) -> None:
        self._profile = profile
        self._catalog = SellerCatalog(profile)
        profile.db.migrate(NAMESPACE, _MIGRATIONS)

    def offered(self, listing: CID) -> tuple[int, bytes] | None:
        """(quantity left, listing id) of the own listing ``listing`` is a revision of."""
        found = self._catalog.revision_of(listing)
        if found is None:
            return None
        signed, _ = found
        return signed.body.quantity, signed.body.listing_id

    def listing_id_of(self, listing: CID) -> bytes | None:
        return self._catalog.listing_id_of(listing)

    def take(self, order_id: bytes, listing: CID, quantity: int) -> Reservation:
        """Take ``quantity`` for ``order_id`` from the listing ``listing`` is a revision of.

        Raises:
            OutOfStock: the listing is gone, sold out, or has fewer left.
        """
        db = self._profile.db
        with db.transaction():
            held = self.reservation(order_id)
            if held is not None:  # already taken (e.g. a step redone after a crash)
                return held
            found = self._catalog.revision_of(listing)
            if found is None:
                raise OutOfStock("this listing is no longer offered")
            signed, _ = found
            body = signed.body
            problem = stock_problem(body.quantity, quantity)
            if problem is not None:
                raise OutOfStock(problem)
            self._catalog.set_quantity(body.listing_id, body.quantity - quantity)
            db.execute(
                "INSERT INTO stock_reservations (order_id, listing_id, quantity) VALUES (?, ?, ?)",
                (order_id, body.listing_id, quantity),
            )
        return Reservation(order_id, body.listing_id, quantity)

    def give_back(self, order_id: bytes) -> Reservation | None:
        """Return what ``order_id`` took to its listing, if it still exists; once only."""
        db = self._profile.db
        with db.transaction():
            held = self.reservation(order_id)
            if held is None:
                return None
            db.execute("DELETE FROM stock_reservations WHERE order_id = ?", (order_id,))
            current = self._catalog.listing(held.listing_id)
            if current is not None:  # a deleted listing has no stock to return to
                left = min(current.body.quantity + held.quantity, limits.MAX_QUANTITY)
                self._catalog.set_quantity(held.listing_id, left)
        return held

    def reservation(self, order_id: bytes) -> Reservation | None:
        row = self._profile.db.query_one(
            "SELECT listing_id, quantity FROM stock_reservations WHERE order_id = ?", (order_id,)
        )
        return None if row is None else Reservation(order_id, bytes(row[0]), int(row[1]))
