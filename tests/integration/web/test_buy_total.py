"""The buy page places exactly the order it shows, and a photo on its way is no broken image.

Without nodes: the order is only queued here (what the node then does is test_trade_ui.py's).
The total follows the chosen shipping option live (Chromium runs app.js); without script the
"Update the total" button shows it; either way the form carries the total the buyer saw and a
different one is refused with a sentence, nothing queued.
"""

import re
from pathlib import Path
from typing import Any

from umbra.core import ShippingOption, parse_xmr
from umbra.market import SellerCatalog, TradeService
from umbra.store import create_profile, index_entry_for

from ._checks_data import choose_shipping_and_check_total
from .conftest import CHEAP, Served, draft
from .test_ui import PHONE, Watch, browser, shot  # noqa: F401

TWO_WAYS = (
    ShippingOption(name="Post", regions=["EU"], cost=parse_xmr("0.01")),
    ShippingOption(name="Courier", regions=["EU"], cost=parse_xmr("0.05")),
)


def _listing_with_two_options(served: Served, root: Path) -> str:
    """A listing of another seller (price 0.2 XMR, Post 0.01 or Courier 0.05), "synced"."""
    with create_profile(root, "courier-seller", "pw", params=CHEAP) as other:
        signed = SellerCatalog(other).create(
            draft("Oak bookshelf", price=parse_xmr("0.2"), shipping=TWO_WAYS)
        )

    def store() -> None:
        served.profile.blocks.put_verified(signed.cid, signed.data)
        served.profile.search.upsert(index_entry_for(signed))

    served.in_store(store)
    return str(signed.cid)


def _form(page_html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page_html)
    assert found, name
    return found.group(1)


def test_the_order_is_placed_with_the_option_and_total_shown(
    served: Served, tmp_path: Path
) -> None:
    cid = _listing_with_two_options(served, tmp_path)
    client = served.browser()
    http, headers = client.http, client.headers()
    page = http.get(f"/buy/{cid}")
    assert page.status_code == 200
    assert _form(page.text, "expected_total") == "0.21"  # 0.2 + Post, the default

    # Without script: the buyer picks Courier and presses "Update the total".
    form = {"csrf": client.csrf, "quantity": "1", "shipping": "1", "expected_total": "0.21"}
    shown = http.post(f"/buy/{cid}", data={**form, "update": "yes"}, headers=headers)
    assert shown.status_code == 200
    assert 'id="buy-total">0.25 XMR' in shown.text
    assert _form(shown.text, "expected_total") == "0.25"
    assert re.search(r'value="1" data-cost="\d+" checked', shown.text)

    # Buy pressed with Courier chosen but the Post total still on the page: refused, nothing
    # queued, and the page now shows the Courier total to confirm.
    order = {**form, "address": "1 Main St", "payment": "direct"}
    refused = http.post(f"/buy/{cid}", data=order, headers=headers)
    assert refused.status_code == 400
    message = re.search(r'id="buy-error">([^<]*)<', refused.text)
    assert message and "0.25 XMR, not the 0.21 XMR you confirmed" in message.group(1)
    assert 'id="buy-total">0.25 XMR' in refused.text
    with served.bearer() as api:
        assert api.get("/api/v1/orders").json() == {"orders": []}

        # The total confirmed for the option chosen: placed, with that option and total.
        placed = http.post(f"/buy/{cid}", data={**order, "expected_total": "0.25"}, headers=headers)
        assert placed.status_code == 303
        seq = int(placed.headers["location"].rsplit("placed=", 1)[1])
        queued = served.in_store(lambda: TradeService(served.profile).command(seq))
        assert queued is not None and queued.kind == "buy"
        assert queued.args["shipping_option"] == 1
        assert queued.args["unit_price"] + queued.args["shipping_cost"] == parse_xmr("0.25")

        # The JSON API takes the same guard.
        body = {"listing": cid, "shipping_option": 0, "address": "x", "payment": "direct"}
        wrong = api.post("/api/v1/orders", json={**body, "expected_total": "0.25"})
        assert wrong.status_code == 400 and "0.21 XMR, not the 0.25" in wrong.json()["error"]
        assert api.post("/api/v1/orders", json={**body, "expected_total": "0.21"}).is_success


def test_the_total_follows_the_choice_live(
    browser: Any,  # noqa: F811
    served: Served,
    tmp_path: Path,
) -> None:
    cid = _listing_with_two_options(served, tmp_path)
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)
        page.goto(f"{served.base}/buy/{cid}")
        assert page.locator("#buy-total").inner_text() == "0.21 XMR"
        assert not page.locator("#buy-update").is_visible()  # nothing to press: it is live
        assert choose_shipping_and_check_total(page, 1) == "0.25"  # the demo trade's check
        assert page.locator("#buy-total").inner_text() == "0.25 XMR"
        assert page.locator("#buy-shipping").inner_text() == "0.05 XMR"
        assert page.locator("#buy-subtotal").inner_text() == "0.25 XMR"
        assert page.input_value("input[name=expected_total]") == "0.25"
        page.check("input[name=shipping][value='0']")
        assert page.locator("#buy-total").inner_text() == "0.21 XMR"
        assert page.input_value("input[name=expected_total]") == "0.21"
        shot(page, "44-buy-live-total")
        watch.check()
    finally:
        context.close()


def test_a_photo_not_here_yet_shows_a_placeholder_not_a_broken_image(
    browser: Any,  # noqa: F811
    served: Served,
) -> None:
    """No node runs here, so the full image of the other seller's listing cannot come: the
    page says it is looking for it instead of showing a broken image."""
    with served.bearer() as api:
        full = api.get(f"/api/v1/listings/{served.other_cid}").json()["images"][0]["full"]
    served.in_store(lambda: served.profile.blocks.delete(full))
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(served.login)
        page.goto(f"{served.base}/listing/{served.other_cid}")
        status = page.locator(".photo-status").first
        page.wait_for_function(
            "() => document.querySelector('.photo-status').textContent.includes('Still looking')"
        )
        assert status.is_visible()
        assert "waiting" in (page.locator(".photo img").first.get_attribute("class") or "")
        shot(page, "45-listing-photo-on-its-way")
        # A photo that is here covers its placeholder, which app.js then hides.
        page.goto(f"{served.base}/listing/{served.own_cid}")
        page.wait_for_function("() => document.querySelector('.photo img').naturalWidth > 0")
        assert not page.locator(".photo-status").first.is_visible()
    finally:
        context.close()
