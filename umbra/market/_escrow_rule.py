"""Escrow above a size: which orders may be paid directly.

Two rules, one check:

- The **seller's** rule is signed in its catalog (``escrow_above``, schema 3): an order whose
  total (price × quantity + shipping) is above the amount must be paid into escrow. The
  seller's node declines a direct order above it (`seller_refusal`); a buyer's node reads the
  rule from the catalog it synced and offers only escrow above it.
- The **buyer's** own rule ("always use escrow above X") is a local setting of its profile
  (``trade_config``), never sent anywhere: the buy page and ``umbra order buy`` offer only
  escrow above it.

`direct_refusal` is pure (amounts in, a sentence or None out) so the pages, the CLI and the
service give the same answer; "above" is strictly greater, so an order of exactly the amount
may still be paid directly.
"""

from dataclasses import dataclass

from umbra.core import MAX_AMOUNT, UmbraError, UsageError, format_xmr, parse_catalog, parse_cid
from umbra.net import NetState
from umbra.store import Profile

from ._listings import SellerCatalog

BUYER_ESCROW_ABOVE_KEY = "buyer-escrow-above"


def xmr(piconero: int) -> str:
    return format_xmr(piconero, unit=True)


def seller_rule_text(limit: int) -> str:
    """The seller's rule as the listing page, the buy page and the CLI show it."""
    return f"This seller requires escrow above {xmr(limit)}"


def seller_refusal(total: int, limit: int | None) -> str | None:
    """Why the seller's node declines a direct order of ``total``, or None if it may go on.

    Sent to the buyer as the decline's reason, so it says what to do.
    """
    if limit is None or total <= limit:
        return None
    return (
        f"this seller requires escrow above {xmr(limit)} and the order is {xmr(total)}:"
        " order again and pay into escrow"
    )


@dataclass(frozen=True)
class EscrowRule:
    """The rules that apply to one buyer buying from one seller (amounts in piconero).

    ``seller_above`` is None when the seller sets no rule or its catalog is not synced yet
    (its node still enforces it); ``buyer_above`` is None when this buyer sets none.
    """

    seller_above: int | None
    buyer_above: int | None

    def direct_refusal(self, total: int) -> str | None:
        """Why an order of ``total`` may not be paid directly (one line), or None."""
        if self.seller_above is not None and total > self.seller_above:
            return (
                f"this seller requires escrow above {xmr(self.seller_above)} and this order"
                f" is {xmr(total)}: pay into escrow"
            )
        if self.buyer_above is not None and total > self.buyer_above:
            return (
                f"you chose to always use escrow above {xmr(self.buyer_above)} and this order"
                f" is {xmr(total)}: pay into escrow (the rule is in Settings, or"
                " `umbra order escrow-rule --buyer none`)"
            )
        return None


def seller_escrow_above(profile: Profile, seller: bytes) -> int | None:
    """The seller's ``escrow_above`` from its catalog (ours, or the one we synced).

    None when it sets no rule, or when we hold no readable catalog of it: the seller's node
    enforces its own rule whatever the buyer's node believes.
    """
    if seller == profile.identity.signing_public:
        return SellerCatalog(profile).escrow_above()
    cid_text = NetState(profile).synced_catalog_cid(seller)
    if cid_text is None:
        return None
    try:
        cid = parse_cid(cid_text)
        data = profile.blocks.get(cid)
        return None if data is None else parse_catalog(data, expected_cid=cid).body.escrow_above
    except UmbraError:  # a damaged block reads as no catalog, as in `ArbiterDirectory`
        return None


def check_rule_amount(amount: int | None) -> int | None:
    """A rule's amount as a user gave it (piconero; None: no rule).

    Raises:
        UsageError: negative or above the maximum amount.
    """
    if amount is not None and not 0 <= amount <= MAX_AMOUNT:
        raise UsageError(f"the amount is 0..{format_xmr(MAX_AMOUNT)} XMR")
    return amount
