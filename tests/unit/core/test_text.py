"""Invisible and direction-changing characters: refused in one-line fields shown to others
(when typed and when a peer's signed document is parsed), removed where free text is shown."""

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from umbra.core import (
    ArbiterProfileBody,
    InvalidDocument,
    ListingBody,
    ShippingOption,
    encode_canonical,
    escape_hidden,
    first_error,
    first_hidden,
    neutralize,
    parse_arbiter_profile,
    parse_listing,
)
from umbra.core.crypto import SigningKey, tags

from .conftest import make_body

KEY = SigningKey(bytes(range(32)))

# One of each kind the rule names, and the edges of the ranges.
REFUSED = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # embeddings, overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # isolates
    "\u200e", "\u200f", "\u061c",  # marks
    "\u200b", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064", "\ufeff", "\u180e",  # zero width
    "\u00ad", "\U000e0001", "\U000e0041", "\u0600", "\u206f",  # other format characters (Cf)
    "\u3164", "\u115f", "\uffa0",  # Hangul fillers: letters that show nothing
    "\x00", "\x07", "\n", "\t", "\x7f", "\x85", "\x9b",  # controls (C0, DEL, C1)
    "\u2028", "\u2029",  # line and paragraph separators
]  # fmt: skip

ACCEPTED_LINES = [
    "Road bike, 56 cm",
    "دراجة هوائية للبيع",  # Arabic
    "אופניים למכירה",  # Hebrew
    "Bike / دراجة 56",  # mixed directions, no controls
    "می‌خواهم",  # Persian: ZWNJ between two letters
    "क्‍ष",  # Devanagari: ZWJ after a virama
    "👩‍🔧 repair",  # an emoji ZWJ sequence
    "Café – ½ price ™",
]


def _wire(**changes: Any) -> dict[str, Any]:
    wire = make_body(KEY).model_dump()
    wire.update(changes)
    return wire


def _signed(wire: dict[str, Any], tag: bytes = tags.LISTING_SIG) -> bytes:
    return encode_canonical({"body": wire, "sig": KEY.sign(tag, encode_canonical(wire))})


# -- the one-line rule, field by field ---------------------------------------------------------

ONE_LINE_FIELDS: dict[str, Any] = {
    "title": lambda text: make_body(KEY, title=text),
    "tags.0": lambda text: make_body(KEY, tags=[text]),
    "shipping.0.name": lambda text: make_body(
        KEY, shipping=[{"name": text, "regions": ["DE"], "cost": 1}]
    ),
    "name": lambda text: _profile(name=text),
    "fee": lambda text: _profile(fee=text),
}


def _profile(**changes: Any) -> ArbiterProfileBody:
    fields: dict[str, Any] = {
        "v": 1, "kind": "arbiter-profile", "arbiter": KEY.public_key, "name": "Fair Judge",
        "fee": "1 %", "terms": "Evidence in English.", "created_at": 1, "expires_at": 2,
    }  # fmt: skip
    fields.update(changes)
    return ArbiterProfileBody(**fields)


@pytest.mark.parametrize("field", ONE_LINE_FIELDS)
@pytest.mark.parametrize("ch", REFUSED, ids=lambda ch: f"U+{ord(ch):04X}")
def test_one_line_fields_refuse_hidden_characters(field: str, ch: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ONE_LINE_FIELDS[field](f"ab{ch}cd" if field.startswith("tags") else f"Fair {ch}Judge")
    message = first_error(exc.value, "x")
    assert message.startswith(f"{field}: the character U+{ord(ch):04X}"), message
    assert "\n" not in message


@pytest.mark.parametrize("field", ["title", "shipping.0.name", "name", "fee"])
@pytest.mark.parametrize("text", ACCEPTED_LINES)
def test_one_line_fields_accept_every_script(field: str, text: str) -> None:
    ONE_LINE_FIELDS[field](text)


def test_tags_accept_letters_of_every_script() -> None:
    make_body(KEY, tags=["دراجة", "אופניים", "می‌خواهم", "vélo"])


def test_a_shipping_option_typed_by_the_user_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="U\\+200B"):
        ShippingOption(name="Po\u200bst", regions=["DE"], cost=1)


@pytest.mark.parametrize(
    "text",
    [
        "pay\u200cpal",  # a joiner between ASCII letters: "paypal" that is not
        "\u200cمی",  # at the start
        "می\u200c",  # at the end
        "می\u200c خواهم",  # next to a space
        "می\u200c\u200cخواهم",  # two in a row
        "ㅤ\u200dㅤ",  # between invisible letters
    ],
)
def test_joiners_are_refused_out_of_context(text: str) -> None:
    assert first_hidden(text) in ("\u200c", "\u200d", "ㅤ")
    with pytest.raises(ValidationError):
        make_body(KEY, title=text)


def test_the_error_names_the_character() -> None:
    with pytest.raises(ValidationError) as exc:
        make_body(KEY, title="Invoice \u202egpj.exe")
    assert first_error(exc.value, "listing") == (
        "title: the character U+202E (RIGHT-TO-LEFT OVERRIDE) is not allowed (it is invisible "
        "or changes the direction of the text around it)"
    )


# -- the same rule for documents from peers ------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Original \u202egpj.exe"},
        {"title": "Bike\u200b"},
        {"tags": ["bike", "bi\u2060ke"]},
        {"shipping": [{"name": "Post\u2067", "regions": ["DE"], "cost": 1}]},
    ],
)
def test_a_peer_listing_with_hidden_characters_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidDocument) as exc:
        parse_listing(_signed(_wire(**changes)))
    assert exc.value.reason == "invalid-field"
    assert "the character U+" in str(exc.value)


def test_a_peer_listing_keeps_hidden_characters_in_its_description() -> None:
    # Free text: accepted as signed, neutralized where shown (see the web and CLI tests).
    parsed = parse_listing(_signed(_wire(description="Pay \u202eevil\u202c now")))
    assert parsed.body.description == "Pay \u202eevil\u202c now"


@pytest.mark.parametrize("field", ["name", "fee"])
def test_a_peer_arbiter_profile_with_an_override_is_refused(field: str) -> None:
    wire = _profile().model_dump() | {field: "Fair \u202eegduJ"}
    with pytest.raises(InvalidDocument) as exc:
        parse_arbiter_profile(_signed(wire, tags.ARBITER_PROFILE_SIG))
    assert exc.value.reason == "invalid-field" and "U+202E" in str(exc.value)


def test_a_listing_before_this_rule_with_a_newline_title_is_refused() -> None:
    # Titles allowed \n and \t before; a title is one line in the current version.
    with pytest.raises(InvalidDocument, match=r"U\+000A .*one line"):
        parse_listing(_signed(_wire(title="two\nlines")))


# -- free text: neutralized where shown ----------------------------------------------------------


def test_neutralize_removes_what_lines_refuse_but_keeps_line_breaks() -> None:
    text = "Pay \u202eevil\u202c now\u200b.\nLine two\tand a\u2066n\u2069 isolate\u00ad."
    assert neutralize(text) == "Pay evil now.\nLine two\tand an isolate."
    for ch in REFUSED:
        if ch not in "\n\t":
            assert neutralize(f"a{ch}b") == "ab", f"U+{ord(ch):04X}"


@pytest.mark.parametrize("text", ACCEPTED_LINES)
def test_neutralize_keeps_real_text(text: str) -> None:
    assert neutralize(text) == text


@given(st.text(max_size=80))
def test_neutralized_text_has_nothing_hidden_and_is_stable(text: str) -> None:
    shown = neutralize(text)
    assert first_hidden(shown, free_text=True) is None
    assert neutralize(shown) == shown


@example("\x7f")  # ASCII, hidden, and left as it is by json.dumps (found by CI)
@given(st.text(max_size=80))
def test_escaped_json_is_the_same_data_with_nothing_hidden(text: str) -> None:
    encoded = escape_hidden(json.dumps({"t": text}, ensure_ascii=False))
    assert json.loads(encoded) == {"t": text}
    assert first_hidden(encoded, free_text=True) is None


def test_models_parse_neutral_text_unchanged() -> None:
    body: ListingBody = make_body(KEY, title="دراجة", description="RTL: دراجة\n\nok")
    assert body.title == "دراجة"
