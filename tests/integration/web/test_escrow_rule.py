"""Escrow above a size in the web app and the API: set in Settings, shown on the listing
and buy pages, a direct order above it refused with the reason.

The served profile is the seller of "Vintage film camera" and the buyer of the other seller's
"notebook" (0.04 XMR + 0.01 shipping = 0.05 XMR).
"""

from pathlib import Path
from typing import Any

from umbra.core import parse_xmr
from umbra.market import SellerCatalog
from umbra.net import NetState
from umbra.store import open_profile

from .conftest import Served
from .test_ui import PHONE, Watch, browser, no_sideways_scroll, shot  # noqa: F401


def _other_seller_sets(served: Served, amount: str) -> None:
    """The other seller signs a rule into a new catalog; this profile "syncs" it."""
    root = Path(served.profile.path).parents[1]  # data/profiles/web

    def sync() -> None:
        with open_profile(root, "other", "pw") as other:
            SellerCatalog(other).set_escrow_above(parse_xmr(amount))
            catalog = SellerCatalog(other).current_catalog()
        assert catalog is not None
        NetState(served.profile)
        with served.profile.db.transaction():
            served.profile.blocks.put_verified(catalog.cid, catalog.data)
            served.profile.db.execute(
                "UPDATE net_catalogs SET seq = ?, catalog_cid = ? WHERE seller = ?",
                (catalog.body.seq, str(catalog.cid), catalog.body.seller),
            )

    served.in_store(sync)


def test_rules_in_settings_the_api_and_the_pages(served: Served) -> None:
    client = served.browser()
    http = client.http
    settings = http.get("/settings").text
    assert 'id="escrow-rule"' in settings and 'value=""' in settings  # no rule yet
    assert "Buyers may pay any order directly or into escrow." in http.get("/my").text

    saved = http.post(
        "/settings/escrow-rule",
        data={"csrf_token": client.csrf, "seller": "0.3", "buyer": "0.03"},
        headers={"Origin": client.origin},
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("#escrow-rule")
    settings = http.get("/settings?done=escrow-rule").text
    assert 'value="0.30"' in settings and 'value="0.03"' in settings and "Saved." in settings
    catalog = served.in_store(SellerCatalog(served.profile).current_catalog)
    assert catalog is not None and catalog.body.escrow_above == parse_xmr("0.3")
    own = http.get(f"/listing/{served.own_cid}").text
    assert "You require escrow above 0.30 XMR" in own
    assert "You take orders above 0.30 XMR only into escrow." in http.get("/my").text

    # The buyer's own rule: 0.05 XMR is above 0.03, so only escrow is offered.
    buy = http.get(f"/buy/{served.other_cid}").text
    assert (
        "Only escrow: you chose to always use escrow above 0.03 XMR and this order is"
        " 0.05 XMR" in buy
    )
    refused = http.post(
        f"/buy/{served.other_cid}",
        data={"csrf_token": client.csrf, "shipping": "0", "address": "A", "payment": "direct"},
        headers={"Origin": client.origin},
    )
    assert refused.status_code == 400
    assert "You chose to always use escrow above 0.03 XMR" in refused.text
    with served.bearer() as api:
        direct = api.post(
            "/api/v1/orders",
            json={
                "listing": served.other_cid,
                "shipping_option": 0,
                "address": "A",
                "payment": "direct",
            },
        )
        assert direct.status_code == 400
        assert direct.json()["error"].startswith("You chose to always use escrow above 0.03")
        assert api.get("/api/v1/orders").json()["orders"] == []

        # Through the API: the buyer's rule off; the seller's kept.
        rules = api.put("/api/v1/escrow-rule", json={"seller_above": "0.3", "buyer_above": None})
        assert rules.json() == {
            "seller_above": {"piconero": parse_xmr("0.3"), "xmr": "0.30"},
            "buyer_above": None,
        }
        assert api.get("/api/v1/escrow-rule").json() == rules.json()
        bad = api.put("/api/v1/escrow-rule", json={"seller_above": "-1"})
        assert bad.status_code == 400 and "not a positive amount" in bad.json()["error"]
    buy = http.get(f"/buy/{served.other_cid}").text
    assert "buy-escrow-only" not in buy and "buy-escrow-rule" not in buy

    # The other seller's signed rule, once synced: the listing and the buy page say it.
    _other_seller_sets(served, "0.01")
    listing = http.get(f"/listing/{served.other_cid}").text
    assert "This seller requires escrow above 0.01 XMR" in listing
    with served.bearer() as api:
        seller = api.get(f"/api/v1/listings/{served.other_cid}").json()["seller"]
        assert api.get(f"/api/v1/sellers/{seller}/escrow-rule").json() == {
            "seller_above": {"piconero": parse_xmr("0.01"), "xmr": "0.01"},
            "buyer_above": None,
        }
        assert api.get("/api/v1/sellers/nonsense/escrow-rule").status_code == 400
    buy = http.get(f"/buy/{served.other_cid}").text
    assert (
        "Only escrow: this seller requires escrow above 0.01 XMR and this order is 0.05 XMR:"
        " pay into escrow." in buy
    )
    wrong = http.post(
        "/settings/escrow-rule",
        data={"csrf_token": client.csrf, "seller": "ten", "buyer": ""},
        headers={"Origin": client.origin},
    )
    assert wrong.status_code == 400 and "is not an amount in XMR" in wrong.text


def test_a_seller_sets_the_rule_and_a_buyer_sees_it(browser: Any, served: Served) -> None:  # noqa: F811
    _other_seller_sets(served, "0.02")
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        watch = Watch(page, served.base)
        page.goto(served.login)
        page.goto(served.base + "/settings")
        page.fill("#rule-seller", "1.5")
        page.click("#rule-save")
        page.wait_for_url("**/settings?done=escrow-rule*")
        assert page.locator("#escrow-rule-saved").is_visible()
        assert page.input_value("#rule-seller") == "1.50"
        assert page.input_value("#rule-buyer") == ""
        no_sideways_scroll(page)
        shot(page, "50-settings-escrow-rule")

        page.goto(f"{served.base}/listing/{served.other_cid}")
        rule = page.locator("#listing-escrow-rule").inner_text()
        assert rule.startswith("This seller requires escrow above 0.02 XMR")
        page.click("#buy")
        page.wait_for_url("**/buy/*")
        assert page.locator("#buy-escrow-only").inner_text() == (
            "Only escrow: this seller requires escrow above 0.02 XMR and this order is"
            " 0.05 XMR: pay into escrow."
        )
        assert page.locator("#pay-direct").count() == 0
        no_sideways_scroll(page)
        shot(page, "51-buy-escrow-only")
        watch.check()
    finally:
        context.close()
