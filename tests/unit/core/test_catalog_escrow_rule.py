"""The catalog's ``escrow_above`` (version 3): strict parsing, its limits, older versions.

Bodies are signed as maps (the signer's checks bypassed) and handed to the receiver's parser,
so each case tests what a peer's bytes may hold, not what our own signer happens to write.
"""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umbra.core import (
    MAX_AMOUNT,
    CatalogBody,
    InvalidDocument,
    compute_cid,
    encode_canonical,
    parse_catalog,
    sign_catalog,
)
from umbra.core.crypto import SigningKey, tags

KEY = SigningKey(bytes(range(32)))
XMR = 10**12
V2 = {
    "v": 2,
    "kind": "catalog",
    "seller": KEY.public_key,
    "seq": 4,
    "updated_at": 1_700_000_000,
    "listings": [compute_cid(b"listing", "dag-cbor")],
    "arbiters": [],
}
V3 = {**V2, "v": 3, "escrow_above": XMR}


def signed(body: dict[str, Any]) -> bytes:
    sig = KEY.sign(tags.CATALOG_SIG, encode_canonical(body))
    return encode_canonical({"body": body, "sig": sig})


def refusal(body: dict[str, Any]) -> InvalidDocument:
    with pytest.raises(InvalidDocument) as info:
        parse_catalog(signed(body))
    return info.value


def test_version_3_carries_the_rule_and_null_means_none() -> None:
    assert parse_catalog(signed(V3)).body.escrow_above == XMR
    assert parse_catalog(signed({**V3, "escrow_above": None})).body.escrow_above is None


def test_the_field_belongs_to_version_3_and_is_always_there() -> None:
    missing = {k: v for k, v in V3.items() if k != "escrow_above"}
    assert refusal(missing).detail.endswith("a version 3 catalog has an escrow_above field")
    assert refusal({**V2, "escrow_above": XMR}).detail.endswith(
        "a version 2 catalog has no escrow_above field"
    )
    v1 = {k: v for k, v in V2.items() if k != "arbiters"} | {"v": 1}
    assert "version 1 catalog has no escrow_above" in refusal({**v1, "escrow_above": 0}).detail


def test_older_catalogs_stay_valid_and_have_no_rule() -> None:
    v1 = {k: v for k, v in V2.items() if k != "arbiters"} | {"v": 1}
    for body in (v1, V2):
        data = signed(body)
        parsed = parse_catalog(data)
        assert parsed.body.escrow_above is None
        assert not parsed.body.requires_escrow(MAX_AMOUNT)
        assert parsed.data == data


def test_limits_of_the_amount() -> None:
    for ok in (0, 1, MAX_AMOUNT):
        assert parse_catalog(signed({**V3, "escrow_above": ok})).body.escrow_above == ok
    for bad in (-1, MAX_AMOUNT + 1, True, "1", b"\x01", [1], {"x": 1}):
        exc = refusal({**V3, "escrow_above": bad})
        assert (exc.reason, exc.detail.split(":")[0]) == ("invalid-field", "escrow_above")


@given(st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_AMOUNT)))
def test_every_allowed_value_round_trips_through_the_signer(value: int | None) -> None:
    body = CatalogBody.model_validate({**V3, "escrow_above": value})
    doc = sign_catalog(KEY, body)
    back = parse_catalog(doc.data, expected_cid=doc.cid)
    assert back.body == body
    assert back.data == doc.data == signed({**V3, "escrow_above": value})


@given(
    st.one_of(
        # Every integer a CBOR head can carry (-2**64 .. 2**64-1); beyond, the encoder
        # itself refuses ("unencodable"), before any catalog rule is asked.
        st.integers(min_value=-(2**64), max_value=-1),
        st.integers(min_value=MAX_AMOUNT + 1, max_value=2**64 - 1),
        st.booleans(),
        st.text(max_size=8),
        st.binary(max_size=8),
        st.lists(st.integers(0, 10), max_size=3),
    )
)
def test_every_other_value_is_refused_by_name(value: object) -> None:
    exc = refusal({**V3, "escrow_above": value})
    assert exc.reason == "invalid-field"
    assert exc.detail.startswith("escrow_above")


def test_above_means_strictly_above() -> None:
    body = parse_catalog(signed(V3)).body
    assert not body.requires_escrow(XMR)
    assert body.requires_escrow(XMR + 1)
    zero = parse_catalog(signed({**V3, "escrow_above": 0})).body
    assert zero.requires_escrow(1)  # 0: every order needs escrow
