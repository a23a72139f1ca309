"""The wallet page and ``/api/v1/wallet`` against a real regtest chain and monero-wallet-rpc.

The chain is the wallet tests' session fixture (monerod, a faucet and the three parties'
wallets, the buyer funded with 60 XMR); the web profile connects to the buyer's wallet-rpc
the way a user connects their own. Screenshots of the wallet pages go to test-artifacts/web/.
"""

import base64
import io
import json
import re
import time
from typing import Any

import httpx
import pytest
import trio
from PIL import Image

from tests.integration.wallet.conftest import (
    Chain,
    chain,  # noqa: F401  (the shared chain fixture)
)
from umbra.core.crypto import encode_public_key

from .conftest import ARTIFACTS, SELLER_ARBITER, Served
from .test_ui import PHONE, Watch, browser, no_sideways_scroll, shot  # noqa: F401

pytestmark = pytest.mark.monero

TIMINGS = ARTIFACTS / "web" / "wallet-api.json"
TXID = re.compile(r"[0-9a-f]{64}")


def _connect_body(regtest: Chain, party: str = "buyer", **changes: Any) -> dict[str, Any]:
    proc = regtest.sandbox.wallet(party)
    body: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": proc.port,
        "user": proc.user,
        "password": proc.password,
    }
    body.update(changes)
    return body


def _mine(regtest: Chain, blocks: int = 1) -> None:
    trio.run(regtest.sandbox.mine, blocks)


def _wait_spendable(regtest: Chain, party: str, piconero: int) -> None:
    """Mine one block at a time until ``party`` can spend ``piconero`` (change is locked)."""

    async def run() -> None:
        async with regtest.sandbox.wallet(party).client() as rpc:
            for _ in range(40):
                await rpc.call("refresh")
                if int((await rpc.call("get_balance"))["unlocked_balance"]) >= piconero:
                    return
                await regtest.sandbox.mine(1)
        raise AssertionError(f"{party}'s coins did not unlock")

    trio.run(run)


def unlisted_arbiter_id() -> str:
    """A well-formed persona id that the seeded seller's catalog does not list."""
    return encode_public_key(bytes(range(32)))


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert isinstance(message, str) and message.endswith(".")
    return message


def test_wallet_api(served: Served, chain: Chain) -> None:  # noqa: F811
    seller_address = chain.addresses["seller"]
    # Wall times of the wallet routes on this machine, recorded (never asserted).
    timings: dict[str, float] = {}
    with served.bearer() as http:
        # Not connected: say so, and how to connect.
        state = http.get("/api/v1/wallet").json()
        assert state["connected"] is False
        assert "umbra sandbox up" in state["how_to_connect"]
        assert "umbra sandbox up" in _error(http.post("/api/v1/wallet/address", json={}), 409)
        assert "umbra sandbox up" in _error(http.get("/api/v1/wallet/history"), 409)

        # Connecting checks the wallet first: wrong login, nothing listening, bad input.
        wrong = _connect_body(chain, password="wrong")
        assert "login" in _error(http.post("/api/v1/wallet/connect", json=wrong), 400)
        closed = _connect_body(chain, port=1)
        _error(http.post("/api/v1/wallet/connect", json=closed), 503)
        bad_host = _connect_body(chain, host="evil host/")
        _error(http.post("/api/v1/wallet/connect", json=bad_host), 400)
        _error(http.post("/api/v1/wallet/connect", json={"port": "x"}), 422)
        _error(http.post("/api/v1/wallet/connect", content=b"{not json"), 422)
        assert http.get("/api/v1/wallet").json()["connected"] is False

        connected = http.post("/api/v1/wallet/connect", json=_connect_body(chain))
        assert connected.status_code == 200, connected.text

        t0 = time.perf_counter()
        state = http.get("/api/v1/wallet").json()
        timings["balance_s"] = round(time.perf_counter() - t0, 3)
        assert state["connected"] is True and state["source"] == "config"
        balance = state["balance"]
        assert balance["unlocked"]["piconero"] >= 50 * 10**12
        assert balance["total"]["piconero"] == (
            balance["unlocked"]["piconero"] + balance["locked"]["piconero"]
        )

        # Add funds: a fresh subaddress each time, its URI, and a QR code made here.
        t0 = time.perf_counter()
        funds = http.post("/api/v1/wallet/address", json={"amount": "0.5"}).json()
        timings["add_funds_address_and_qr_s"] = round(time.perf_counter() - t0, 3)
        again = http.post("/api/v1/wallet/address", json={}).json()
        assert funds["address"] != again["address"]
        assert funds["subaddress_index"] < again["subaddress_index"]
        assert funds["uri"] == f"monero:{funds['address']}?tx_amount=0.50"
        assert again["uri"] == f"monero:{again['address']}"
        qr = Image.open(io.BytesIO(base64.b64decode(funds["qr_png_base64"])))
        assert qr.format == "PNG" and qr.width == qr.height and qr.width >= 100
        for bad in ("abc", "0", "-1", "1.0000000000001"):
            _error(http.post("/api/v1/wallet/address", json={"amount": bad}), 400)

        # Send, step 1: bad input and refusals are 4xx sentences.
        preview_url = "/api/v1/wallet/send-preview"
        for body in (
            {"address": "not-an-address", "amount": "1"},
            {"address": seller_address, "amount": "zero"},
            {"address": seller_address, "amount": "0"},
        ):
            _error(http.post(preview_url, json=body), 400)
        _error(http.post(preview_url, json={"amount": "1"}), 422)
        too_much = {"address": seller_address, "amount": "900"}
        assert "not enough" in _error(http.post(preview_url, json=too_much), 400).lower()

        t0 = time.perf_counter()
        preview = http.post(preview_url, json={"address": seller_address, "amount": "1.5"}).json()
        timings["send_preview_s"] = round(time.perf_counter() - t0, 3)
        assert preview["amount"]["piconero"] == 15 * 10**11
        assert 0 < preview["fee"]["piconero"] < 10**10
        assert preview["total"]["piconero"] == 15 * 10**11 + preview["fee"]["piconero"]

        # Step 2 relays exactly that transaction, once.
        _error(http.post("/api/v1/wallet/send", json={"preview_id": "x" * 20}), 404)
        _error(http.post("/api/v1/wallet/send", json={}), 422)
        t0 = time.perf_counter()
        sent = http.post("/api/v1/wallet/send", json={"preview_id": preview["preview_id"]})
        timings["send_relay_s"] = round(time.perf_counter() - t0, 3)
        assert sent.status_code == 200, sent.text
        txid = sent.json()["txid"]
        assert TXID.fullmatch(txid)
        _error(http.post("/api/v1/wallet/send", json={"preview_id": preview["preview_id"]}), 404)

        # The history shows it, first in the pool, then in a block.
        seen: dict[str, Any] = {}
        for _ in range(30):
            history = http.get("/api/v1/wallet/history").json()["transfers"]
            seen = {t["txid"]: t for t in history}
            if txid in seen and seen[txid]["direction"] == "out":
                break
            _mine(chain)
        assert seen[txid]["direction"] == "out"
        assert seen[txid]["amount"]["piconero"] == 15 * 10**11
        assert seen[txid]["fee"]["piconero"] == preview["fee"]["piconero"]

    # A browser session needs the CSRF token for wallet changes, like everywhere else.
    browser_client = served.browser()
    try:
        http = browser_client.http
        refused = http.post(
            preview_url,
            json={"address": seller_address, "amount": "1"},
            headers={"Origin": served.base},
        )
        assert refused.status_code == 403
        allowed = http.post("/api/v1/wallet/address", json={}, headers=browser_client.headers())
        assert allowed.status_code == 200, allowed.text
    finally:
        browser_client.http.close()

    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")

    # The settings' Monero section and /api/v1/status see the connected wallet.
    with served.bearer() as http:
        monero = http.get("/api/v1/status").json()["monero"]
        assert monero["connected"] and monero["reachable"] and monero["wallet_height"] > 0


def test_wallet_pages(browser: Any, served: Served, chain: Chain) -> None:  # noqa: F811
    seller_address = chain.addresses["seller"]
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)

        page.goto(served.base + "/wallet")
        assert "umbra sandbox up" in page.locator("#connect").inner_text()
        no_sideways_scroll(page)
        shot(page, "20-wallet-not-connected")

        proc = chain.sandbox.wallet("buyer")
        page.fill("#port", "1")
        page.click("#connect button[type=submit]")
        page.wait_for_selector("#connect .notice.error")
        assert "Nothing answers" in page.locator("#connect .notice.error").inner_text()
        page.fill("#port", str(proc.port))
        page.fill("#user", proc.user)
        page.fill("#password", proc.password)
        page.click("#connect button[type=submit]")
        page.wait_for_selector("text=Wallet connected.")
        assert page.locator("#balance-unlocked").inner_text().endswith(" XMR")
        no_sideways_scroll(page)
        shot(page, "21-wallet")

        page.fill("#fund-amount", "0.25")
        page.click("#add-funds button[type=submit]")
        page.wait_for_selector("#funding-qr")
        page.wait_for_function("() => document.querySelector('#funding-qr').naturalWidth > 0")
        address = page.input_value("#funding-address")
        assert page.input_value("#funding-uri") == f"monero:{address}?tx_amount=0.25"
        assert page.eval_on_selector("#funding-qr", "i => i.src").startswith("data:image/png")
        no_sideways_scroll(page)
        shot(page, "22-wallet-add-funds")

        page.goto(served.base + "/wallet")
        page.fill("#send-address", seller_address)
        page.fill("#send-amount", "lots")
        page.click("#send button[type=submit]")
        page.wait_for_selector(".notice.error")
        assert "is not an amount in XMR" in page.locator(".notice.error").inner_text()
        assert page.input_value("#send-address") == seller_address  # kept for correction
        shot(page, "23-wallet-send-error")

        _wait_spendable(chain, "buyer", 10**12)
        page.fill("#send-amount", "0.75")
        page.click("#send button[type=submit]")
        page.wait_for_selector("#confirm-send", timeout=120_000)
        fee = page.locator("#confirm-fee").inner_text()
        assert fee.endswith(" XMR") and fee != "0.00 XMR"
        no_sideways_scroll(page)
        shot(page, "24-wallet-confirm-send")
        page.click("#confirm-send")
        page.wait_for_selector("text=Sent. Transaction id", timeout=120_000)
        txid = page.locator(".notice.ok code").inner_text()
        assert TXID.fullmatch(txid)
        for _ in range(30):
            if page.locator(f"#history code:text('{txid[:16]}')").count():
                break
            _mine(chain)
            page.reload()
        assert page.locator(f"#history code:text('{txid[:16]}')").count() == 1
        shot(page, "25-wallet-history")

        # One-click buy: the confirmation shows the total with the fee from this wallet.
        _wait_spendable(chain, "buyer", 10**11)
        page.goto(f"{served.base}/listing/{served.other_cid}")
        page.click("#buy")
        page.wait_for_selector("#buy-button", timeout=120_000)
        assert page.locator("#buy-fee").inner_text().startswith("about ")
        total = page.locator("#buy-total").inner_text()
        assert total.endswith(" XMR") and total != "0.05 XMR"  # 0.05 plus the fee
        assert page.locator("#buy-button").inner_text() == f"Buy for {total}"
        page.fill("#address", "Jane Doe\n1 Main Street\nParis")
        # Escrow is the default; paying the seller directly is the other choice.
        assert page.is_checked("#pay-escrow") and not page.is_checked("#pay-direct")
        # The seller's default arbiter is chosen; its profile is not in the DHT (no node).
        assert "profile not found yet" in page.locator("#buy-arbiter summary").inner_text()
        page.click("#buy-arbiter summary")
        assert page.input_value("#arbiter") == SELLER_ARBITER
        # A form posted with an arbiter the seller does not list is refused in plain words.
        page.eval_on_selector(
            "#arbiter",
            "(s, v) => { s.add(new Option('someone else', v)); s.value = v; }",
            unlisted_arbiter_id(),
        )
        page.click("#buy-button")
        page.wait_for_selector("#buy-error")
        assert "does not accept this arbiter" in page.locator("#buy-error").inner_text()
        assert page.is_visible("#arbiter")  # the page with the error keeps the choice open
        page.select_option("#arbiter", SELLER_ARBITER)
        no_sideways_scroll(page)
        shot(page, "26-buy-confirm")
        page.click("#buy-button")
        page.wait_for_url("**/orders/*?placed=*")
        assert "Placing your order" in page.locator("h1").inner_text()
        watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        context.close()
