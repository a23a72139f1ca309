"""What a person sees of photos, totals and fees, checked on real nodes and a real chain.

Check functions for test_trade_ui.py (the three-node demo in Chromium); each takes a
Playwright page already on the page named and asserts what a user reads there:

- `check_full_photo_loads`: a listing page of a node that synced the listing (the buyer's,
  the arbiter's) shows the full-size photo, fetched from the seller by its node: the image
  decodes (naturalWidth > 0) at the listing's declared full size, larger than a thumbnail,
  and the "Loading the photo…" placeholder is gone.
- `choose_shipping_and_check_total`: on the buy page, picking a shipping option changes the
  total shown at once (no "Update the total"), and the form carries that total; returns the
  order total (price and shipping) the order must then have.
- `check_order_total`: the placed order has exactly that total, on the buyer's node.
- `check_fees_before_buying`, `check_release_note`, `check_decide_split`: who pays which
  network fee, shown before the money moves.
- `check_fees_after_payout`: after the payout, the order page says what was paid to whom and
  the fee, and what this party's wallet received matches.
"""

import re
from typing import Any

import httpx

THUMB_MAX_SIDE = 320  # umbra.market._images: thumbnails are at most this wide
PHOTO_TIMEOUT_MS = 90_000
PICONERO = 10**12


def _xmr(text: str) -> int:
    """Piconero from "0.105 XMR" (the pages' format)."""
    found = re.search(r"(\d+)\.(\d+)", text)
    assert found, f"no XMR amount in {text!r}"
    whole, frac = found.groups()
    return int(whole) * PICONERO + int(frac.ljust(12, "0")[:12])


def _api(node: dict[str, Any]) -> httpx.Client:
    token = node["url"].split("token=", 1)[1]
    return httpx.Client(
        base_url=node["base"], headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def check_full_photo_loads(page: Any, node: dict[str, Any], listing_cid: str) -> None:
    """``page`` is on /listing/<listing_cid> of ``node``, which synced (not made) it."""
    with _api(node) as api:
        images = api.get(f"/api/v1/listings/{listing_cid}").json()["images"]
    assert images, "the listing has no photo to check"
    photo = page.locator(".photo img").first
    page.wait_for_function(
        "() => { const i = document.querySelector('.photo img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=PHOTO_TIMEOUT_MS,
    )
    width = photo.evaluate("img => img.naturalWidth")
    height = photo.evaluate("img => img.naturalHeight")
    assert (width, height) == (images[0]["width"], images[0]["height"])
    assert max(width, height) > THUMB_MAX_SIDE, "the thumbnail is shown, not the full photo"
    assert not page.locator(".photo-status").first.is_visible()
    assert "waiting" not in (photo.get_attribute("class") or "")


def choose_shipping_and_check_total(page: Any, option: int = 1) -> str:
    """On the buy page: pick shipping ``option``; the totals follow at once. Returns the order
    total (price × quantity + shipping) as the page shows it, e.g. "0.11"."""
    radios = page.locator("input[name=shipping]")
    assert radios.count() > option, "the listing has no such shipping option"
    before = page.locator("#buy-total").inner_text()
    form = page.locator("#buy-confirm")
    price = int(form.get_attribute("data-price"))
    fee = int(form.get_attribute("data-fee") or 0)
    radio = radios.nth(option)
    cost = int(radio.get_attribute("data-cost"))
    radio.check()
    subtotal = price + cost  # quantity 1: the demo's physical items are single pieces
    assert _xmr(page.locator("#buy-subtotal").inner_text()) == subtotal
    assert _xmr(page.locator("#buy-total").inner_text()) == subtotal + fee
    if cost != int(radios.nth(0).get_attribute("data-cost")):
        assert page.locator("#buy-total").inner_text() != before
    expected = page.input_value("input[name=expected_total]")
    assert _xmr(expected) == subtotal
    button = page.locator("#buy-button")
    if button.count():
        assert button.inner_text() == f"Buy for {page.locator('#buy-total').inner_text()}"
    return expected


def check_order_total(node: dict[str, Any], order_id: str, expected: str, option: int) -> None:
    """The order on ``node`` has the total and shipping option the buy page showed."""
    with _api(node) as api:
        order = api.get(f"/api/v1/orders/{order_id}").json()
    assert order["total"]["xmr"] == expected
    assert order["shipping_option"] == option


def check_fees_before_buying(page: Any) -> None:
    """The buy page: the funding fee is the buyer's, the payout's comes out of a share."""
    assert page.locator("#buy-fee").inner_text().startswith("about ")
    assert "paid by you" in page.locator("#buy-fee").inner_text()
    note = page.locator("#buy-payout-fee").inner_text()
    assert "larger share" in note and "the seller's when you confirm" in note


def check_release_note(page: Any) -> None:
    """The buyer's order page before "Confirm received": what the seller will receive."""
    note = page.locator("#release-note").inner_text()
    assert "releases the" in note and "comes out of it" in note
    funded = _xmr(note)
    if "receives about" in note:
        gets = _xmr(note.split("receives about", 1)[1])
        assert 0 < funded - gets < PICONERO // 100  # a fee, under the 0.01 XMR cap
    assert "larger share" in page.locator("#fees-before").inner_text()


def check_decide_split(page: Any, to_buyer: str) -> None:
    """The arbiter's decision form: typing the buyer's share shows both sides' amounts and
    whose share pays the fee (the larger one)."""
    page.fill("#to-buyer", to_buyer)
    note = page.locator("#decide-split").inner_text()
    assert note.startswith(f"The buyer receives {to_buyer}") or "The buyer receives about" in note
    funded = int(page.locator("#to-buyer").get_attribute("data-funded"))
    payer = "buyer" if _xmr(to_buyer) * 2 >= funded else "seller"
    assert f"out of the {payer}'s share" in note


def check_fees_after_payout(page: Any, node: dict[str, Any], order_id: str) -> None:
    """The order page after the payout: the amounts paid, the fee and who paid it; what this
    party's wallet received is the amount its side was paid."""
    with _api(node) as api:
        order = api.get(f"/api/v1/orders/{order_id}").json()
    assert order["payout_txids"], "no payout yet"
    funded = int(order["funded_amount"]["piconero"])
    agreed = order["payout"] or order["decision"]
    if agreed:
        split = {"to_buyer": agreed["to_buyer"], "to_seller": agreed["to_seller"]}
    elif order["state"] == "completed":  # released to the seller
        split = {"to_buyer": 0, "to_seller": funded}
    else:
        split = {"to_buyer": funded, "to_seller": 0}
    after = page.locator("#fees-after").inner_text()
    payer = "buyer" if split["to_buyer"] >= split["to_seller"] else "seller"
    assert f"out of the {payer}'s share" in after
    received = page.locator("#fees .received")
    if "network fee of" not in after:  # this party's wallet saw nothing of the payout
        assert received.count() == 0
        return
    fee = _xmr(after.split("network fee of", 1)[1])
    assert 0 < fee < PICONERO // 100
    to_seller = _xmr(after.split("Paid out:", 1)[1])
    to_buyer = _xmr(after.split("and", 1)[1])
    assert to_seller + to_buyer + fee == split["to_seller"] + split["to_buyer"] == funded
    role = order["role"]
    mine = to_seller if role == "seller" else to_buyer
    assert received.count() >= 1
    assert sum(_xmr(received.nth(i).inner_text()) for i in range(received.count())) == mine
