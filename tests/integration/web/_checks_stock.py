"""Browser assertions for a sold-out listing, shared by the UI tests.

`check_sold_out_in_browser` takes a logged-in Playwright page; it is called by
``test_sold_out.py`` (in-process server) and is meant for any journey in which an item's last
unit sold (e.g. the demo's "Vintage film camera", quantity 1, once its buyer's node synced).
"""

from typing import Any
from urllib.parse import quote


def check_sold_out_in_browser(page: Any, base: str, cid: str, title_words: str) -> None:
    """The listing page says "Sold out" instead of offering Buy; search cards say it too."""
    page.goto(f"{base}/listing/{cid}")
    assert page.locator("#available").inner_text().strip() == "Sold out"
    notice = page.locator("#sold-out")
    assert notice.is_visible() and "Sold out" in notice.inner_text()
    assert page.locator("#buy").count() == 0  # no way to start buying it

    page.goto(f"{base}/search?q={quote(title_words)}")
    card = page.locator(f'a.card[href="/listing/{cid}"]')
    assert card.count() == 1, f"no search card for {cid}"
    assert card.locator(".badge.sold-out").inner_text().strip() == "Sold out"
