"""The sans-IO control-port reply parser and the argument/keyword helpers."""

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umbra.net.tor import (
    ControlReplyParser,
    Reply,
    ReplyLine,
    TorError,
    TorProtocolError,
    parse_keywords,
    quote,
    read_torrc_lines,
)
from umbra.net.tor._control_protocol import check_token, parse_quoted_list


def _parse_all(chunks: list[bytes], **limits: int) -> list[Reply]:
    parser = ControlReplyParser(**limits)
    replies = []
    for chunk in chunks:
        parser.receive_data(chunk)
        while (reply := parser.next_reply()) is not None:
            replies.append(reply)
    return replies


def test_a_getinfo_reply_with_a_data_block_and_an_event() -> None:
    wire = (
        b"250-version=0.4.9.11\r\n"
        b"250+config-text=\r\n"
        b"SocksPort auto\r\n"
        b"..hidden dot\r\n"
        b".\r\n"
        b"250 OK\r\n"
        b'650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"\r\n'
    )
    first, event = _parse_all([wire])
    assert first == Reply(
        250,
        (
            ReplyLine(250, "version=0.4.9.11"),
            ReplyLine(250, "config-text=", b"SocksPort auto\r\n.hidden dot\r\n"),
            ReplyLine(250, "OK"),
        ),
    )
    assert first.ok and not first.is_event
    assert event.is_event and event.lines[0].text.startswith("STATUS_CLIENT NOTICE")


@pytest.mark.parametrize(
    "wire",
    [
        b"25 OK\r\n",  # two digits
        b"abc OK\r\n",
        b"250OK\r\n",  # no separator... 'O' is not one
        b"250 OK\n",  # LF without CR
        b"250-a\r\n251 b\r\n",  # status changes inside one reply
        b"099 x\r\n",
    ],
)
def test_malformed_lines_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(TorProtocolError):
        _parse_all([wire])


def test_limits_on_lines_and_replies_hold_even_without_a_line_end() -> None:
    with pytest.raises(TorProtocolError, match="line over 64"):
        _parse_all([b"250-" + b"x" * 100], max_line=64)
    with pytest.raises(TorProtocolError, match="reply over 100"):
        _parse_all([b"250-xxxxxxxx\r\n" * 20], max_reply=100)
    parser = ControlReplyParser(max_line=64)
    with pytest.raises(TorProtocolError):
        parser.receive_data(b"250 " + b"y" * 70)
    with pytest.raises(TorProtocolError):  # a broken parser stays broken
        parser.receive_data(b"\r\n")


def test_keywords_words_and_quoted_values() -> None:
    words, values = parse_keywords(
        r'AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/a \"b\"\\c\303\251" X=1 X=2'
    )
    assert words == ["AUTH"]
    assert values == {
        "METHODS": "COOKIE,SAFECOOKIE",
        "COOKIEFILE": '/var/a "b"\\c\u00c3\u00a9',
        "X": "1",
    }
    assert parse_quoted_list('"127.0.0.1:9050" "unix:/run/a b"') == [
        "127.0.0.1:9050",
        "unix:/run/a b",
    ]
    for bad in ['K="open', r'K="\q"']:
        with pytest.raises(TorProtocolError):
            parse_keywords(bad)


def test_quoting_refuses_line_breaks_that_would_smuggle_a_command() -> None:
    assert quote('a "b" \\c') == '"a \\"b\\" \\\\c"'
    for bad in ["a\r\nSIGNAL HALT", "a\nb", "a\0"]:
        with pytest.raises(TorError):
            quote(bad)
    for bad in ["", "a b", 'a"', "é"]:
        with pytest.raises(TorError):
            check_token(bad)


@given(st.text(max_size=200))
def test_quote_round_trips_through_the_keyword_parser(value: str) -> None:
    if any(c in value for c in "\r\n\0"):
        return
    assert parse_keywords("K=" + quote(value))[1] == {"K": value}


def _outcome(chunks: list[bytes]) -> tuple[str, list[Reply]]:
    parser = ControlReplyParser(max_line=256, max_reply=2048)
    replies: list[Reply] = []
    try:
        for chunk in chunks:
            parser.receive_data(chunk)
            while (reply := parser.next_reply()) is not None:
                replies.append(reply)
    except TorProtocolError as exc:
        # The whole replies before the bad byte still come out, however the bytes came in.
        while (reply := parser.next_reply()) is not None:
            replies.append(reply)
        return f"error {exc}", replies
    return "ok", replies


_line = st.builds(
    lambda status, sep, text: f"{status}{sep}{text}\r\n".encode(),
    st.sampled_from(["250", "650", "552"]),
    st.sampled_from(["-", " ", "+"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
_wireish = st.lists(st.one_of(_line, st.binary(max_size=20), st.just(b".\r\n")), max_size=30)


@given(pieces=_wireish, cuts=st.lists(st.integers(0, 2000)))
def test_any_bytes_in_any_split_give_the_same_replies_and_only_our_error(
    pieces: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(pieces)
    whole = _outcome([data])
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    assert _outcome([data[a:b] for a, b in itertools.pairwise(points)]) == whole
    assert _outcome([bytes([b]) for b in data]) == whole


@given(st.binary(max_size=3000))
def test_work_is_bounded_by_the_input_size(data: bytes) -> None:
    parser = ControlReplyParser(max_line=256, max_reply=2048)
    try:
        for index in range(0, len(data), 7):
            parser.receive_data(data[index : index + 7])
    except TorProtocolError:
        pass
    # Each byte is searched for a line end once, however the input is split.
    assert parser.bytes_scanned <= len(data)


@given(st.text(max_size=300))
def test_keyword_parser_raises_only_its_own_error(text: str) -> None:
    try:
        parse_keywords(text)
        parse_quoted_list(text)
    except TorProtocolError:
        pass


def test_network_file_lines_are_read_strictly(tmp_path: Path) -> None:
    path = tmp_path / "tor-network"
    path.write_text("# private network\nTestingTorNetwork 1\n\nDirAuthority a 127.0.0.1:1 F\n")
    assert read_torrc_lines(path) == ["TestingTorNetwork 1", "DirAuthority a 127.0.0.1:1 F"]
    for bad in [b"A \x1b[31m", b"\xff\xfe", b"A \x00", b"x" * (64 * 1024 + 1)]:
        path.write_bytes(bad)
        with pytest.raises(TorError):
            read_torrc_lines(path)
    with pytest.raises(TorError, match="cannot read"):
        read_torrc_lines(tmp_path / "missing")
