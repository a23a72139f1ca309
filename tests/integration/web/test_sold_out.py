"""A sold-out listing on a real served web app: pages, JSON, the buy page, and stale edits.

The other seller of the seeded profile sells its last notebook: its node publishes a stock
revision (quantity 0), which this profile indexes as a sync would. One browser test checks
what a person sees (`_checks_stock`); the rest read the server's answers over HTTP.
"""

# ruff: noqa: F811 - ``browser`` is test_ui's module fixture

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from multiformats import CID

from umbra.market import SellerCatalog
from umbra.store import index_entry_for, open_profile

from ._checks_stock import check_sold_out_in_browser
from .conftest import Served
from .test_ui import browser  # noqa: F401


def _sell_out_theirs(served: Served) -> str:
    """The other seller's node sold the last notebook; this profile synced it. New CID."""
    root = Path(served.profile.path).parents[1]
    with open_profile(root, "other", "pw") as other:
        catalog = SellerCatalog(other)
        found = catalog.revision_of(CID.decode(served.other_cid))
        assert found is not None
        sold = catalog.set_quantity(found[0].body.listing_id, 0)

    def index() -> None:
        served.profile.blocks.put_verified(sold.cid, sold.data)
        served.profile.search.upsert(index_entry_for(sold))

    served.in_store(index)
    return str(sold.cid)


def test_a_sold_out_listing_shows_so_everywhere_and_cannot_be_bought(served: Served) -> None:
    cid = _sell_out_theirs(served)
    web = served.browser()
    with closing(web.http) as http:
        listing = http.get(f"/listing/{cid}").text
        assert 'id="sold-out"' in listing and "Sold out" in listing
        assert 'id="buy"' not in listing
        for page in ("/", "/search?q=notebook"):
            html = http.get(page).text
            assert 'class="badge sold-out">Sold out' in html, page
        # A link to the revision before the sale leads to the current one.
        old = http.get(f"/listing/{served.other_cid}", follow_redirects=False)
        assert old.status_code == 303 and old.headers["location"] == f"/listing/{cid}"
        refused = http.get(f"/buy/{cid}")
        assert refused.status_code == 400 and "sold out" in refused.text

        # Buyers' pages of a listing with stock still offer it (the notice is not always there).
        own = http.get(f"/listing/{served.own_cid}").text
        assert 'id="sold-out"' not in own and "Sold out" not in own

    with served.bearer() as api:
        detail = api.get(f"/api/v1/listings/{cid}").json()
        assert detail["sold_out"] is True and detail["quantity"] == 0
        (hit,) = api.get("/api/v1/search", params={"q": "notebook"}).json()["hits"]
        assert hit["cid"] == cid and hit["sold_out"] is True and hit["quantity"] == 0
        ordered = api.post("/api/v1/orders", json={"listing": cid, "shipping_option": 0})
        assert ordered.status_code == 400 and "sold out" in ordered.json()["error"]
        mine = api.get(f"/api/v1/listings/{served.own_cid}").json()
        assert mine["sold_out"] is False and mine["quantity"] == 1


def test_own_sold_out_listing_and_an_edit_that_a_sale_overtook(served: Served) -> None:
    def sell_last() -> str:
        catalog = SellerCatalog(served.profile)
        found = catalog.revision_of(CID.decode(served.own_cid))
        assert found is not None
        return found[0].body.listing_id.hex()

    ref = served.in_store(sell_last)
    with served.bearer() as api:
        before = api.get(f"/api/v1/own/listings/{ref}").json()
        # The node sells the last one while the seller edits the description.
        served.in_store(lambda: SellerCatalog(served.profile).set_quantity(bytes.fromhex(ref), 0))
        stale = api.patch(
            f"/api/v1/own/listings/{ref}",
            data={"description": "Now with a strap.", "revision": str(before["revision"])},
        )
        assert stale.status_code == 400 and "changed since you opened it" in stale.text
        now = api.get(f"/api/v1/own/listings/{ref}").json()
        assert now["quantity"] == 0 and now["sold_out"] is True
    web = served.browser()
    with closing(web.http) as http:
        assert 'class="badge sold-out">Sold out' in http.get("/my").text

        # The web form carries the revision it was opened at: the sale wins, the seller sees it.
        form = http.get(f"/my/{ref}/edit").text
        assert f'name="base_revision" value="{now["revision"]}"' in form
        served.in_store(lambda: SellerCatalog(served.profile).set_quantity(bytes.fromhex(ref), 2))
        fields = {
            "csrf_token": web.csrf, "base_revision": str(now["revision"]), "title": now["title"],
            "price": "0.5", "quantity": "0", "category": now["category"],
            "condition": now["condition"], "ships_from": "DE", "keep_images": "yes",
            "lifetime_days": "30", "ship_name": "Post", "ship_regions": "EU", "ship_cost": "0.01",
        }  # fmt: skip
        answer = http.post(
            f"/my/{ref}/edit", data=fields, headers=web.headers(), files={"x": ("", b"")}
        )
        assert answer.status_code == 400 and "While you edited" in answer.text
        assert 'id="quantity" name="quantity" type="number" min="0" max="1000000" value="2"' in (
            answer.text
        )


@pytest.mark.ui
def test_sold_out_in_the_browser(browser: Any, served: Served) -> None:
    cid = _sell_out_theirs(served)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(served.login)
        check_sold_out_in_browser(page, served.base, cid, "notebook")
    finally:
        context.close()
