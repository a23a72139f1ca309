"""The web app in Debian's Chromium, driven by Playwright: the main flows, phone width, and
screenshots of every key page under ``test-artifacts/web/`` on every run."""

import http.server
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from umbra.market import ArbiterDirectory, ArbiterOffer, sample_image, sign_own_profile

from ._chromium import chromium, skip_reason
from .conftest import ARTIFACTS, Served

SHOTS = ARTIFACTS / "web"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        yield launched


class Watch:
    """Every request a page makes, and every console error (CSP violations show there)."""

    def __init__(self, page: Any, base: str) -> None:
        self.base = base
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def check(self, *, allow_errors: tuple[str, ...] = ()) -> None:
        foreign = [
            u for u in self.requests if not u.startswith((self.base + "/", "data:", "blob:"))
        ]
        assert foreign == [], f"requests to other hosts: {foreign}"
        errors = [e for e in self.errors if not any(a in e for a in allow_errors)]
        assert errors == [], errors


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page: Any) -> None:
    """Nothing on the page needs scrolling sideways: neither the page itself nor a box in
    it (a table in an ``overflow-x: auto`` wrapper scrolls too; text fields do not count)."""
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => !['INPUT', 'TEXTAREA', 'SELECT'].includes(e.tagName)
                      && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
                      && e.scrollWidth > e.clientWidth + 1)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className ? '.' + e.className : '')
                      + ' ' + e.scrollWidth + '/' + e.clientWidth)"""
    )
    assert boxes == [], f"boxes that scroll sideways: {boxes}"
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        # Name the culprits: elements that reach past the right edge or whose text overflows.
        wide = page.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > limit
                          || e.scrollWidth > e.clientWidth + 1)
                .slice(-5)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                          + ' ' + Math.round(e.getBoundingClientRect().right)
                          + '/' + e.scrollWidth)""",
            width[1],
        )
        raise AssertionError(f"page is wider than the screen: {width}; too wide: {wide}")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "leica.png"
    path.write_bytes(sample_image(11, "leica", size=(900, 600)))
    return path


def test_create_search_view_edit_delete(browser: Any, served: Served, photo: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        watch = Watch(page, served.base)

        page.goto(served.login)
        assert page.url == served.base + "/"  # the token left the address bar
        assert page.locator("h1").inner_text() == "Browse by category"
        shot(page, "01-home")

        page.click("nav >> text=New listing")
        page.fill("#title", "Leica M6 rangefinder")
        page.fill("#price", "2.5")
        page.select_option("#category", "electronics/cameras")
        page.select_option("#condition", "used-like-new")
        page.fill("#ships_from", "DE")
        page.fill("#tags", "film, leica")
        page.fill("#description", "**Mint** condition.\n\nComes with the original strap.")
        page.locator("input[name=ship_name]").first.fill("Tracked post")
        page.locator("input[name=ship_regions]").first.fill("EU")
        page.locator("input[name=ship_cost]").first.fill("0.02")
        page.set_input_files("#images", str(photo))
        page.wait_for_selector("#image-preview img")
        assert page.eval_on_selector("#image-preview img", "i => i.src").startswith("blob:")
        shot(page, "02-new-listing-with-preview")

        page.click("button[type=submit]")
        page.wait_for_url("**/listing/baf*")
        assert page.locator("h1").inner_text() == "Leica M6 rangefinder"
        assert page.locator(".price.big").inner_text() == "2.50 XMR"
        assert page.locator(".description strong").inner_text() == "Mint"
        page.wait_for_function("() => document.querySelector('.gallery img').naturalWidth > 0")
        assert "Tracked post" in page.locator("table.shipping").inner_text()
        shot(page, "03-listing")

        page.goto(served.base + "/search")
        page.fill("#q", "leica")
        page.select_option("#category", "electronics")
        page.fill("#max_price", "3")
        page.fill("#ships_to", "FR")
        page.select_option("#sort", "price")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/search?*")
        assert page.locator("#result-count").inner_text() == "1 listing found"
        assert page.locator(".card-title").inner_text() == "Leica M6 rangefinder"
        page.wait_for_function("() => document.querySelector('.card img').naturalWidth > 0")
        shot(page, "04-search-filtered")
        page.fill("#max_price", "1")
        page.click("form.filters button[type=submit]")
        page.wait_for_selector("text=0 listings found")
        page.fill("#max_price", "abc")
        page.click("form.filters button[type=submit]")
        page.wait_for_selector(".notice.error")
        assert "Write an amount in XMR" in page.locator(".notice.error").inner_text()
        shot(page, "05-search-error")

        page.goto(served.base + "/my")
        assert page.locator(".own-item").count() == 2
        shot(page, "06-my-listings")
        page.locator(".own-item", has_text="Leica").locator("text=Edit").click()
        page.wait_for_url("**/edit")
        assert page.input_value("#price") == "2.50"
        shot(page, "07-edit-listing")
        page.fill("#price", "not a price")
        page.click("button[type=submit]")
        page.wait_for_selector("#form-error")
        assert "is not an amount in XMR" in page.locator("#form-error").inner_text()
        assert page.input_value("#title") == "Leica M6 rangefinder"  # values kept
        shot(page, "08-form-error")
        page.fill("#price", "2.25")
        page.click("button[type=submit]")
        page.wait_for_url("**/listing/baf*")
        assert page.locator(".price.big").inner_text() == "2.25 XMR"
        page.wait_for_function("() => document.querySelector('.gallery img').naturalWidth > 0")

        page.goto(served.base + "/settings")
        assert "Your node is not running" in page.locator("main").inner_text()
        seller = page.input_value("#own-seller-id")
        assert seller.startswith("umbra-pk-ed25519-v1:")
        shot(page, "09-settings")

        page.goto(served.base + "/api/docs")
        assert "/api/v1/search" in page.content()
        shot(page, "10-api-docs")

        page.goto(served.base + "/listing/bafyreinothere")
        assert "not on this device" in page.locator(".notice.error").inner_text()
        shot(page, "11-not-found")

        page.goto(served.base + "/my")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(".own-item", has_text="Leica").locator("button.danger").click()
        page.wait_for_selector("text=The listing was deleted.")
        assert page.locator(".own-item").count() == 1
        # The error pages (bad search, bad form, not found) answer 4xx on purpose.
        watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        context.close()


def test_hostile_listing_and_foreign_seller(browser: Any, served: Served) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(served.login)
        page.goto(f"{served.base}/listing/{served.other_cid}")
        assert page.locator("h1").inner_text() == "Hand-bound <b>notebook</b>"
        assert page.locator("#buy").inner_text() == "Buy"  # a stranger's listing can be bought
        assert page.locator(".description script, .description img, .description a").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == []  # no injected alert() ran
        shot(page, "12-listing-from-another-seller")
        watch.check()
    finally:
        context.close()


def test_phone_width(browser: Any, served: Served) -> None:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)
        pages = {
            "home": "/",
            "search": "/search?q=camera",
            "listing": f"/listing/{served.own_cid}",
            "my-listings": "/my",
            "new-listing": "/my/new",
            "settings": "/settings",
        }
        for name, path in pages.items():
            page.goto(served.base + path)
            page.wait_for_load_state("load")
            no_sideways_scroll(page)
            shot(page, f"phone-{name}")
        watch.check()
    finally:
        context.close()


def test_words_a_person_reads(browser: Any, served: Served) -> None:
    """Conditions in words (the form and the listing), and the settings' times in the date
    style of every other page."""
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(served.login)
        page.goto(f"{served.base}/listing/{served.own_cid}")
        assert page.locator("#condition").inner_text() == "Used, good"
        page.goto(f"{served.base}/my/new")
        options = page.locator("#condition option").all_inner_texts()
        assert "Used, fair" in options and not any("-" in o for o in options)
        page.goto(f"{served.base}/settings")
        last_sync = page.locator("#net-last-sync").inner_text()
        # The seeded profile synced a catalog: its time as every page writes times.
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", last_sync), last_sync
    finally:
        context.close()


def test_an_arbiters_home_is_its_console(browser: Any, served: Served) -> None:
    """A profile whose node runs with ``--arbiter`` (its own arbiter profile is kept) opens
    on the arbiter console, which the navigation lists first; Browse is one link away."""
    profile = served.profile

    def become_arbiter() -> None:
        own = sign_own_profile(profile, ArbiterOffer("Fair Judge", "none"), int(time.time()))
        ArbiterDirectory(profile).remember(own)

    served.in_store(become_arbiter)
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)
        assert page.url == served.base + "/"
        assert page.locator("h1").inner_text() == "Arbiter console"
        nav = page.locator(".top nav a")
        assert nav.first.inner_text() == "Arbiter console"
        assert nav.nth(1).inner_text() == "Browse"
        nav.nth(1).click()
        page.wait_for_url("**/browse")
        assert page.locator("h1").inner_text() == "Browse by category"
        no_sideways_scroll(page)
        page.goto(served.base + "/")
        shot(page, "phone-arbiter-home")
        watch.check()
    finally:
        context.close()


def test_locked_without_the_link(browser: Any, served: Served) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        response = page.goto(served.base + "/my")
        assert response is not None and response.status == 401
        assert "Umbra is locked" in page.content()
        shot(page, "13-locked")
        response = page.goto(served.base + "/?token=wrong-token-wrong-token-wrong-token-1234")
        assert response is not None and response.status == 401
        assert "umbra open" in page.locator(".notice").inner_text()
    finally:
        context.close()


def test_umbra_open_forwards_the_browser_with_a_one_time_code(
    browser: Any, served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `umbra open` starts the browser with is visible to every local user (`ps`): only
    # the path of an owner-only page, which forwards a real Chromium to a one-time code.
    import webbrowser

    from umbra.cli._web_cmds import open_in_browser

    started_with: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: started_with.append(url) or True)
    assert open_in_browser(served.login, tmp_path) is True
    [uri] = started_with
    forwarder = tmp_path / "open.html"
    assert uri == forwarder.as_uri() and served.token not in uri and "code=" not in uri
    assert forwarder.stat().st_mode & 0o777 == 0o600
    assert served.token not in forwarder.read_text(encoding="utf-8")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(uri)
        page.wait_for_url(served.base + "/", timeout=30_000)
        assert "Browse by category" in page.content()
        # The code is spent: the same page again leaves a new browser locked out.
        other = browser.new_context()
        try:
            again = other.new_page()
            again.goto(uri)
            again.wait_for_load_state("load")
            again.wait_for_url(served.base + "/?code=*", timeout=30_000)
            assert "Umbra is locked" in again.content() or "already used" in again.content()
        finally:
            other.close()
    finally:
        context.close()


class _EvilHandler(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><form id=f method=post action='" + self.target + "'>"
            "<input name=csrf_token value=guess></form>"
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_cross_site_form_post_is_refused(browser: Any, served: Served) -> None:
    """A page on another origin auto-submits a delete form at Umbra: nothing is deleted."""
    own_id = served.bearer().get("/api/v1/own/listings").json()["listings"][0]["id"]
    handler = type("Evil", (_EvilHandler,), {"target": f"{served.base}/my/{own_id}/delete"})
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(served.login)  # the victim is logged in
        with page.expect_navigation(url=f"{served.base}/my/{own_id}/delete"):
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        assert page.locator("body").inner_text() != ""
        status = page.evaluate("() => document.title")
        assert "Umbra" in status
        shot(page, "14-cross-site-post-refused")
    finally:
        context.close()
        evil.shutdown()
        evil.server_close()
        thread.join(timeout=5)
    listings = served.bearer().get("/api/v1/own/listings").json()["listings"]
    assert [x["id"] for x in listings] == [own_id]


def test_artifacts_exist() -> None:
    """Runs last in this module: the screenshots of this run are on disk."""
    if skip_reason():
        pytest.skip(skip_reason() or "")
    names = {p.stem for p in SHOTS.glob("*.png")}
    for expected in ("01-home", "03-listing", "04-search-filtered", "phone-home", "09-settings"):
        assert expected in names
    assert shutil.disk_usage(SHOTS).free > 0
