"""Hidden characters typed by the local user: refused with the field and character named,
at every entry of text that other people will see (listing fields, arbiter offer)."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from umbra.core import UsageError
from umbra.core.crypto import Argon2Params
from umbra.market import SellerCatalog, TradeOptions, arbiter_offer, sample_drafts
from umbra.market._listing_fields import shipping_line, shipping_option
from umbra.store import Profile, create_profile

FAST = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@pytest.fixture
def seller(tmp_path: Path) -> Iterator[Profile]:
    profile = create_profile(tmp_path, "seller", "pw", params=FAST)
    yield profile
    profile.close()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"title": "Invoice \u202egpj.exe"},
            "title: the character U+202E (RIGHT-TO-LEFT OVERRIDE)",
        ),
        ({"title": "Bike\u2066"}, "title: the character U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        ({"tags": ("bike", "b\u200bike")}, "tags.1: the character U+200B (ZERO WIDTH SPACE)"),
        ({"title": "two\nlines"}, "title: the character U+000A"),
    ],
)
def test_listing_fields_refuse_hidden_characters(
    seller: Profile, changes: dict[str, object], expected: str
) -> None:
    draft = replace(sample_drafts(1)[0], images=(), **changes)  # type: ignore[arg-type]
    with pytest.raises(UsageError) as exc:
        SellerCatalog(seller).create(draft)
    assert str(exc.value).startswith(expected), exc.value
    assert SellerCatalog(seller).own_listings() == []


def test_right_to_left_listings_are_accepted(seller: Profile) -> None:
    draft = replace(
        sample_drafts(1)[0],
        images=(),
        title="دراجة هوائية للبيع",
        tags=("دراجة", "אופניים"),
        description="وصف \u202eمع\u202c تحكم",  # free text keeps it (neutralized when shown)
    )
    created = SellerCatalog(seller).create(draft)
    assert created.body.title == "دراجة هوائية للبيع"


def test_shipping_option_names_refuse_hidden_characters() -> None:
    with pytest.raises(UsageError, match=r"^shipping option: name: the character U\+200F"):
        shipping_line("Post\u200f:DE:0.01")
    with pytest.raises(UsageError, match=r"U\+FEFF"):
        shipping_option("\ufeffPost", "DE", "0.01")
    assert shipping_line("بريد:DE:0.01").name == "بريد"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"arbiter_name": "Fair \u202eegduJ"}, "--arbiter-name: the character U+202E"),
        ({"arbiter_fee": "1\u200b%"}, "--arbiter-fee: the character U+200B"),
    ],
)
def test_arbiter_offer_refuses_hidden_characters(
    seller: Profile, tmp_path: Path, changes: dict[str, str], expected: str
) -> None:
    options = TradeOptions(data_dir=tmp_path, arbiter=True, **changes)  # type: ignore[arg-type]
    with pytest.raises(UsageError) as exc:
        arbiter_offer(seller, options)
    assert str(exc.value).startswith(expected)
    fine = arbiter_offer(seller, TradeOptions(data_dir=tmp_path, arbiter=True, arbiter_name="حَكَم"))
    assert fine is not None and fine.name == "حَكَم"
