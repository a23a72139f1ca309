"""Buying and orders without running nodes: the checks before anything is queued, queueing
itself, the "placing your order" progress page, and the pages' plain-sentence errors.

Carrying an order between nodes (accept, escrow, ship, confirm, dispute) needs three
running nodes and a chain: see test_trade_ui.py.
"""

import os
import re
import threading
import time
from typing import Any

import httpx

from umbra.core.crypto import encode_public_key
from umbra.market import TradeStore

from .conftest import SELLER_ARBITER, Served
from .test_ui import PHONE, Watch, browser, no_sideways_scroll, shot  # noqa: F401

ARBITER = SELLER_ARBITER  # the one the other seller's catalog lists (its default)
UNLISTED = encode_public_key(os.urandom(32))
ORDER_ID = re.compile(r"[0-9a-f]{32}")


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert isinstance(message, str) and message.endswith(".")
    return message


def test_orders_api(served: Served) -> None:
    with served.bearer() as http:
        assert http.get("/api/v1/orders").json() == {"orders": []}
        assert http.get("/api/v1/arbiters").json() == {"arbiters": [], "profiles": []}

        buy = {"listing": served.other_cid, "shipping_option": 0, "address": "1 Main St"}
        # Bad input and impossible orders: 4xx sentences, nothing queued.
        unlisted = {**buy, "arbiter": UNLISTED}
        assert "does not accept this arbiter" in _error(
            http.post("/api/v1/orders", json=unlisted), 400
        )
        _error(http.post("/api/v1/orders", json={**buy, "listing": "bafynothing"}), 400)
        _error(http.post("/api/v1/orders", json={**buy, "listing": served.own_cid}), 400)
        _error(http.post("/api/v1/orders", json={**buy, "arbiter": "nobody"}), 400)
        _error(http.post("/api/v1/orders", json={**buy, "quantity": 0}), 422)
        _error(http.post("/api/v1/orders", json={**buy, "quantity": 5, "arbiter": ARBITER}), 400)
        no_address = {**buy, "address": None, "arbiter": ARBITER}
        _error(http.post("/api/v1/orders", json=no_address), 400)
        _error(http.post("/api/v1/orders", json={**buy, "payment": "cash"}), 422)
        _error(http.put("/api/v1/arbiters", json={"arbiters": ["not-a-key"]}), 400)
        assert http.get("/api/v1/orders").json() == {"orders": []}

        # Our own accepted list (as a seller) goes into our catalog.
        own = http.put("/api/v1/arbiters", json={"arbiters": [UNLISTED]}).json()
        assert own["arbiters"] == [UNLISTED] and own["profiles"][0]["known"] is False
        # No arbiter named: the seller's default; the order is queued for the node.
        placed = http.post("/api/v1/orders", json=buy)
        assert placed.status_code == 202, placed.text
        order_id, seq = placed.json()["order_id"], placed.json()["seq"]
        assert ORDER_ID.fullmatch(order_id)
        command = http.get(f"/api/v1/orders/commands/{seq}").json()
        assert (command["order_id"], command["kind"], command["status"]) == (
            order_id,
            "buy",
            "queued",
        )
        assert "node has not sent it" in _error(http.get(f"/api/v1/orders/{order_id}"), 400)
        _error(http.get("/api/v1/orders/commands/999999"), 404)

        # Moves on orders that do not exist, or that are not moves.
        _error(http.post("/api/v1/orders/abcdef12/confirm", json={}), 400)
        _error(http.post("/api/v1/orders/zz-not-hex/confirm", json={}), 400)
        _error(http.post(f"/api/v1/orders/{order_id}/explode", json={}), 422)
        _error(http.post(f"/api/v1/orders/{order_id}/decide", json={"to_buyer": "x"}), 400)

        # Every route is documented, JSON bodies with their fields.
        docs = http.get("/api/docs").text
        for route in (
            "/api/v1/orders/{order_id}/{move}",
            "/api/v1/wallet/send-preview",
            "/api/v1/messages/thread",
            "/api/v1/status",
        ):
            assert route in docs, route
        assert "<code>shipping_option</code>" in docs and "application/json" in docs

    with served.anonymous() as http:
        assert http.get("/api/v1/orders").status_code == 401
        assert http.post("/api/v1/orders", json=buy).status_code == 401


def test_a_buy_while_the_store_is_held_is_refused_at_once_and_places_nothing(
    served: Served,
) -> None:
    """The node holds the profile's store (a stuck call, a long write): the Buy form and the
    API answer "busy, nothing was done" once the wait is over, never a request that does not
    answer; the same Buy works once the store is free, and places exactly one order."""
    served.services.store_wait_s = 0.5  # the node's default is 30 s; a held store is held
    client = served.browser()
    form = {
        "csrf_token": client.csrf,
        "quantity": "1",
        "shipping": "0",
        "address": "Jane Doe, 1 Main St",
        "payment": "escrow",
    }
    html = {"Origin": client.origin, "Accept": "text/html"}
    assert client.http.get("/orders").status_code == 200  # the pages' own look-ups are done
    release = threading.Event()
    holder = threading.Thread(target=served.in_store, args=(lambda: release.wait(120),))
    holder.start()
    try:
        deadline = time.monotonic() + 30
        while served.services.limiter.statistics().borrowed_tokens == 0:
            assert time.monotonic() < deadline, "the holder never got the store"
            time.sleep(0.01)
        busy = client.http.post(f"/buy/{served.other_cid}", data=form, headers=html)
        assert busy.status_code == 503, busy.text
        assert "Your node is busy" in busy.text and "nothing was done" in busy.text
        assert 'class="notice error"' in busy.text
        with served.bearer() as http:
            assert "Your node is busy" in _error(http.get("/api/v1/orders"), 503)
    finally:
        release.set()
        holder.join(timeout=30)
    assert not holder.is_alive()
    placed = client.http.post(f"/buy/{served.other_cid}", data=form, headers=html)
    assert placed.status_code == 303, placed.text
    assert re.fullmatch(r"/orders/[0-9a-f]{32}\?placed=\d+", placed.headers["location"])
    with served.bearer() as http:
        assert len(http.get("/api/v1/orders").json()["orders"]) == 0  # queued, not yet sent
    queued = served.in_store(lambda: TradeStore(served.profile.db).queued_commands())
    assert [c.kind for c in queued] == ["buy"]


def test_buy_and_order_pages_without_wallet(browser: Any, served: Served) -> None:  # noqa: F811
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)

        page.goto(f"{served.base}/listing/{served.own_cid}")
        assert page.locator("#buy").count() == 0  # no "Buy" on your own listing
        page.goto(f"{served.base}/buy/{served.own_cid}")
        assert "your own listing" in page.locator(".notice.error").inner_text()

        page.goto(f"{served.base}/listing/{served.other_cid}")
        page.click("#buy")
        page.wait_for_url("**/buy/*")
        assert page.locator("#buy-total").inner_text() == "0.05 XMR"  # 0.04 + 0.01 shipping
        assert "Connect one on the wallet page" in page.locator("#buy-no-wallet").inner_text()
        assert page.locator("#buy-button").count() == 0
        no_sideways_scroll(page)
        shot(page, "40-buy-no-wallet")

        page.goto(served.base + "/orders")
        assert "No orders yet" in page.locator("main").inner_text()
        shot(page, "41-orders-empty")
        page.goto(served.base + "/arbiter")
        assert page.input_value("#arbiter-id").startswith("umbra-pk-ed25519-v1:")
        no_sideways_scroll(page)
        shot(page, "42-arbiter-console")

        with served.bearer() as http:
            placed = http.post(
                "/api/v1/orders",
                json={"listing": served.other_cid, "shipping_option": 0, "address": "Somewhere"},
            ).json()
        page.goto(f"{served.base}/orders/{placed['order_id']}?placed={placed['seq']}")
        assert "Placing your order" in page.locator("h1").inner_text()
        assert page.locator("meta[http-equiv=refresh]").count() == 1
        shot(page, "43-order-placing")

        page.goto(f"{served.base}/orders/{placed['order_id']}")
        assert "queued" in page.locator(".notice.error").inner_text()
        watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        context.close()
