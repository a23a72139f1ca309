import pytest
from hypothesis import given
from hypothesis import strategies as st

from umbra.core import MAX_AMOUNT, UsageError, format_xmr, parse_xmr, region_covers


@given(st.integers(0, MAX_AMOUNT))
def test_format_parse_round_trip(piconero: int) -> None:
    assert parse_xmr(format_xmr(piconero)) == piconero


@pytest.mark.parametrize(
    ("text", "piconero"),
    [("1", 10**12), ("0.25", 25 * 10**10), ("0.000000000001", 1), (" 2 XMR", 2 * 10**12)],
)
def test_parse_xmr(text: str, piconero: int) -> None:
    assert parse_xmr(text) == piconero


@pytest.mark.parametrize("bad", ["", "abc", "-1", "0.0000000000001", "1e30", "nan", "inf"])
def test_parse_xmr_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_xmr(bad)


def test_region_covers() -> None:
    assert region_covers("WW", "JP")
    assert region_covers("EU", "DE")
    assert not region_covers("EU", "US")
    assert region_covers("US", "US")
    assert not region_covers("US", "CA")
