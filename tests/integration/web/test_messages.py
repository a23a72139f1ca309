"""Messages and network health: ``/api/v1/messages``, ``/api/v1/status`` and their pages.

No node runs here, so sending only queues (what the page says); an incoming message is
recorded the way the node's messaging service records one (``Inbox.record_incoming``).
"""

import os
from datetime import UTC, datetime
from typing import Any

import httpx

from umbra.core.crypto import encode_public_key
from umbra.net.messaging import ChatPayload, Inbox

from .conftest import SEEDED_SYNC_AT, Served
from .test_ui import PHONE, Watch, browser, no_sideways_scroll, shot  # noqa: F401

PEER = os.urandom(32)
PEER_ID = encode_public_key(PEER)


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert isinstance(message, str) and message.endswith(".")
    return message


def _receive(served: Served, text: str, order: str = "") -> None:
    payload = ChatPayload(os.urandom(16), order, text, served.services.now())
    now = served.services.now()
    served.in_store(lambda: Inbox(served.profile.db).record_incoming(PEER, payload, now=now))


def test_messages_api(served: Served) -> None:
    own_id = encode_public_key(served.profile.identity.signing_public)
    with served.bearer() as http:
        assert http.get("/api/v1/messages").json() == {"conversations": []}

        for body, status in (
            ({"peer": "someone-else", "text": "hi"}, 400),
            ({"peer": PEER_ID[:-3] + "!!!", "text": "hi"}, 400),
            ({"peer": own_id, "text": "hi"}, 400),
            ({"peer": PEER_ID, "text": "hi", "order": "no spaces allowed"}, 400),
            ({"peer": PEER_ID, "text": ""}, 422),
            ({"peer": PEER_ID, "text": "x" * 16_001}, 422),
            ({"peer": PEER_ID}, 422),
        ):
            _error(http.post("/api/v1/messages", json=body), status)
        _error(http.post("/api/v1/messages", content=b"\xff\xfe"), 422)
        _error(http.get("/api/v1/messages/thread", params={"peer": "nobody at all"}), 400)
        _error(http.get("/api/v1/messages/thread"), 422)

        sent = http.post(
            "/api/v1/messages", json={"peer": PEER_ID, "order": "a1b2c3d4", "text": "Shipped?"}
        )
        assert sent.status_code == 201, sent.text
        assert sent.json()["status"] == "queued" and sent.json()["direction"] == "out"

        _receive(served, "Yes, this morning.", order="a1b2c3d4")
        _receive(served, "Other question", order="")
        listed = http.get("/api/v1/messages").json()["conversations"]
        assert {(c["order"], c["messages"], c["unread"]) for c in listed} == {
            ("a1b2c3d4", 2, 1),
            ("", 1, 1),
        }
        thread = http.get(
            "/api/v1/messages/thread", params={"peer": PEER_ID, "order": "a1b2c3d4"}
        ).json()
        assert [(m["direction"], m["text"]) for m in thread["messages"]] == [
            ("out", "Shipped?"),
            ("in", "Yes, this morning."),
        ]
        listed = http.get("/api/v1/messages").json()["conversations"]
        assert {c["order"]: c["unread"] for c in listed} == {"a1b2c3d4": 0, "": 1}

    # Cookie sessions need the CSRF token for sending, like for every change.
    browser_client = served.browser()
    try:
        refused = browser_client.http.post(
            "/api/v1/messages",
            json={"peer": PEER_ID, "text": "hi"},
            headers={"Origin": served.base},
        )
        assert refused.status_code == 403
        hello = {"peer": PEER_ID, "text": "hi"}
        allowed = browser_client.http.post(
            "/api/v1/messages", json=hello, headers=browser_client.headers()
        )
        assert allowed.status_code == 201
    finally:
        browser_client.http.close()


def test_status_api_without_node_or_wallet(served: Served) -> None:
    with served.bearer() as http:
        status = http.get("/api/v1/status").json()
    assert status["network"]["running"] is False
    # Only what the seed wrote: no node ran, so nothing more was synced.
    assert status["network"]["catalogs_synced"] == 1
    seeded = datetime.fromtimestamp(SEEDED_SYNC_AT, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["network"]["last_sync"] == seeded
    assert status["monero"]["connected"] is False
    assert "umbra sandbox up" in status["monero"]["how_to_connect"]
    with served.anonymous() as http:
        assert http.get("/api/v1/status").status_code == 401


def test_messages_and_settings_pages(browser: Any, served: Served) -> None:  # noqa: F811
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)

        page.goto(served.base + "/messages")
        assert "No conversations yet" in page.locator("main").inner_text()
        assert page.locator("#node-offline").count() == 1
        page.fill("#peer", "not an id")
        page.fill("#text", "Hello")
        page.click("#new-message button[type=submit]")
        page.wait_for_selector(".notice.error")
        assert "not a persona id" in page.locator(".notice.error").inner_text()
        assert page.input_value("#peer") == "not an id"
        shot(page, "30-messages-error")

        page.fill("#peer", PEER_ID)
        page.fill("#order", "a1b2c3d4")
        page.fill("#text", "Is the camera still available?")
        page.click("#new-message button[type=submit]")
        page.wait_for_url("**/messages/thread?*")
        assert "waiting for the node" in page.locator(".message.out .status").inner_text()

        _receive(served, "Yes, it is.\nShall I reserve it?", order="a1b2c3d4")
        page.reload()
        assert page.locator(".message.in .text").inner_text() == "Yes, it is.\nShall I reserve it?"
        page.fill("#text", "Please do.")
        page.click(".reply button[type=submit]")
        page.wait_for_selector("text=Please do.")
        assert page.locator(".message").count() == 3
        no_sideways_scroll(page)
        shot(page, "31-messages-thread")

        page.goto(served.base + "/messages")
        assert page.locator(".conversations .own-item").count() == 1
        no_sideways_scroll(page)
        shot(page, "32-messages")

        page.goto(served.base + "/settings")
        assert "Your node is not running" in page.locator("#network").inner_text()
        assert page.locator("#net-catalogs").inner_text() == "1 (1 listings)"
        assert "umbra sandbox up" in page.locator("#monero").inner_text()
        no_sideways_scroll(page)
        shot(page, "33-settings-health")
        watch.check(allow_errors=("the server responded with a status of 4",))
    finally:
        context.close()
