"""The decision of `_escrow_rule`: which orders may be paid directly, and the words for it."""

from hypothesis import given
from hypothesis import strategies as st

from umbra.core import MAX_AMOUNT
from umbra.market import EscrowRule, seller_refusal, seller_rule_text

XMR = 10**12
amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)
limits = st.one_of(st.none(), amounts)


def test_no_rule_lets_every_order_be_paid_directly() -> None:
    assert EscrowRule(None, None).direct_refusal(MAX_AMOUNT) is None
    assert seller_refusal(MAX_AMOUNT, None) is None


def test_above_is_strictly_above_for_both_rules() -> None:
    for rule in (EscrowRule(XMR, None), EscrowRule(None, XMR)):
        assert rule.direct_refusal(XMR) is None
        assert rule.direct_refusal(XMR + 1) is not None
    assert EscrowRule(0, None).direct_refusal(1) is not None  # 0: escrow for every order


def test_the_sellers_reason_comes_first_and_says_what_to_do() -> None:
    both = EscrowRule(XMR, XMR // 2).direct_refusal(2 * XMR)
    assert (
        both
        == "this seller requires escrow above 1.00 XMR and this order is 2.00 XMR: pay into escrow"
    )
    assert seller_refusal(2 * XMR, XMR) == (  # the seller node's decline, sent to the buyer
        "this seller requires escrow above 1.00 XMR and the order is 2.00 XMR:"
        " order again and pay into escrow"
    )
    own = EscrowRule(2 * XMR, XMR // 2).direct_refusal(XMR)
    assert own == (
        "you chose to always use escrow above 0.50 XMR and this order is 1.00 XMR: pay into"
        " escrow (the rule is in Settings, or `umbra order escrow-rule --buyer none`)"
    )
    assert seller_rule_text(3 * XMR // 2) == "This seller requires escrow above 1.50 XMR"


@given(total=amounts, seller=limits, buyer=limits)
def test_direct_is_refused_exactly_when_a_rule_is_exceeded(
    total: int, seller: int | None, buyer: int | None
) -> None:
    exceeded = any(limit is not None and total > limit for limit in (seller, buyer))
    refusal = EscrowRule(seller, buyer).direct_refusal(total)
    assert (refusal is not None) == exceeded
    assert refusal is None or "\n" not in refusal  # one line, as every error
