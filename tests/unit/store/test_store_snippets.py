from hypothesis import given
from hypothesis import strategies as st

from umbra.store import SNIPPET_END, SNIPPET_START
from umbra.store._snippets import SNIPPET_CHARS, fold, make_snippet, plain_snippet

S, E = SNIPPET_START, SNIPPET_END


def test_marks_words_case_and_diacritics_insensitively() -> None:
    snippet = make_snippet("A lovely Café in Paris. The CAFE is old.", ["cafe"], prefix_last=False)
    assert snippet == f"A lovely {S}Café{E} in Paris. The {S}CAFE{E} is old."


def test_prefix_only_for_the_last_word() -> None:
    text = "phone phones telephone photo"
    assert make_snippet(text, ["pho"], prefix_last=True) == (
        f"{S}phone{E} {S}phones{E} telephone {S}photo{E}"
    )
    assert make_snippet(text, ["phone"], prefix_last=False) == f"{S}phone{E} phones telephone photo"


def test_window_around_the_densest_matches() -> None:
    filler = " ".join(["filler"] * 100)
    text = f"{filler} nokia is here and nokia again {filler}"
    snippet = make_snippet(text, ["nokia"], prefix_last=False)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert snippet.count(S) == 2
    assert len(snippet) <= SNIPPET_CHARS + 10


def test_no_match_gives_the_start() -> None:
    assert make_snippet("hello world", ["zzz"], prefix_last=True) == "hello world"
    long = "word " * 100
    assert plain_snippet(long).endswith("…")
    assert len(plain_snippet(long)) <= SNIPPET_CHARS + 1


def test_fold() -> None:
    assert fold("ÉLÈVE Straße") == "eleve straße"


@given(st.text(max_size=400), st.lists(st.text(min_size=1, max_size=10), max_size=4), st.booleans())
def test_never_raises_and_markers_balance(text: str, words: list[str], prefix: bool) -> None:
    text = text.replace(S, "").replace(E, "")
    snippet = make_snippet(text, words, prefix_last=prefix)
    assert snippet.count(S) == snippet.count(E)
    assert snippet.replace(S, "").replace(E, "").strip("…") in " ".join(text.split())
