"""Who pays the network fee of an escrow payout, and what each side then receives. Pure.

The rule (the same for every payout, and what the wallets check, see
`umbra.wallet.check_description`): the party that receives the larger share pays the payout's
network fee out of it; on a tie, the buyer. So a release (everything to the seller) costs the
seller the fee, a full refund costs the buyer the fee, and in a split the arbiter decides the
side with more pays. That party signs the payout last (the co-signer): nobody is asked to
approve a transaction that pays them less than agreed. The other party receives its share
exactly. The buyer pays the fee of the funding transaction, on top of the order's total.

Every escrow agrees a cap on the payout's fee (`umbra.wallet.EscrowTerms.max_fee`, by default
0.01 XMR); a payout asking more is refused by the co-signer.
"""

from dataclasses import dataclass
from typing import Literal

from umbra.wallet import MAX_PAYOUT_FEE

Side = Literal["buyer", "seller"]
PAYOUT_FEE_CAP = MAX_PAYOUT_FEE


def payout_fee_payer(to_buyer: int, to_seller: int) -> Side:
    """The side whose share pays the payout's network fee (the larger; the buyer on a tie)."""
    return "buyer" if to_buyer >= to_seller else "seller"


@dataclass(frozen=True)
class PayoutAmounts:
    """What each side receives from a payout of ``to_buyer`` / ``to_seller`` with ``fee``."""

    to_buyer: int
    to_seller: int
    fee: int
    fee_payer: Side

    @classmethod
    def of(cls, to_buyer: int, to_seller: int, fee: int) -> "PayoutAmounts":
        payer = payout_fee_payer(to_buyer, to_seller)
        return cls(
            to_buyer=to_buyer - fee if payer == "buyer" else to_buyer,
            to_seller=to_seller - fee if payer == "seller" else to_seller,
            fee=fee,
            fee_payer=payer,
        )
