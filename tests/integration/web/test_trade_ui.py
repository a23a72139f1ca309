"""A whole trade in the browser, on the three-node `umbra demo` (chain, seller, funded buyer,
arbiter, miner): search → listing → one-click buy → the seller accepts and marks it shipped
→ the buyer confirms → both see it completed; then a second order disputed by the buyer and
decided by the arbiter in the arbiter console; then a tour of the main pages.

Each party is its own Chromium context logged in with its node's link. Every step asserts
what that person reads: the status written for them (who acts, whom they wait for), the
labels of the order page, the item's title on the arbiter's node, the timeline in words,
and that a move handed to the node replaces the buttons until it is carried out.

The journey is a list of steps (`STEPS`) over one `Trade`; a check of another part of the
app (photos, totals, fees, stock) is one more call inside the step where it applies.
Screenshots of each key page go to test-artifacts/web/trade-*.png, and the tour's pages at
phone and desktop width to test-artifacts/web/tour-*.png (each checked not to scroll
sideways at 390 px); how long each phase took (wall time on this machine, never asserted)
goes to test-artifacts/web/trade-ui.json.
"""

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the browser fixture skips the test then
    PlaywrightError = Exception  # type: ignore[assignment,misc]

from tests.integration.demo._procs import UMBRA, JsonLines, clean_env, umbra
from tests.integration.demo.test_demo import _kill_leftovers, _leftovers
from umbra.market import TRANSITIONS

from . import _checks_data as checks
from ._checks_stock import check_sold_out_in_browser
from .conftest import ARTIFACTS
from .test_ui import PHONE, SHOTS, Watch, browser, no_sideways_scroll  # noqa: F401

pytestmark = [pytest.mark.monero, pytest.mark.network, pytest.mark.slow, pytest.mark.ui]

READY_TIMEOUT_S = 1500
STEP_TIMEOUT_S = 900
TIMINGS = ARTIFACTS / "web" / "trade-ui.json"
DESKTOP = {"width": 1280, "height": 900}
# Words that must never reach a person: the order table's inputs, state names, message ids.
_INPUTS = sorted({name for (_s, name) in TRANSITIONS if "-" in name or ":" in name})
SLUG = re.compile(r"\b(?:" + "|".join(map(re.escape, _INPUTS)) + r")\b|S\d+_[a-z]|#\d")


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
        for role, node in ready["nodes"].items():  # what a failure quotes from each node's log
            node["log"] = str(demo_dir / "demo" / "logs" / f"node-{role}.log")
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


def _buy(buyer: "Party", seller_id: str, query: str, name: str, option: int | None = None) -> str:
    """Search, open the first of the seller's hits, buy it (with shipping ``option`` when
    given); returns the order id."""
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
    checks.check_full_photo_loads(page, buyer.node, cid)
    page.click("#buy")
    page.wait_for_selector("#buy-button", timeout=180_000)
    assert page.locator("#buy-fee").inner_text().startswith("about ")
    if page.locator("#address").count():
        page.fill("#address", "Jane Doe\n1 Main Street\n75001 Paris")
    _shot(page, f"trade-{name}-2-buy-confirm")
    checks.check_fees_before_buying(page)
    expected = None if option is None else checks.choose_shipping_and_check_total(page, option)
    post = _PostWatch(page, "/buy/")
    page.click("#buy-button")
    # In two CI runs Chromium never sent the form's POST after this click (the page was
    # complete and valid: see docs/known-issues.md). A user would click again; so does the
    # test, once, and says so, so a run that needed it is visible in the output.
    if not _post_sent(page, post, seconds=30):
        _shot(page, f"trade-{name}-3-buy-click-unsent")
        print(f"\nWARNING: the Buy click sent no POST within 30 s ({name}); clicking again")
        page.click("#buy-button")
    # The order page, the buy page again with the node's refusal, or an error page: say which
    # (a busy machine may take a while to answer the POST, so the wait is generous).
    try:
        page.wait_for_selector("#buy-error, #order-state, #placing, .notice.error", timeout=180_000)
    except PlaywrightError:  # say what the buyer sees instead (a blank page, the same page)
        _shot(page, f"trade-{name}-3-buy-no-answer")
        raise AssertionError(
            f"no order page after Buy: at {page.url}: {_text(page, 'body')[:600]!r};"
            f" the POST: {post.story()}; the buyer's node log ends with:\n{_log_tail(buyer.node)}"
        ) from None
    finally:
        post.stop()
    refused = page.locator("#buy-error")
    assert not refused.count(), f"the buy was refused: {refused.inner_text()}"
    page.wait_for_url("**/orders/*", timeout=60_000)
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
    if option is not None and expected is not None:
        checks.check_order_total(buyer.node, order_id, expected, option)
    return order_id


def _post_sent(page: Any, post: "_PostWatch", *, seconds: float) -> bool:
    """Whether the browser sent the watched POST within ``seconds`` (events are delivered
    while Playwright waits, hence the short waits on the page)."""
    deadline = time.monotonic() + seconds
    while not post.events:
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(250)
    return True


class _PostWatch:
    """What became of the POSTs a click sent to paths containing ``part``: sent, answered
    (status) or failed (Chromium's reason), so a missing answer says which side lost it."""

    def __init__(self, page: Any, part: str) -> None:
        self.page, self.part = page, part
        self.events: list[str] = []
        self._on = {
            "request": lambda r: self._note(r, "sent"),
            "response": lambda r: self._note(r.request, f"answered {r.status}"),
            "requestfailed": lambda r: self._note(r, f"failed ({r.failure})"),
        }
        for event, handler in self._on.items():
            page.on(event, handler)

    def _note(self, request: Any, what: str) -> None:
        if request.method == "POST" and self.part in request.url:
            self.events.append(f"{what} at {time.strftime('%H:%M:%S')}")

    def story(self) -> str:
        return ", ".join(self.events) or "never sent by the browser"

    def stop(self) -> None:
        for event, handler in self._on.items():
            self.page.remove_listener(event, handler)


def _log_tail(node: dict[str, Any], lines: int = 15) -> str:
    try:
        with open(node["log"], encoding="utf-8", errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except (KeyError, OSError) as exc:
        return f"(no log: {exc})"


def _text(page: Any, selector: str) -> str:
    """The text of ``selector`` on the current page ("" if absent); the page may be reloading
    itself (progress), then it looks again."""
    for _ in range(5):
        try:
            found = page.locator(selector)
            return str(found.first.inner_text(timeout=10_000)) if found.count() else ""
        except PlaywrightError:
            time.sleep(1)
    return ""


def _status(party: "Party", order_id: str, expected: str) -> str:
    """Reload the order page until its status reads ``expected``; returns that text."""

    def shows() -> str:
        try:
            party.page.goto(f"{party.base}/orders/{order_id}")
        except PlaywrightError:
            return ""
        text = _text(party.page, "#order-state")
        return text if expected in text else ""

    return str(_wait(f"order {order_id[:8]} reads {expected!r} for {party.name}", shows))


def _no_protocol_words(party: "Party", where: str) -> str:
    text = _text(party.page, where)
    assert text, f"{where} is empty for {party.name}"
    leaked = SLUG.findall(text)
    assert not leaked, f"protocol words in {party.name}'s {where}: {leaked}\n{text}"
    return text


def _timeline(party: "Party", order_id: str) -> str:
    party.page.goto(f"{party.base}/orders/{order_id}")
    return _no_protocol_words(party, "#timeline")


def _act(party: "Party", order_id: str, button: str, fields: dict[str, str] | None = None) -> None:
    """Press ``button`` on the order page (filling ``fields``), until the node took it; then
    the page shows the move as pending (or already its result), never the old buttons.

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
            break
        except PlaywrightError:
            if "?done=" in page.url or attempt == 3:
                raise
    # No second click possible: the move is pending with the node, or already made.
    assert page.locator(button).count() == 0, f"{button} still offered after it was pressed"
    assert page.locator("#pending-move, #order-state").count() == 1
    if page.locator("#pending-move").count():
        assert "is with your node" in _text(page, "#pending-move")
        assert page.locator("#next-actions").count() == 0


@dataclass(eq=False)  # one per person: compared (and hashed) by identity
class Party:
    name: str
    node: dict[str, Any]
    browser: Any
    context: Any = None
    page: Any = None
    watch: Any = None

    def __post_init__(self) -> None:
        self.base = self.node["base"]
        self.context = self.browser.new_context(viewport=PHONE)
        self.page = self.context.new_page()
        self.watch = Watch(self.page, self.base)
        self.page.goto(self.node["url"])


@dataclass
class Trade:
    """The demo's three parties and what the journey learned so far."""

    nodes: dict[str, Any]
    buyer: Party
    seller: Party
    arbiter: Party
    seller_id: str
    timings: dict[str, float] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)  # journey → order id
    titles: dict[str, str] = field(default_factory=dict)  # journey → the item's title

    @property
    def parties(self) -> tuple[Party, Party, Party]:
        return self.buyer, self.seller, self.arbiter


def _placed(trade: Trade, journey: str, query: str, option: int | None = None) -> str:
    """The buyer buys; every party sees the new order in its own words."""
    buyer, seller, arbiter = trade.parties
    order_id = _buy(buyer, trade.seller_id, query, journey, option)
    trade.orders[journey] = order_id
    title = _text(buyer.page, "h1")
    assert title, "the buyer's order page names the item"
    trade.titles[journey] = title
    # The buyer waits; its own address is labelled as such (never "Tracking").
    _status(buyer, order_id, "Waiting for the seller to accept your order")
    assert _text(buyer.page, "#shipping-label") == "Your delivery address"
    assert "Jane Doe" in _text(buyer.page, "main")
    # The seller is the one who acts: told so, no spinner, the address to ship to.
    _status(seller, order_id, "New order: accept it or decline it")
    assert seller.page.locator("#order-state .spinner").count() == 0
    assert _text(seller.page, "#shipping-label") == "Ship to"
    assert _text(seller.page, "h1") == title
    # The arbiter's node shows the item's title, not a CID prefix.
    _status(arbiter, order_id, "Waiting for the seller to accept the order")
    assert _text(arbiter.page, "h1") == title
    arbiter.page.goto(f"{arbiter.base}/orders")
    assert title in _text(arbiter.page, f"a[href='/orders/{order_id}']")
    return order_id


def step_release(trade: Trade) -> None:
    """A trade to completion: accept, escrow, ship, confirm."""
    buyer, seller, _arbiter = trade.parties
    t0 = time.monotonic()
    order_id = _placed(trade, "release", "camera")
    trade.timings["buy_placed_s"] = round(time.monotonic() - t0, 1)

    t0 = time.monotonic()
    _shot(seller.page, "trade-release-4-seller-order")
    _act(seller, order_id, "#do-accept")
    _shot(seller.page, "trade-release-4b-seller-accept-pending")
    _wait("the escrow is funded", lambda: _order_state(trade.nodes["seller"], order_id) == "funded")
    trade.timings["accept_to_funded_s"] = round(time.monotonic() - t0, 1)
    _status(seller, order_id, "Paid into escrow: ship the item, then mark it shipped")
    _status(buyer, order_id, "Paid into escrow; waiting for the seller to ship")

    t0 = time.monotonic()
    _act(seller, order_id, "#do-ship", {"#tracking": "RR123456789FR"})
    _status(seller, order_id, "Shipped; waiting for the buyer to confirm receipt")
    _status(buyer, order_id, "Shipped: confirm once it has arrived")
    assert _text(buyer.page, "#shipping-label") == "Tracking (from the seller)"
    assert "RR123456789FR" in _text(buyer.page, "main")
    _shot(buyer.page, "trade-release-5-buyer-shipped")
    checks.check_release_note(buyer.page)
    _act(buyer, order_id, "#do-confirm")
    for party in (buyer, seller):
        _open_order(party.page, party.base, order_id, ".state-S6_completed#order-state")
    trade.timings["ship_to_completed_s"] = round(time.monotonic() - t0, 1)
    for party in (seller, buyer):
        _open_order(party.page, party.base, order_id, "#fees-after")
        checks.check_fees_after_payout(party.page, party.node, order_id)

    said = _timeline(buyer, order_id)
    for line in (
        "You placed the order",
        "The seller accepted the order",
        "The arbiter accepted the case",
        "Escrow funded — 0.10 XMR",
        "The seller marked the order shipped",
        "You confirmed that it arrived",
        # Amounts in XMR, as everywhere a person reads them (the total is 0.10 XMR).
        "0.10 XMR to the seller, 0.00 XMR to the buyer",
    ):
        assert line in said, f"the buyer's timeline lacks {line!r}:\n{said}"
    assert "piconero" not in said
    assert said.count("You placed the order") == 1  # sent to the seller and the arbiter
    _shot(buyer.page, "trade-release-6-buyer-completed")
    said = _timeline(seller, order_id)
    for line in ("The buyer placed the order", "You accepted the order", "You marked the order"):
        assert line in said, f"the seller's timeline lacks {line!r}:\n{said}"
    _shot(seller.page, "trade-release-7-seller-completed")
    buyer.page.goto(f"{buyer.base}/orders")
    assert "Completed" in _text(buyer.page, f"a[href='/orders/{order_id}']")
    _shot(buyer.page, "trade-release-8-orders")


def step_dispute(trade: Trade) -> None:
    """A second order disputed by the buyer and decided by the arbiter in its console."""
    buyer, seller, arbiter = trade.parties
    t0 = time.monotonic()
    disputed = _placed(trade, "dispute", "skillet", option=1)
    title = trade.titles["dispute"]
    _act(seller, disputed, "#do-accept")
    _wait(
        "the escrow is funded",
        lambda: _order_state(trade.nodes["buyer"], disputed) == "funded",
    )
    trade.timings["dispute_buy_to_funded_s"] = round(time.monotonic() - t0, 1)

    t0 = time.monotonic()
    complaint = "The skillet arrived cracked; photos sent by message."
    _act(buyer, disputed, "#do-dispute", {"#text-dispute": complaint})
    _status(buyer, disputed, "In dispute; waiting for the arbiter's decision")
    _status(seller, disputed, "In dispute; waiting for the arbiter's decision")

    def console_shows_case() -> bool:
        arbiter.page.goto(f"{arbiter.base}/")  # an arbiter's home is its console
        return bool(arbiter.page.locator(f"a[href='/orders/{disputed}']").count())

    _wait("the arbiter console lists the case", console_shows_case)
    assert _text(arbiter.page, "h1") == "Arbiter console"
    assert _text(arbiter.page, ".top nav a") == "Arbiter console"  # first in the navigation
    case = _text(arbiter.page, f"a[href='/orders/{disputed}']")
    assert title in case and "read both sides" in case
    _shot(arbiter.page, "trade-dispute-1-arbiter-console")
    _status(arbiter, disputed, "In dispute: read both sides, then decide")
    assert arbiter.page.locator("#order-state .spinner").count() == 0
    assert _text(arbiter.page, "h1") == title
    assert complaint in _text(arbiter.page, "#evidence")
    said = _timeline(arbiter, disputed)
    assert "The buyer opened a dispute" in said and "You took the case" in said
    _shot(arbiter.page, "trade-dispute-2-arbiter-case")
    with _bearer(trade.nodes["arbiter"]) as api:
        listing = str(api.get(f"/api/v1/orders/{disputed}").json()["listing"])
    arbiter.page.goto(f"{arbiter.base}/listing/{listing}")
    checks.check_full_photo_loads(arbiter.page, trade.nodes["arbiter"], listing)
    _open_order(arbiter.page, arbiter.base, disputed, "#do-decide")
    checks.check_decide_split(arbiter.page, "0.01")
    reason = "Broken on arrival; most goes back to the buyer."
    _act(arbiter, disputed, "#do-decide", {"#to-buyer": "0.01", "#reason-decide": reason})
    _shot(arbiter.page, "trade-dispute-2b-arbiter-decide-pending")
    _status(arbiter, disputed, "Resolved: you decided this dispute")
    for party in (buyer, seller):
        _status(party, disputed, "Resolved by the arbiter")
    trade.timings["dispute_to_resolved_s"] = round(time.monotonic() - t0, 1)
    for party in (seller, buyer):
        _open_order(party.page, party.base, disputed, "#fees-after")
        checks.check_fees_after_payout(party.page, party.node, disputed)
    assert "Broken on arrival" in _text(buyer.page, "main")
    said = _timeline(buyer, disputed)
    assert "You opened a dispute" in said and "The arbiter decided the dispute" in said
    _shot(buyer.page, "trade-dispute-3-buyer-resolved")


def step_tour(trade: Trade) -> None:
    """The main pages of each party at phone and desktop width: none scrolls sideways at
    390 px, and each is kept as a screenshot (tour-<party>-<page>-<width>.png)."""
    buyer, seller, arbiter = trade.parties

    def listing_of(query: str) -> str:
        with _bearer(buyer.node) as api:
            hits = api.get("/api/v1/search", params={"q": query}).json()["hits"]
        return str(next(h["cid"] for h in hits if h["seller"] == trade.seller_id))

    cid = listing_of("keyboard")
    release, disputed = trade.orders["release"], trade.orders["dispute"]
    pages: dict[Party, dict[str, str]] = {
        buyer: {
            "home": "/",
            "search": "/search?q=camera",
            "listing": f"/listing/{cid}",
            "buy": f"/buy/{cid}",
            "orders": "/orders",
            "order": f"/orders/{release}",
            "order-dispute": f"/orders/{disputed}",
            "wallet": "/wallet",
            "messages": "/messages",
            "settings": "/settings",
        },
        seller: {"order": f"/orders/{release}", "my-listings": "/my", "wallet": "/wallet"},
        arbiter: {"console": "/", "order": f"/orders/{disputed}", "browse": "/browse"},
    }
    for party, paths in pages.items():
        for name, path in paths.items():
            for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                party.page.set_viewport_size(viewport)
                party.page.goto(party.base + path)
                party.page.wait_for_load_state("load")
                if width == "phone":
                    no_sideways_scroll(party.page)
                _shot(party.page, f"tour-{party.name}-{name}-{width}")
        party.page.set_viewport_size(PHONE)


def step_sold_out(trade: Trade) -> None:
    """The camera was the seller's only one: once the buyer's node synced the seller's new
    catalog, its listing and search card say "Sold out" and offer no Buy."""
    buyer = trade.buyer

    def sold_out_cid() -> str | None:
        with _bearer(buyer.node) as api:
            hits = api.get("/api/v1/search", params={"q": "camera"}).json()["hits"]
        for hit in hits:
            if hit["seller"] == trade.seller_id and hit["title"] == trade.titles["release"]:
                return str(hit["cid"]) if hit["sold_out"] else None
        return None

    cid = _wait("the buyer's node synced the camera sold out", sold_out_cid)
    check_sold_out_in_browser(buyer.page, buyer.base, cid, "camera")
    _shot(buyer.page, "trade-release-9-buyer-sold-out-search")


# The journey, in order; a check of another part of the app goes inside the step it needs.
STEPS: list[Callable[[Trade], None]] = [step_release, step_sold_out, step_dispute, step_tour]


def test_trade_and_dispute_in_the_browser(browser: Any, demo: dict[str, Any]) -> None:  # noqa: F811
    nodes = demo["nodes"]
    seller_id, arbiter_id = _persona(nodes["seller"]), _persona(nodes["arbiter"])
    # No arbiter set-up: the demo seller's catalog names the demo arbiter as its default.
    with _bearer(nodes["seller"]) as api:
        assert api.get("/api/v1/arbiters").json()["arbiters"] == [arbiter_id]
    buyer, seller, arbiter = (Party(r, nodes[r], browser) for r in ("buyer", "seller", "arbiter"))
    trade = Trade(nodes, buyer, seller, arbiter, seller_id=seller_id)
    trade.timings["demo_ready_s"] = demo["_ready_s"]
    try:
        for step in STEPS:
            started = time.monotonic()
            step(trade)
            trade.timings[f"{step.__name__}_s"] = round(time.monotonic() - started, 1)
        for party in trade.parties:
            party.watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS.write_text(json.dumps(trade.timings, indent=2) + "\n", encoding="utf-8")
        for party in trade.parties:
            party.context.close()
