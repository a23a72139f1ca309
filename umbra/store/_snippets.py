"""Result snippets: a short piece of the description with the query words marked.

Made here rather than with FTS5's ``snippet()``: that function needs the MATCH evaluated again
for each hit, and for a broad prefix query that means decoding large doclists twenty times.
Matching folds case and diacritics like the ``unicode61 remove_diacritics 2`` tokenizer, so
"cafe" marks "Café".
"""

import re
import unicodedata

# Highlight markers. Control characters cannot occur in listing text (core rejects them), so a
# UI can escape the snippet as text and then turn these into <mark> tags safely.
SNIPPET_START = "\x02"
SNIPPET_END = "\x03"

SNIPPET_CHARS = 160
_MAX_SCAN_CHARS = 20_000
_MAX_MATCHES = 200
_WORD = r"[^\W_]"


def fold(text: str) -> str:
    """Lowercase and strip diacritics (é → e), keeping one character per character if it can."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.lower()


def plain_snippet(description: str) -> str:
    """The start of a description, cut at a word boundary."""
    text = " ".join(description[: SNIPPET_CHARS * 4].split())
    if len(text) <= SNIPPET_CHARS:
        return text
    cut = text.rfind(" ", 0, SNIPPET_CHARS)
    return text[: cut if cut > 0 else SNIPPET_CHARS] + "…"


def make_snippet(description: str, words: list[str], *, prefix_last: bool) -> str:
    """A window of the description around the densest run of query words, words marked.

    Args:
        description: the listing's description.
        words: the query words as typed (they are folded here).
        prefix_last: whether the last word also matches words it starts (as the search did).
    """
    text = " ".join(description[:_MAX_SCAN_CHARS].split())
    folded = fold(text)
    if len(folded) != len(text):  # rare expansions (e.g. ligatures): keep offsets aligned
        folded = text.lower()
        if len(folded) != len(text):
            return plain_snippet(description)
    alternatives = [re.escape(fold(word)) for word in words if word]
    if not alternatives:
        return plain_snippet(description)
    if prefix_last:
        alternatives[-1] += f"{_WORD}*"
    pattern = re.compile(f"(?<!{_WORD})(?:{'|'.join(alternatives)})(?!{_WORD})")
    spans = [m.span() for _, m in zip(range(_MAX_MATCHES), pattern.finditer(folded), strict=False)]
    if not spans:
        return plain_snippet(description)
    # The window (of SNIPPET_CHARS, starting at a match) that holds the most matches.
    best, best_count, last = 0, 0, 0
    for first in range(len(spans)):
        last = max(last, first)
        while last + 1 < len(spans) and spans[last + 1][1] - spans[first][0] <= SNIPPET_CHARS:
            last += 1
        if last - first + 1 > best_count:
            best, best_count = first, last - first + 1
    start = max(0, spans[best][0] - SNIPPET_CHARS // 4)
    if start > 0:
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 else 0
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > spans[best][1] else max(end, spans[best][1])
    pieces = ["…"] if start > 0 else []
    position = start
    for span_start, span_end in spans:
        if span_start < start or span_end > end:
            continue
        pieces += [text[position:span_start], SNIPPET_START, text[span_start:span_end], SNIPPET_END]
        position = span_end
    pieces.append(text[position:end])
    if end < len(text):
        pieces.append("…")
    return "".join(pieces)
