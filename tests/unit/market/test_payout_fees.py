"""Who pays an escrow payout's network fee, and what each side then receives (pure)."""

import pytest

from umbra.market import PAYOUT_FEE_CAP, PayoutAmounts, payout_fee_payer

XMR = 10**12
FEE = 30_000_000  # 0.00003 XMR


@pytest.mark.parametrize(
    ("to_buyer", "to_seller", "payer"),
    [
        (0, XMR // 10, "seller"),  # release: all to the seller
        (XMR // 10, 0, "buyer"),  # full refund
        (6 * XMR // 100, 4 * XMR // 100, "buyer"),  # the arbiter gives the buyer more
        (4 * XMR // 100, 6 * XMR // 100, "seller"),
        (XMR // 20, XMR // 20, "buyer"),  # a tie: the buyer
    ],
)
def test_the_larger_share_pays_the_fee(to_buyer: int, to_seller: int, payer: str) -> None:
    assert payout_fee_payer(to_buyer, to_seller) == payer
    paid = PayoutAmounts.of(to_buyer, to_seller, FEE)
    assert paid.fee_payer == payer
    assert paid.to_buyer + paid.to_seller + paid.fee == to_buyer + to_seller
    other = paid.to_seller if payer == "buyer" else paid.to_buyer
    assert other == (to_seller if payer == "buyer" else to_buyer)  # the other share is exact


def test_the_release_of_the_issue() -> None:
    # "0.10 XMR to the seller" arrives as 0.10 minus the payout's fee, which is now shown.
    assert PayoutAmounts.of(0, XMR // 10, 1_808_400_000) == PayoutAmounts(
        to_buyer=0, to_seller=98_191_600_000, fee=1_808_400_000, fee_payer="seller"
    )


def test_the_cap_every_escrow_agrees_is_0_01_xmr() -> None:
    assert PAYOUT_FEE_CAP == XMR // 100
