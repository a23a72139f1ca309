"""The web layer's one rule for other people's text: neutralized and isolated on every page."""

import pytest

from umbra.core import ListingBody, ShippingOption, sign_listing
from umbra.core.crypto import SigningKey
from umbra.web._render import ENV, render

HOSTILE = "Pay \u202eevil\u202c now\u200b, \u2066isolated\u2069 \ufeff"
SHOWN = "Pay evil now, isolated "
HIDDEN = "\u202e\u202c\u200b\u2066\u2069\ufeff"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ x }}", SHOWN),
        ("{{ x | truncate(200) }}", SHOWN),
        ("{{ x | user }}", f"<bdi>{SHOWN}</bdi>"),
        ("{{ x | isolate }}", f"\u2068{SHOWN}\u2069"),
        ('<p title="{{ x }}">', f'<p title="{SHOWN}">'),
        ("{{ x | markdown }}", f"<p>{SHOWN.strip()}</p>\n"),
        ("{{ [x, x] | map('user') | join(', ') }}", f"<bdi>{SHOWN}</bdi>, <bdi>{SHOWN}</bdi>"),
    ],
)
def test_every_way_of_printing_neutralizes(source: str, expected: str) -> None:
    assert ENV.from_string(source).render(x=HOSTILE) == expected


def test_snippets_keep_their_marks_and_lose_hidden_characters() -> None:
    out = ENV.from_string("{{ x | snippet }}").render(x="a\u202e \x02match\x03 <b>")
    assert out == "a <mark>match</mark> &lt;b&gt;"


def test_isolation_cannot_be_used_to_inject_markup() -> None:
    out = ENV.from_string("{{ x | user }}|{{ x | isolate }}").render(x='</bdi><script>"')
    assert "<script>" not in out and "&lt;/bdi&gt;&lt;script&gt;&#34;" in out


DESCRIPTION = f"**Bold \u202eevil\u202c**\n\n{HOSTILE}"


def test_a_listing_page_shows_hostile_text_neutralized_and_isolated() -> None:
    key = SigningKey(bytes(range(32)))
    body = ListingBody(
        v=1, kind="listing", seller=key.public_key, listing_id=bytes(16), revision=1,
        created_at=0, expires_at=86_400, title="دراجة هوائية", description=DESCRIPTION,
        price=1, quantity=1, category="other", tags=["دراجة", "bike"], condition="new",
        shipping=[ShippingOption(name="بريد", regions=["DE"], cost=1)], ships_from="DE",
        images=[],
    )  # fmt: skip
    page = render(
        "listing.html",
        body=body,
        listing=sign_listing(key, body),
        seller="umbra-pk",
        own=False,
        expired=False,
        escrow_above=None,
        nav=[],
        path="/",
        csrf="t",
    )
    assert "<title>\u2068دراجة هوائية\u2069 · Umbra</title>" in page  # FSI … PDI: isolated
    rest = page.replace("\u2068دراجة هوائية\u2069", "")
    assert not any(ch in rest for ch in HIDDEN)
    assert "<strong>Bold evil</strong>" in page and SHOWN.strip() in page
    assert '<h1 dir="auto">دراجة هوائية</h1>' in page
    assert '<div class="description" dir="auto">' in page
    assert "<bdi>دراجة</bdi>, <bdi>bike</bdi>" in page
    assert '<td dir="auto">بريد</td>' in page
