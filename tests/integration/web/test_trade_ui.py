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

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the browser fixture skips the test then
    PlaywrightError = Exception  # type: ignore[assignment,misc]

from tests.integration.demo._procs import UMBRA, JsonLines, clean_env, umbra
from tests.integration.demo.test_demo import _kill_leftovers, _leftovers

from .conftest import ARTIFACTS
from .test_ui import PHONE, SHOTS, Watch, browser  # noqa: F401

pytestmark = [pytest.mark.monero, pytest.mark.network, pytest.mark.slow, pytest.mark.ui]

READY_TIMEOUT_S = 1500
STEP_TIMEOUT_S = 900
TIMINGS = ARTIFACTS / "web" / "trade-ui.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    demo_dir = tmp_path_factory.mktemp("trade-ui-demo")
    started = time.monotonic()
    # The chain and every demo wallet first: the demo starts its nodes in parallel with the
    # wallets, and a node that starts before its wallet cannot trade.
    wallets = [f"demo-{r}{e}" for r in ("buyer", "seller", "arbiter") for e in ("", ".escrow")]
    warm = umbra(
        clean_env(),
        "--data-dir",
        str(demo_dir),
        "sandbox",
        "up",
        *(arg for w in wallets for arg in ("--wallet", w)),
        "--json",
        timeout=READY_TIMEOUT_S,
    )
    assert warm.returncode == 0, warm.stderr
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
        umbra(clean_env(), "--data-dir", str(demo_dir), "sandbox", "down", "--json", timeout=300)
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
        try:
            page.goto(f"{base}/orders/{order_id}")
            return bool(page.locator(selector).count())
        except PlaywrightError:  # the page's own refresh got in the way: look again
            return False

    _wait(f"{selector} shows on order {order_id[:8]}", shows)


def _shot(page: Any, name: str) -> None:
    """A screenshot; pages with work in progress reload themselves, so try again."""
    for attempt in range(3):
        try:
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, timeout=60_000)
            return
        except PlaywrightError:
            if attempt == 2:
                raise


def _act(party: "Party", order_id: str, button: str, fields: dict[str, str] | None = None) -> None:
    """Press ``button`` on the order page (filling ``fields``), until the node took it.

    The page may reload itself (progress) while the form is filled: then it starts again.
    """
    page = party.page
    for attempt in range(4):
        _open_order(page, party.base, order_id, button)
        try:
            for selector, value in (fields or {}).items():
                page.fill(selector, value, timeout=10_000)
            page.click(button, timeout=10_000)
            page.wait_for_url("**/orders/*?done=*", timeout=60_000)
            return
        except PlaywrightError:
            if "?done=" in page.url or attempt == 3:
                raise


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
    _shot(page, f"trade-{name}-1-listing")
    page.click("#buy")
    page.wait_for_selector("#buy-button", timeout=180_000)
    assert page.locator("#buy-fee").inner_text().startswith("about ")
    if page.locator("#address").count():
        page.fill("#address", "Jane Doe\n1 Main Street\n75001 Paris")
    _shot(page, f"trade-{name}-2-buy-confirm")
    page.click("#buy-button")
    page.wait_for_url("**/orders/*")
    order_id = page.url.split("/orders/", 1)[1].split("?", 1)[0]
    placing_url = page.url  # /orders/<id>?placed=<seq>: says when the node failed to place it
    _shot(page, f"trade-{name}-3-placing")

    def placed_or_failed() -> bool:
        try:
            page.goto(placing_url)
            return bool(page.locator("#order-state, .notice.error").count())
        except PlaywrightError:
            return False

    _wait(f"the buyer's node places order {order_id[:8]}", placed_or_failed)
    failure = page.locator(".notice.error")
    assert not failure.count(), f"the node did not place the order: {failure.inner_text()}"
    return order_id


def test_trade_and_dispute_in_the_browser(browser: Any, demo: dict[str, Any]) -> None:  # noqa: F811
    nodes = demo["nodes"]
    timings: dict[str, float] = {"demo_ready_s": demo["_ready_s"]}
    seller_id, arbiter_id = _persona(nodes["seller"]), _persona(nodes["arbiter"])
    # No arbiter set-up: the demo seller's catalog names the demo arbiter as its default.
    with _bearer(nodes["seller"]) as api:
        assert api.get("/api/v1/arbiters").json()["arbiters"] == [arbiter_id]
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
        _shot(seller.page, "trade-release-4-seller-order")
        _act(seller, order_id, "#do-accept")
        _wait("the escrow is funded", lambda: _order_state(nodes["seller"], order_id) == "funded")
        timings["accept_to_funded_s"] = round(time.monotonic() - t0, 1)

        t0 = time.monotonic()
        _act(seller, order_id, "#do-ship", {"#tracking": "RR123456789FR"})
        _open_order(buyer.page, buyer.base, order_id, "#do-confirm")
        assert "RR123456789FR" in buyer.page.locator("main").inner_text()
        _shot(buyer.page, "trade-release-5-buyer-shipped")
        _act(buyer, order_id, "#do-confirm")
        for party in (buyer, seller):
            _open_order(party.page, party.base, order_id, ".state-S6_completed#order-state")
        timings["ship_to_completed_s"] = round(time.monotonic() - t0, 1)
        timeline = buyer.page.locator("#timeline").inner_text()
        # Amounts in XMR, as everywhere a person reads them (the total is 0.10 XMR).
        assert "release: 0.10 XMR to the seller, 0.00 XMR to the buyer" in timeline
        assert "piconero" not in timeline
        _shot(buyer.page, "trade-release-6-buyer-completed")
        _shot(seller.page, "trade-release-7-seller-completed")
        buyer.page.goto(f"{buyer.base}/orders")
        _shot(buyer.page, "trade-release-8-orders")

        # 2. A dispute decided by the arbiter.
        t0 = time.monotonic()
        disputed = _buy(buyer, seller_id, "skillet", "dispute")
        _act(seller, disputed, "#do-accept")
        _wait("the escrow is funded", lambda: _order_state(nodes["buyer"], disputed) == "funded")
        timings["dispute_buy_to_funded_s"] = round(time.monotonic() - t0, 1)

        t0 = time.monotonic()
        complaint = "The skillet arrived cracked; photos sent by message."
        _act(buyer, disputed, "#do-dispute", {"#text-dispute": complaint})
        _wait("the arbiter has the case", lambda: _order_state(nodes["arbiter"], disputed))

        def console_shows_case() -> bool:
            arbiter.page.goto(f"{arbiter.base}/arbiter")
            return bool(arbiter.page.locator(f"a[href='/orders/{disputed}']").count())

        _wait("the arbiter console lists the case", console_shows_case)
        _shot(arbiter.page, "trade-dispute-1-arbiter-console")
        _open_order(arbiter.page, arbiter.base, disputed, "#do-decide")
        assert complaint in arbiter.page.locator("#evidence").inner_text()
        _shot(arbiter.page, "trade-dispute-2-arbiter-case")
        reason = "Broken on arrival; most goes back to the buyer."
        _act(arbiter, disputed, "#do-decide", {"#to-buyer": "0.01", "#reason-decide": reason})
        for party in (buyer, seller, arbiter):
            _open_order(party.page, party.base, disputed, ".state-S8_resolved#order-state")
        timings["dispute_to_resolved_s"] = round(time.monotonic() - t0, 1)
        assert "Broken on arrival" in buyer.page.locator("main").inner_text()
        _shot(buyer.page, "trade-dispute-3-buyer-resolved")
        for party in (buyer, seller, arbiter):
            party.watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
        for party in (buyer, seller, arbiter):
            party.context.close()
