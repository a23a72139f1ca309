"""The order page's split of a payout, whatever the node recorded of it (pure)."""

from typing import Any

import pytest

from umbra.market import OrderSummary, OrderView
from umbra.web._order_pages import _payout_split

FUNDED = 10**11


def _view(state: str, **changes: Any) -> OrderView:
    summary = OrderSummary(
        order_id="ab" * 16, role="buyer", state=state, payment="escrow", title="Camera",
        quantity=1, total=FUNDED, buyer="b", seller="s", arbiter="a", created_at=1,
        updated_at=2, finished=True,
    )  # fmt: skip
    values: dict[str, Any] = {
        "summary": summary, "listing": None, "revision": None, "unit_price": FUNDED,
        "shipping_cost": 0, "shipping_option": None, "refund_address": None,
        "payout_address": None, "funded_amount": FUNDED, "payout": None,
        "payout_txids": ("ff" * 32,), "shipping": None, "shipping_kind": None,
        "decision": None, "next_actions": (), "timeline": (),
    }  # fmt: skip
    values.update(changes)
    return OrderView(**values)


@pytest.mark.parametrize(
    ("view", "split"),
    [
        # The buyer's node after a release keeps no payout record: the state says it.
        (_view("S6_completed"), (0, FUNDED)),
        (_view("S9_cancelled"), (FUNDED, 0)),
        (_view("S8_resolved", decision={"to_buyer": 10**10, "to_seller": 9 * 10**10}),
         (10**10, 9 * 10**10)),
        (_view("S8_resolved", payout={"to_buyer": 3, "to_seller": FUNDED - 3}), (3, FUNDED - 3)),
        (_view("S5_shipped", payout_txids=()), None),  # not paid out yet
    ],
)  # fmt: skip
def test_the_split_of_a_payout(view: OrderView, split: tuple[int, int] | None) -> None:
    assert _payout_split(view) == split
