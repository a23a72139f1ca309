"""Characters that make text read differently from what it is: one definition for all of Umbra.

Text that one person writes and another reads (titles, names, descriptions, messages) can
carry characters that show nothing or that change how the text around them is laid out:

- bidirectional controls (U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates,
  U+200E/U+200F/U+061C marks): "‮gpj.exe" shows as "exe.jpg"; a name can show as another;
- invisible formatting characters (Unicode category Cf: U+200B zero-width space, U+2060
  word joiner, U+FEFF, U+00AD soft hyphen, U+180E, tag characters, ...) and letters that
  render as nothing (the Hangul fillers): two names that look the same but differ;
- control characters (Cc) and line/paragraph separators (Zl, Zp).

Two rules use this one classification:

- **One-line fields** (listing title, tags, shipping option names, arbiter name and fee) refuse
  every such character, both when the user types them and when a signed document from a peer
  is parsed (`check_line`, used by the strict models in ``_models``).
- **Free text** (descriptions, arbiter terms, chat, trade notes, dispute evidence, addresses)
  keeps what it was sent, but every place that shows it to a person removes the characters
  first (`neutralize`): one call per output layer (the web's template environment, the CLI's
  output streams). Line breaks and tabs stay. Machine output keeps the data and escapes
  instead (`escape_hidden`, for the CLI's ``--json``).

Zero-width joiners are the exception, because writing needs them: U+200C (ZWNJ) inside Persian
and Indic words, U+200D (ZWJ) inside emoji sequences such as 👩‍🔧. Either is allowed only
between two characters that are letters, marks or symbols outside ASCII (`_joiner_in_context`),
so it cannot split or pad a Latin name, start or end a word, or sit next to another invisible
character.
"""

import json
import unicodedata

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO: embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI: isolates
    "\u200e\u200f\u061c"  # LRM RLM ALM: marks
)
JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ
# Letters (category Lo) that render as blank space.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# What a joiner may sit between: letters, marks, and the symbols emoji sequences are made of.
_JOINABLE_SYMBOLS = ("So", "Sk")
LINE_BREAKS = frozenset("\n\t")  # allowed in free text (not in one-line fields)


def _joiner_in_context(text: str, index: int) -> bool:
    if index == 0 or index == len(text) - 1:
        return False
    for neighbour in (text[index - 1], text[index + 1]):
        if neighbour.isascii():
            return False
        category = unicodedata.category(neighbour)
        if not (category[0] in "LM" or category in _JOINABLE_SYMBOLS):
            return False
        if neighbour in INVISIBLE_LETTERS:
            return False
    return True


def _is_hidden(text: str, index: int, *, free_text: bool) -> bool:
    ch = text[index]
    if ch.isascii() and ch.isprintable():
        return False  # the common case, decided without a table lookup
    if free_text and ch in LINE_BREAKS:
        return False
    if ch in BIDI_CONTROLS or ch in INVISIBLE_LETTERS:
        return True
    if unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
        return False
    return not (ch in JOINERS and _joiner_in_context(text, index))


def describe(ch: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: how errors name a character."""
    name = unicodedata.name(ch, "")
    if not name and unicodedata.category(ch) == "Cc":
        name = "a control character"
    return f"U+{ord(ch):04X} ({name})" if name else f"U+{ord(ch):04X}"


def first_hidden(text: str, *, free_text: bool = False) -> str | None:
    """The first character of ``text`` that is invisible or reorders text, or None.

    ``free_text`` allows newlines and tabs (free text is neutralized where it is shown, so
    only callers that refuse use this with ``free_text``, e.g. for a clear error on input).
    """
    for index in range(len(text)):
        if _is_hidden(text, index, free_text=free_text):
            return text[index]
    return None


def hidden_message(ch: str, label: str = "") -> str:
    """The one-line error for a refused character, naming the character (and the field)."""
    prefix = f"{label}: " if label else ""
    if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
        why = "this field is one line of text"
    else:
        why = "it is invisible or changes the direction of the text around it"
    return f"{prefix}the character {describe(ch)} is not allowed ({why})"


def check_line(text: str) -> str:
    """``text`` if it has no hidden character (nor a line break); else ValueError.

    A pydantic validator: the model's error names the field.

    Raises:
        ValueError: with `hidden_message`.
    """
    ch = first_hidden(text)
    if ch is not None:
        raise ValueError(hidden_message(ch))
    return text


def escape_hidden(json_text: str) -> str:
    """JSON text with every hidden character written as its ``\\uXXXX`` escape: the same
    data for a program that parses it, nothing invisible for a person who reads it."""
    if json_text.isascii() and json_text.isprintable():
        return json_text  # (DEL, U+007F, is ASCII and hidden: JSON does not escape it)
    return "".join(
        json.dumps(ch)[1:-1] if _is_hidden(json_text, i, free_text=True) else ch
        for i, ch in enumerate(json_text)
    )


def neutralize(text: str) -> str:
    """``text`` as it may be shown to a person: every hidden character removed, except
    newlines and tabs and the joiners between letters (see the module docstring)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch for i, ch in enumerate(text) if not _is_hidden(text, i, free_text=True))
