"""The JSON API and the security gate, against a real served app."""

import io
import json
import re
import socket

import httpx
import pytest
from PIL import Image

from tests.hostile_images import jpeg_with_hostile_exif
from umbra.api import CONTENT_SECURITY_POLICY, MAX_BODY_BYTES
from umbra.market import sample_image

from .conftest import Served, external_references

PROTECTED = [
    "/",
    "/search",
    "/my",
    "/my/new",
    "/settings",
    "/api/docs",
    "/api/openapi.json",
    "/api/v1/profile",
    "/api/v1/search",
    "/api/v1/own/listings",
    "/api/v1/categories",
    "/wallet",
    "/messages",
    "/orders",
    "/arbiter",
    f"/buy/{'b' * 59}",
    "/api/v1/wallet",
    "/api/v1/wallet/history",
    "/api/v1/messages",
    "/api/v1/orders",
    "/api/v1/arbiters",
    "/api/v1/status",
]


def _png() -> bytes:
    return sample_image(7, "upload", size=(400, 300))


def _listing_form(**fields: str) -> dict[str, str]:
    form = {
        "title": "Brass telescope",
        "description": "Works well.\n\n* 30x zoom",
        "price": "1.25",
        "quantity": "2",
        "category": "other",
        "condition": "used-good",
        "ships_from": "nl",
        "tags": "optics, brass",
        "lifetime_days": "10",
    }
    form.update(fields)
    return form


# -- authentication ------------------------------------------------------------------------------


def test_everything_needs_the_token(served: Served) -> None:
    with served.anonymous() as http:
        for path in PROTECTED:
            response = http.get(path)
            assert response.status_code == 401, path
            if path.startswith("/api/"):
                assert "umbra open" in response.json()["error"]
        page = http.get("/my", headers={"Accept": "text/html"})
        assert page.status_code == 401 and "text/html" in page.headers["content-type"]
        assert "Umbra is locked" in page.text
        assert http.post("/api/v1/own/listings", data=_listing_form()).status_code == 401
        assert http.delete(f"/api/v1/own/listings/{served.own_cid}").status_code == 401
        assert http.get(f"/api/v1/listings/{served.own_cid}").status_code == 401
        # The shipped CSS and JS are public (no data in them): the locked page needs them.
        assert http.get("/static/app.css").status_code == 200


def test_wrong_tokens_are_refused(served: Served) -> None:
    wrong = served.token[:-4] + "AAAA"
    with served.anonymous() as http:
        assert (
            http.get("/api/v1/profile", headers={"Authorization": f"Bearer {wrong}"}).status_code
            == 401
        )
        assert (
            http.get("/api/v1/profile", headers={"Authorization": "Basic xyz"}).status_code == 401
        )
        response = http.get(f"/?token={wrong}")
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        http.cookies.set(f"umbra_session_{served.port}", "forged")
        assert http.get("/").status_code == 401
        # A token is never accepted in a POST URL.
        assert http.post(f"/my/new?token={served.token}").status_code == 400


def test_login_sets_a_strict_cookie_and_strips_the_token(served: Served) -> None:
    with served.anonymous() as http:
        response = http.get(f"/search?q=camera&token={served.token}")
        assert response.status_code == 303
        assert response.headers["location"] == "/search?q=camera"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"umbra_session_{served.port}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert served.token not in cookie
        page = http.get("/search?q=camera")
        assert page.status_code == 200 and "Vintage film camera" in page.text
        session = http.get("/api/v1/session").json()
        assert session["auth"] == "cookie" and len(session["csrf_token"]) >= 40


def test_one_time_login_codes(served: Served) -> None:
    # What `umbra open` hands the browser instead of the token (whose command line every
    # local user can read): a code minted by a Bearer client, good for one login.
    with served.bearer() as http:
        minted = http.post("/api/v1/login-codes")
        assert minted.status_code == 200
        code = minted.json()["code"]
        assert len(code) >= 40 and minted.json()["expires_in"] > 0
        assert http.get("/api/v1/login-codes").status_code == 405
    with served.anonymous() as http:
        assert http.post("/api/v1/login-codes").status_code == 401
        response = http.get(f"/orders?code={code}")
        assert response.status_code == 200
        assert '<meta http-equiv="refresh" content="0;url=/orders">' in response.text
        assert response.headers["set-cookie"].startswith(f"umbra_session_{served.port}=")
        assert http.get("/orders").status_code == 200
        # A browser session cannot mint codes (a page has no use for them).
        csrf = http.get("/api/v1/session").json()["csrf_token"]
        refused = http.post(
            "/api/v1/login-codes",
            headers={"X-CSRF-Token": csrf, "Origin": served.base},
        )
        assert refused.status_code == 403
    with served.anonymous() as http:
        spent = http.get(f"/?code={code}")
        assert spent.status_code == 401 and "set-cookie" not in spent.headers
        assert http.get(f"/?code={'x' * 43}").status_code == 401
        assert http.get(f"/?code={code}&token={served.token}").status_code == 400


def test_login_redirect_stays_on_this_site(served: Served) -> None:
    with served.anonymous() as http:
        for path, expected in (
            ("//evil.example/x", "/"),
            ("/%5Cevil.example", "/%5Cevil.example"),
            ("/caf%C3%A9", "/caf%C3%A9"),
        ):
            response = http.get(f"{served.base}{path}?token={served.token}")
            assert response.status_code == 303, path
            assert response.headers["location"] == expected, path


def test_bearer_token_works_for_the_api(served: Served) -> None:
    with served.bearer() as http:
        profile = http.get("/api/v1/profile").json()
        assert profile["name"] == "web"
        assert profile["seller_id"].startswith("umbra-pk-ed25519-v1:")
        assert profile["own_listings"] == 1 and profile["indexed_listings"] == 2
        assert profile["node"] == {"connected": False, "status": None}
        assert http.get("/api/v1/session").json() == {"auth": "bearer", "csrf_token": None}


# -- host check (DNS rebinding) -------------------------------------------------------------------


def test_foreign_host_headers_are_refused(served: Served) -> None:
    with served.bearer() as http:
        for host in (
            f"evil.example:{served.port}",
            "evil.example",
            f"127.0.0.1:{served.port + 1}",
            "127.0.0.1",
            f"[::1]:{served.port}",
        ):
            response = http.get("/api/v1/profile", headers={"Host": host})
            assert response.status_code == 400, host
            assert "local address" in response.json()["error"]
        ok = http.get("/api/v1/profile", headers={"Host": f"localhost:{served.port}"})
        assert ok.status_code == 200
        # Even the token login is refused under a foreign name.
        login = http.get(f"/?token={served.token}", headers={"Host": "evil.example"})
        assert login.status_code == 400 and "set-cookie" not in login.headers


# -- CSRF ------------------------------------------------------------------------------------------


def test_cookie_requests_need_csrf_token_and_origin(served: Served) -> None:
    browser = served.browser()
    http = browser.http
    files = {"images": ("a.png", _png(), "image/png")}
    cases = [
        ({}, "without token or origin"),
        ({"Origin": browser.origin}, "without CSRF token"),
        ({"Origin": "http://evil.example", "X-CSRF-Token": browser.csrf}, "foreign origin"),
        ({"Origin": "null", "X-CSRF-Token": browser.csrf}, "null origin"),
        ({"X-CSRF-Token": browser.csrf}, "no origin and no fetch metadata"),
        ({"Origin": browser.origin, "X-CSRF-Token": "x" * 43}, "wrong token"),
        (
            {"Origin": browser.origin.replace("127.0.0.1", "localhost"), "X-CSRF-Token": "bad"},
            "wrong token, other local origin",
        ),
    ]
    for headers, why in cases:
        response = http.post(
            "/api/v1/own/listings", data=_listing_form(), files=files, headers=headers
        )
        assert response.status_code == 403, why
        assert response.json()["error"].endswith(".")
    assert http.post("/my/1234/delete", headers={"Origin": browser.origin}).status_code == 403
    assert http.delete(f"/api/v1/own/listings/{served.own_cid}").status_code == 403
    assert len(http.get("/api/v1/own/listings").json()["listings"]) == 1  # nothing changed

    ok = http.post(
        "/api/v1/own/listings", data=_listing_form(), files=files, headers=browser.headers()
    )
    assert ok.status_code == 201, ok.text
    # The form field works too (that is what the pages' forms send), with fetch metadata
    # standing in for a missing Origin.
    form = _listing_form(title="Second", csrf_token=browser.csrf)
    ok = http.post("/api/v1/own/listings", data=form, headers={"Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 201, ok.text
    # What Chromium sends for our own forms under Referrer-Policy: no-referrer.
    null_origin = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    ok = http.post("/api/v1/own/listings", data={**form, "title": "Third"}, headers=null_origin)
    assert ok.status_code == 201, ok.text
    forged = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    assert http.post("/api/v1/own/listings", data=form, headers=forged).status_code == 403
    cross = http.post("/api/v1/own/listings", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403


def test_bearer_requests_are_csrf_exempt(served: Served) -> None:
    with served.bearer() as http:
        response = http.post(
            "/api/v1/own/listings",
            data=_listing_form(),
            headers={"Origin": "http://evil.example"},
        )
        assert response.status_code == 201


# -- headers and offline assets ----------------------------------------------------------------


def test_security_headers_everywhere(served: Served) -> None:
    browser = served.browser()
    responses = [
        browser.http.get("/"),
        browser.http.get("/api/v1/profile"),
        browser.http.get("/static/app.css"),
        browser.http.get("/nope"),
        browser.http.get("/api/v1/nope"),
        served.anonymous().get("/api/v1/profile"),
        served.anonymous().get("/", headers={"Host": "evil.example"}),
        browser.http.get(f"/listing/{served.other_cid}"),
    ]
    for response in responses:
        h = response.headers
        assert h["content-security-policy"] == CONTENT_SECURITY_POLICY, response.url
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
        assert "access-control-allow-origin" not in h
        assert "server" not in h
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'self' covers it


def test_no_page_or_asset_refers_to_another_host(served: Served) -> None:
    browser = served.browser()
    own_id = browser.http.get("/api/v1/own/listings").json()["listings"][0]["id"]
    paths = [
        "/",
        "/search",
        "/search?q=note&category=art&max_price=1&ships_to=FR&sort=price",
        f"/listing/{served.own_cid}",
        f"/listing/{served.other_cid}",
        "/my",
        "/my/new",
        f"/my/{own_id}/edit",
        "/settings",
        "/wallet",
        "/messages",
        f"/buy/{served.other_cid}",
        "/orders",
        "/arbiter",
        "/api/docs",
        "/api/docs.css",
        "/static/app.css",
        "/static/app.js",
        "/no/such/page",
    ]
    for path in paths:
        response = browser.http.get(path)
        assert response.status_code in (200, 404), path
        assert external_references(response.text) == [], path
    spec = browser.http.get("/api/openapi.json").text
    assert "cdn" not in spec.lower()


def test_hostile_listing_text_is_escaped(served: Served) -> None:
    page = served.browser().http.get(f"/listing/{served.other_cid}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror" in page
    assert "<b>notebook</b>" not in page and "&lt;b&gt;notebook&lt;/b&gt;" in page
    assert "<strong>bold</strong>" in page  # Markdown still renders
    assert not re.search(r"""(href|src)=["']https?://evil""", page)


def test_hostile_direction_characters_are_neutralized_on_pages(served: Served) -> None:
    browser = served.browser().http
    hidden = "\u202e\u202c\u200b\u2066\ufeff"  # U+2069 is also the end of our own isolates
    listing = browser.get(f"/listing/{served.other_cid}").text
    found = browser.get("/search", params={"q": "elbatsurt"}).text  # the snippet shows it
    # The tab title isolates the listing title itself between U+2068 and U+2069.
    assert re.search("<title>\u2068[^\u2068\u2069]+\u2069 · Umbra</title>", listing)
    for page in (listing, found):
        assert not any(ch in page for ch in hidden), [ch for ch in hidden if ch in page]
        assert page.count("\u2069") == page.count("\u2068")  # only the pages' own isolates
        assert re.search("(<mark>)?elbatsurt(</mark>)? here please", page)
    assert '<div class="description" dir="auto">' in listing
    # The API is data: it returns the description exactly as the seller signed it.
    with served.bearer() as http:
        api = http.get(f"/api/v1/listings/{served.other_cid}").json()
    assert "\u202eelbatsurt\u202c\u200b \u2066here\u2069\ufeff" in api["description"]


# -- bad input: always 4xx with a sentence, never 500 ----------------------------------------------


BAD_QUERIES = [
    "limit=0",
    "limit=101",
    "limit=abc",
    "offset=-1",
    "offset=20000",
    "sort=cheapest",
    "min_price=abc",
    "max_price=-1",
    "min_price=0.0000000000001",
    "max_price=9999999999",
    "ships_to=XX",
    "ships_to=WW",
    "ships_to=GERMANY",
    "category=weapons",
    "category=../../etc",
    "q=" + "a" * 1001,
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_search_parameters(shared: Served, query: str) -> None:
    with shared.bearer() as http:
        response = http.get(f"/api/v1/search?{query}")
        assert 400 <= response.status_code < 500, response.text
        message = response.json()["error"]
        assert isinstance(message, str) and len(message) > 10


def test_odd_but_valid_search_text_never_fails(served: Served) -> None:
    with served.bearer() as http:
        for text in ['"', "NEAR(", "*", "a:b", "-x", "'; DROP TABLE x; --", "\u202e", "日本"]:
            response = http.get("/api/v1/search", params={"q": text})
            assert response.status_code == 200, text


def test_search_filters_and_paging(served: Served) -> None:
    with served.bearer() as http:
        every = http.get("/api/v1/search").json()
        assert every["total"] == 2
        camera = http.get(
            "/api/v1/search",
            params={"q": "film", "category": "electronics", "max_price": "0.5", "ships_to": "de"},
        ).json()
        assert [h["title"] for h in camera["hits"]] == ["Vintage film camera"]
        hit = camera["hits"][0]
        assert hit["price"] == {"piconero": 500_000_000_000, "xmr": "0.50"}
        assert {"text": "film", "match": True} in hit["snippet_parts"] or hit["snippet"]
        assert hit["thumbnail_url"].startswith("/api/v1/images/baf")
        assert http.get("/api/v1/search", params={"max_price": "0.4"}).json()["total"] == 1
        assert http.get("/api/v1/search", params={"ships_to": "US"}).json()["total"] == 0
        by_price = http.get("/api/v1/search", params={"sort": "price"}).json()["hits"]
        assert [h["price"]["xmr"] for h in by_price] == ["0.04", "0.50"]
        second = http.get("/api/v1/search", params={"limit": 1, "offset": 1}).json()
        assert second["total"] == 2 and len(second["hits"]) == 1


def test_bad_listing_and_image_references(served: Served) -> None:
    with served.bearer() as http:
        listing = http.get(f"/api/v1/listings/{served.other_cid}").json()
        image_cid = listing["images"][0]["full"]
        cases = {
            "/api/v1/listings/not-a-cid-at-all": 400,
            f"/api/v1/listings/{image_cid}": 404,  # an image is not a listing
            "/api/v1/listings/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy": 404,
            f"/api/v1/images/{served.other_cid}": 404,  # a listing is not an image
            "/api/v1/images/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy": 404,
            "/api/v1/images/zzzzzzzzzzzzzz": 400,
            "/api/v1/images/x": 422,
        }
        for path, status in cases.items():
            response = http.get(path)
            assert response.status_code == status, (path, response.text)
            assert response.json()["error"]
        # An image this device lacks is fetched by the node; without one, the page says so.
        missing = http.get(
            "/api/v1/images/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
        )
        assert "no node runs here to fetch it" in missing.json()["error"]


def _webp_declaring(width: int, height: int) -> bytes:
    """A real small WebP (extended header) whose canvas claims another size."""
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 4)).save(out, "WEBP")
    data = bytearray(out.getvalue())
    data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


def test_image_blocks_that_are_not_still_bounded_webp_are_not_served(served: Served) -> None:
    # Image blocks come from sellers' nodes; the browser would decode whatever is served.
    fine, bomb = _webp_declaring(64, 64), _webp_declaring(16_384, 16_384)
    html = b"RIFF\x1c\x00\x00\x00WEBP<html><script>alert(1)</script>"
    cids = served.in_store(
        lambda: [served.profile.blocks.put(d, "raw") for d in (fine, bomb, html)]
    )
    with served.bearer() as http:
        assert http.get(f"/api/v1/images/{cids[0]}").content == fine
        for cid in cids[1:]:
            response = http.get(f"/api/v1/images/{cid}")
            assert response.status_code == 404
            assert "not a valid listing image" in response.json()["error"]


def test_listing_detail_and_images(served: Served) -> None:
    with served.bearer() as http:
        theirs = http.get(f"/api/v1/listings/{served.other_cid}").json()
        assert theirs["own"] is False and theirs["ships_from"] == "FR"
        assert theirs["price"]["xmr"] == "0.04"
        mine = http.get(f"/api/v1/listings/{served.own_cid}").json()
        assert mine["own"] is True
        assert mine["seller"] == http.get("/api/v1/profile").json()["seller_id"]
        image = http.get(theirs["images"][0]["url"])
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/webp"
        assert "immutable" in image.headers["cache-control"]
        assert Image.open(io.BytesIO(image.content)).format == "WEBP"
        again = http.get(
            theirs["images"][0]["url"], headers={"If-None-Match": image.headers["etag"]}
        )
        assert again.status_code == 304


BAD_CREATES: list[tuple[dict[str, str], str]] = [
    ({"title": ""}, "missing title"),
    ({"price": "cheap"}, "not an amount"),
    ({"price": "-1"}, "positive"),
    ({"price": "0"}, "price"),
    ({"category": "weapons"}, "unknown category"),
    ({"condition": "mint"}, "condition"),
    ({"ships_from": "XX"}, "region"),
    ({"quantity": "1e3"}, "quantity"),
    ({"quantity": "-1"}, "quantity"),
    ({"lifetime_days": "0"}, "lifetime_days"),
    ({"lifetime_days": "999"}, "lifetime_days"),
    ({"tags": "ok, not ok!"}, "tags"),
    ({"shipping": "just a name"}, "shipping"),
    ({"shipping": "Post:XX:0.1"}, "region"),
    ({"shipping": "Post:DE:abc"}, "amount"),
    ({"title": "x" * 201}, "title"),
    ({"title": "bell\x07"}, "control"),
    ({"description": "x" * 30_000}, "description"),
    ({"description": "x" * 70_000}, "KB"),
    ({"colour": "red"}, "unknown field"),
]


@pytest.mark.parametrize(("changes", "expected"), BAD_CREATES)
def test_bad_listing_input(shared: Served, changes: dict[str, str], expected: str) -> None:
    with shared.bearer() as http:
        response = http.post(
            "/api/v1/own/listings",
            data=_listing_form(**changes),
            files={"images": ("a.png", _png(), "image/png")},
        )
        assert 400 <= response.status_code < 500, response.text
        assert expected.lower() in response.json()["error"].lower(), response.json()
        assert len(http.get("/api/v1/own/listings").json()["listings"]) == 1


def test_bad_uploads(served: Served) -> None:
    with served.bearer() as http:
        not_image = http.post(
            "/api/v1/own/listings",
            data=_listing_form(),
            files={"images": ("evil.png", b"<script>alert(1)</script>", "image/png")},
        )
        assert not_image.status_code == 400
        assert "JPEG, PNG or WebP" in not_image.json()["error"]
        bad_exif = http.post(
            "/api/v1/own/listings",
            data=_listing_form(),
            files={"images": ("bad.jpg", jpeg_with_hostile_exif(), "image/jpeg")},
        )
        assert bad_exif.status_code == 400, bad_exif.text  # was 500 (issue #14)
        assert bad_exif.json()["error"] == (
            "Image 1: the file is not a readable JPEG, PNG or WebP image."
        )
        eleven = [("images", (f"{i}.png", _png(), "image/png")) for i in range(11)]
        too_many = http.post("/api/v1/own/listings", data=_listing_form(), files=eleven)
        assert too_many.status_code == 400 and "10 images" in too_many.json()["error"]
        as_json = http.post("/api/v1/own/listings", json=_listing_form())
        assert as_json.status_code == 400 and "multipart" in as_json.json()["error"]
        text_as_file = http.post(
            "/api/v1/own/listings",
            data=_listing_form(),
            files={"title": ("t.txt", b"hello", "text/plain")},
        )
        assert text_as_file.status_code == 400 and "file" in text_as_file.json()["error"]
        broken = http.post(
            "/api/v1/own/listings",
            content=b"--x\r\nnonsense",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert broken.status_code == 400
        no_boundary = http.post(
            "/api/v1/own/listings",
            content=b"abc",
            headers={"Content-Type": "multipart/form-data"},
        )
        assert no_boundary.status_code == 400
        assert _raw_post_status(served, MAX_BODY_BYTES + 1) == 413
        assert (
            http.get("/api/v1/own/listings").json()["listings"][0]["title"] == "Vintage film camera"
        )


def _raw_post_status(served: Served, declared_length: int) -> int:
    """POST that declares a huge body and sends only a little (httpx will not do that)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /api/v1/own/listings HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                f"Authorization: Bearer {served.token}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {declared_length}\r\n\r\nxx"
            ).encode()
        )
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_bad_edit_and_delete_references(served: Served) -> None:
    with served.bearer() as http:
        assert (
            http.delete("/api/v1/own/listings/ffffffffffffffffffffffffffffffff").status_code == 404
        )
        assert http.delete(f"/api/v1/own/listings/{served.other_cid}").status_code == 404
        assert http.delete("/api/v1/own/listings/zz!!").status_code == 400
        assert http.delete("/api/v1/own/listings/ab").status_code == 422
        edit = http.patch("/api/v1/own/listings/ffffffff", data={"title": "x"})
        assert edit.status_code == 404
        own_id = http.get("/api/v1/own/listings").json()["listings"][0]["id"]
        bad = http.patch(f"/api/v1/own/listings/{own_id}", data={"price": "free"})
        assert bad.status_code == 400
        both = http.patch(
            f"/api/v1/own/listings/{own_id}",
            data={"remove_images": "true"},
            files={"images": ("a.png", _png(), "image/png")},
        )
        assert both.status_code == 400
        assert http.put("/api/v1/own/listings").status_code == 405
        assert http.get("/api/v1/nothing-here").status_code == 404


def test_create_edit_delete_round_trip(served: Served) -> None:
    with served.bearer() as http:
        created = http.post(
            "/api/v1/own/listings",
            data={**_listing_form(), "shipping": ["Post:NL,BE:0.01", "Courier:EU:0.05"]},
            files=[("images", ("a.png", _png(), "image/png"))],
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["own"] and body["ships_from"] == "NL" and body["revision"] == 1
        assert body["tags"] == ["brass", "optics"]
        assert [o["cost"]["xmr"] for o in body["shipping"]] == ["0.01", "0.05"]
        assert len(body["images"]) == 1 and body["images"][0]["width"] == 400
        found = http.get("/api/v1/search", params={"q": "telesc", "ships_to": "BE"}).json()
        assert [h["cid"] for h in found["hits"]] == [body["cid"]]

        edited = http.patch(
            f"/api/v1/own/listings/{body['id']}",
            data={"title": "Brass telescope (tripod)", "remove_images": "true", "shipping": ""},
        )
        assert edited.status_code == 200, edited.text
        new = edited.json()
        assert new["revision"] == 2 and new["cid"] != body["cid"] and new["images"] == []
        assert new["shipping"] == [] and new["price"]["xmr"] == "1.25"
        assert http.get(f"/api/v1/listings/{body['cid']}").status_code == 404
        assert http.get(f"/api/v1/own/listings/{body['id'][:8]}").json()["cid"] == new["cid"]

        deleted = http.delete(f"/api/v1/own/listings/{new['cid']}")
        assert deleted.json() == {"deleted": new["cid"], "id": body["id"]}
        assert http.get(f"/api/v1/listings/{new['cid']}").status_code == 404
        assert http.get("/api/v1/search", params={"q": "telescope"}).json()["total"] == 0


def test_openapi_and_local_docs(served: Served) -> None:
    with served.bearer() as http:
        spec = http.get("/api/openapi.json").json()
        for path in (
            "/api/v1/search",
            "/api/v1/listings/{cid}",
            "/api/v1/images/{cid}",
            "/api/v1/own/listings",
            "/api/v1/own/listings/{ref}",
            "/api/v1/categories",
            "/api/v1/profile",
        ):
            assert path in spec["paths"], path
        create = spec["paths"]["/api/v1/own/listings"]["post"]
        assert "multipart/form-data" in create["requestBody"]["content"]
        docs = http.get("/api/docs")
        assert docs.status_code == 200 and "/api/v1/search" in docs.text
        assert "<script" not in docs.text
        categories = http.get("/api/v1/categories").json()
        assert {"slug": "other", "subcategories": []} in categories["categories"]
        assert json.dumps(categories)  # plain JSON


def test_unknown_pages_are_friendly(served: Served) -> None:
    http = served.browser().http
    page = http.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "home page" in page.text
    listing = http.get("/listing/bafyreibogus")
    assert listing.status_code == 404 and "not on this device" in listing.text
    search = http.get("/search?max_price=lots&ships_to=ZZ&sort=weird&category=nope")
    assert search.status_code == 400
    assert "Write an amount in XMR" in search.text and "not a country code" in search.text


def test_websocket_and_odd_methods_are_refused(served: Served) -> None:
    with served.bearer() as http:
        assert http.request("TRACE", "/api/v1/profile").status_code in (405, 400)
        response = http.options("/api/v1/profile", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in response.headers
    with pytest.raises(httpx.HTTPError):
        httpx.get(
            served.base.replace("http://", "http://user@") + "/", timeout=5
        ).raise_for_status()
