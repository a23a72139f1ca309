"""A whole trade in the browser, on the three-node `umbra demo` (chain, seller, funded buyer,
arbiter, miner): search → listing → one-click buy → the seller accepts and marks it shipped
→ the buyer confirms → both see it completed; then a second order disputed by the buyer and
decided by the arbiter in the arbiter console.

Each party is its own Chromium context logged in with its node's link. Screenshots of each
key page go to test-artifacts/web/trade-*.png; how long each phase took (wall time on this
machine, never asserted) goes to test-artifacts/web/trade-ui.json.
"""

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.demo._procs import UMBRA, JsonLines, clean_env
from tests.integration.demo.test_demo import _kill_leftovers, _leftovers

from .conftest import ARTIFACTS
from .test_ui import PHONE, Watch, browser, shot  # noqa: F401

pytestmark = [pytest.mark.monero, pytest.mark.network, pytest.mark.slow, pytest.mark.ui]

READY_TIMEOUT_S = 1500
STEP_TIMEOUT_S = 900
TIMINGS = ARTIFACTS / "web" / "trade-ui.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    demo_dir = tmp_path_factory.mktemp("trade-ui-demo")
    started = time.monotonic()
    proc = subprocess.Popen(
        [UMBRA, "demo", "--demo-dir", str(demo_dir), "--json", "--mine-interval", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    lines = JsonLines(proc)
    try:
        ready = lines.wait_for("event", "ready", READY_TIMEOUT_S)
        ready["_ready_s"] = round(time.monotonic() - started, 1)
        yield ready
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        _kill_leftovers(demo_dir)
        assert not _leftovers(demo_dir)


def _bearer(node: dict[str, Any]) -> httpx.Client:
    token = node["url"].split("token=", 1)[1]
    return httpx.Client(
        base_url=node["base"], headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def _persona(node: dict[str, Any]) -> str:
    with _bearer(node) as api:
        return str(api.get("/api/v1/profile").json()["seller_id"])


def _order_state(node: dict[str, Any], order_id: str) -> str | None:
    with _bearer(node) as api:
        response = api.get(f"/api/v1/orders/{order_id}")
    return str(response.json()["state"]) if response.status_code == 200 else None


def _wait(what: str, check: Any, timeout: float = STEP_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting until {what}")


def _open_order(page: Any, base: str, order_id: str, selector: str) -> None:
    """Reload the order page until ``selector`` shows (the node moves the order on)."""

    def shows() -> bool:
        page.goto(f"{base}/orders/{order_id}")
        return bool(page.locator(selector).count())

    _wait(f"{selector} shows on order {order_id[:8]}", shows)


class Party:
    def __init__(self, browser: Any, node: dict[str, Any]) -> None:  # noqa: F811
        self.node = node
        self.base = node["base"]
        self.context = browser.new_context(viewport=PHONE)
        self.page = self.context.new_page()
        self.watch = Watch(self.page, self.base)
        self.page.goto(node["url"])


def _buy(buyer: Party, seller_id: str, query: str, name: str) -> str:
    """Search, open the first of the seller's hits, buy it; returns the order id."""
    page = buyer.page

    def hit() -> str | None:
        with _bearer(buyer.node) as api:
            hits = api.get("/api/v1/search", params={"q": query}).json()["hits"]
        ours = [h for h in hits if h["seller"] == seller_id and h["price"]["piconero"] < 10**13]
        return str(ours[0]["cid"]) if ours else None

    cid = _wait(f"the buyer's node has synced a {query!r} listing", hit)
    page.goto(f"{buyer.base}/search?q={query}")
    page.locator(f"a.card[href='/listing/{cid}']").click()
    page.wait_for_url(f"**/listing/{cid}")
    shot(page, f"trade-{name}-1-listing")
    page.click("#buy")
    page.wait_for_selector("#buy-button", timeout=180_000)
    assert page.locator("#buy-fee").inner_text().startswith("about ")
    if page.locator("#address").count():
        page.fill("#address", "Jane Doe\n1 Main Street\n75001 Paris")
    shot(page, f"trade-{name}-2-buy-confirm")
    page.click("#buy-button")
    page.wait_for_url("**/orders/*")
    order_id = page.url.split("/orders/", 1)[1].split("?", 1)[0]
    placing_url = page.url  # /orders/<id>?placed=<seq>: says when the node failed to place it
    shot(page, f"trade-{name}-3-placing")

    def placed_or_failed() -> bool:
        page.goto(placing_url)
        return bool(page.locator("#order-state, .notice.error").count())

    _wait(f"the buyer's node places order {order_id[:8]}", placed_or_failed)
    failure = page.locator(".notice.error")
    assert not failure.count(), f"the node did not place the order: {failure.inner_text()}"
    return order_id


@pytest.mark.xfail(
    reason="known issue: `umbra demo` starts the nodes while the sandbox wallets are still "
    "starting, and the trade service looks for the profile's wallet once at node start, so "
    "the buyer's node refuses the order ('no wallet: run `umbra sandbox up`'); the test "
    "passes once the demo starts nodes after their wallets (or the node finds them later)",
    strict=False,
)
def test_trade_and_dispute_in_the_browser(browser: Any, demo: dict[str, Any]) -> None:  # noqa: F811
    nodes = demo["nodes"]
    timings: dict[str, float] = {"demo_ready_s": demo["_ready_s"]}
    seller_id, arbiter_id = _persona(nodes["seller"]), _persona(nodes["arbiter"])
    with _bearer(nodes["buyer"]) as api:
        assert api.put("/api/v1/arbiters", json={"arbiters": [arbiter_id]}).status_code == 200
    buyer = Party(browser, nodes["buyer"])
    seller = Party(browser, nodes["seller"])
    arbiter = Party(browser, nodes["arbiter"])
    try:
        # 1. A trade to completion.
        t0 = time.monotonic()
        order_id = _buy(buyer, seller_id, "camera", "release")
        timings["buy_placed_s"] = round(time.monotonic() - t0, 1)

        t0 = time.monotonic()
        _open_order(seller.page, seller.base, order_id, "#do-accept")
        shot(seller.page, "trade-release-4-seller-order")
        seller.page.click("#do-accept")
        _wait("the escrow is funded", lambda: _order_state(nodes["seller"], order_id) == "funded")
        timings["accept_to_funded_s"] = round(time.monotonic() - t0, 1)

        t0 = time.monotonic()
        _open_order(seller.page, seller.base, order_id, "#do-ship")
        seller.page.fill("#tracking", "RR123456789FR")
        seller.page.click("#do-ship")
        _open_order(buyer.page, buyer.base, order_id, "#do-confirm")
        assert "RR123456789FR" in buyer.page.locator("main").inner_text()
        shot(buyer.page, "trade-release-5-buyer-shipped")
        buyer.page.click("#do-confirm")
        for party in (buyer, seller):
            _open_order(party.page, party.base, order_id, ".state-S6_completed#order-state")
        timings["ship_to_completed_s"] = round(time.monotonic() - t0, 1)
        shot(buyer.page, "trade-release-6-buyer-completed")
        shot(seller.page, "trade-release-7-seller-completed")
        buyer.page.goto(f"{buyer.base}/orders")
        shot(buyer.page, "trade-release-8-orders")

        # 2. A dispute decided by the arbiter.
        t0 = time.monotonic()
        disputed = _buy(buyer, seller_id, "skillet", "dispute")
        _open_order(seller.page, seller.base, disputed, "#do-accept")
        seller.page.click("#do-accept")
        _wait("the escrow is funded", lambda: _order_state(nodes["buyer"], disputed) == "funded")
        timings["dispute_buy_to_funded_s"] = round(time.monotonic() - t0, 1)

        t0 = time.monotonic()
        _open_order(buyer.page, buyer.base, disputed, "#do-dispute")
        buyer.page.fill("#text-dispute", "The skillet arrived cracked; photos sent by message.")
        buyer.page.click("#do-dispute")
        _wait("the arbiter has the case", lambda: _order_state(nodes["arbiter"], disputed))

        def console_shows_case() -> bool:
            arbiter.page.goto(f"{arbiter.base}/arbiter")
            return bool(arbiter.page.locator(f"a[href='/orders/{disputed}']").count())

        _wait("the arbiter console lists the case", console_shows_case)
        shot(arbiter.page, "trade-dispute-1-arbiter-console")
        _open_order(arbiter.page, arbiter.base, disputed, "#do-decide")
        arbiter.page.fill("#to-buyer", "0.01")
        arbiter.page.fill("#reason-decide", "Broken on arrival; most goes back to the buyer.")
        shot(arbiter.page, "trade-dispute-2-arbiter-decide")
        arbiter.page.click("#do-decide")
        for party in (buyer, seller, arbiter):
            _open_order(party.page, party.base, disputed, ".state-S8_resolved#order-state")
        timings["dispute_to_resolved_s"] = round(time.monotonic() - t0, 1)
        assert "Broken on arrival" in buyer.page.locator("main").inner_text()
        shot(buyer.page, "trade-dispute-3-buyer-resolved")
        for party in (buyer, seller, arbiter):
            party.watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
        for party in (buyer, seller, arbiter):
            party.context.close()
