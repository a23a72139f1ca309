"""Tor's control-port protocol (tor's control-spec.txt, section 2), sans-IO.

`ControlReplyParser` is fed the bytes tor sends and hands out whole `Reply` values: a status
code and its lines; a ``250+key=`` line carries a data block (dot-terminated, dot-escaped)
and ``6xx`` replies are asynchronous events. Lines and replies are size-limited and every
byte is scanned once. The helpers below quote command arguments and split the
``KEY=VALUE`` / ``KEY="quoted"`` text that PROTOCOLINFO, GETINFO and events carry.
"""

from dataclasses import dataclass

from ._errors import TorError, TorProtocolError

MAX_LINE = 16 * 1024  # tor's own replies to our commands are far shorter
MAX_REPLY = 512 * 1024


@dataclass(frozen=True)
class ReplyLine:
    status: int
    text: str  # after the status code and separator, decoded (undecodable bytes escaped)
    data: bytes | None = None  # the data block of a ``+`` line, unescaped, CRLF line ends


@dataclass(frozen=True)
class Reply:
    status: int
    lines: tuple[ReplyLine, ...]

    @property
    def is_event(self) -> bool:
        return 600 <= self.status < 700

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def summary(self) -> str:
        """One line for error messages: the status and the last line's text."""
        return f"{self.status} {self.lines[-1].text}"[:300]


class ControlReplyParser:
    """Bytes from tor's control port in, `Reply` values out (in any split of the bytes).

    Raises `TorProtocolError` (and keeps raising it) for anything that is not a well-formed
    reply, or a line longer than ``max_line`` or a reply larger than ``max_reply`` bytes.
    """

    def __init__(self, *, max_line: int = MAX_LINE, max_reply: int = MAX_REPLY) -> None:
        self._max_line = max_line
        self._max_reply = max_reply
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already searched for LF
        self._lines: list[ReplyLine] = []
        self._reply_size = 0
        self._data_head: tuple[int, str] | None = None  # the ``+`` line whose block we read
        self._data = bytearray()
        self._replies: list[Reply] = []
        self._failure: TorProtocolError | None = None
        self.bytes_scanned = 0  # for tests: work done is bounded by the input's size

    def receive_data(self, data: bytes) -> None:
        if self._failure is not None:
            raise self._failure
        self._buffer += data
        try:
            self._parse()
        except TorProtocolError as exc:
            self._failure = exc
            raise

    def next_reply(self) -> Reply | None:
        """The oldest whole reply not yet handed out, or ``None``."""
        return self._replies.pop(0) if self._replies else None

    def _parse(self) -> None:
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                self.bytes_scanned += len(self._buffer) - self._scanned
                self._scanned = len(self._buffer)
                if len(self._buffer) > self._max_line:
                    raise TorProtocolError(f"control reply line over {self._max_line} bytes")
                return
            self.bytes_scanned += newline + 1 - self._scanned
            line = bytes(self._buffer[: newline + 1])
            del self._buffer[: newline + 1]
            self._scanned = 0
            if len(line) > self._max_line:
                raise TorProtocolError(f"control reply line over {self._max_line} bytes")
            if not line.endswith(b"\r\n"):
                raise TorProtocolError("control reply line not ended by CRLF")
            self._reply_size += len(line)
            if self._reply_size > self._max_reply:
                raise TorProtocolError(f"control reply over {self._max_reply} bytes")
            self._on_line(line[:-2])

    def _on_line(self, line: bytes) -> None:
        if self._data_head is not None:
            if line == b".":
                status, text = self._data_head
                self._lines.append(ReplyLine(status, text, bytes(self._data)))
                self._data_head = None
                self._data.clear()
            else:  # a leading dot is doubled on the wire
                self._data += (line[1:] if line.startswith(b".") else line) + b"\r\n"
            return
        if len(line) < 4 or not line[:3].isdigit() or line[0:1] == b"0":
            raise TorProtocolError(f"bad control reply line {line[:40]!r}")
        status = int(line[:3])
        separator = line[3:4]
        text = line[4:].decode("utf-8", "surrogateescape")
        if self._lines and status != self._lines[0].status:
            raise TorProtocolError(f"status {status} inside a {self._lines[0].status} reply")
        if separator == b"-":
            self._lines.append(ReplyLine(status, text))
        elif separator == b"+":
            self._data_head = (status, text)
        elif separator == b" ":
            self._lines.append(ReplyLine(status, text))
            self._replies.append(Reply(status, tuple(self._lines)))
            self._lines = []
            self._reply_size = 0
        else:
            raise TorProtocolError(f"bad control reply separator {separator!r}")


def quote(value: str) -> str:
    r"""A control-spec QuotedString: ``"`` + value with ``\`` and ``"`` escaped + ``"``.

    Raises:
        TorError: the value holds CR, LF or NUL (they could smuggle a second command).
    """
    check_argument(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_argument(value: str) -> str:
    """Refuse text that would end a command line early or smuggle another command."""
    if any(c in value for c in "\r\n\0"):
        raise TorError(f"refusing to send a control argument with a line break: {value[:40]!r}")
    return value


def check_token(value: str) -> str:
    """A bare argument: printable ASCII without spaces or quotes (keys, ids, ports)."""
    if not value or not all(0x21 <= ord(c) < 0x7F and c not in '"\\' for c in value):
        raise TorError(f"bad control argument {value[:40]!r}")
    return value


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def parse_keywords(text: str) -> tuple[list[str], dict[str, str]]:
    r"""Split ``WORD WORD KEY=VALUE KEY="quoted \"string\""`` into words and a mapping.

    Positional words come before the first ``KEY=``; quoted values are unescaped (C escapes,
    ``\ooo`` octal). A key given twice keeps its first value.

    Raises:
        TorProtocolError: an unterminated quote or a bad escape.
    """
    words: list[str] = []
    values: dict[str, str] = {}
    position, end = 0, len(text)
    while position < end:
        if text[position] == " ":
            position += 1
            continue
        space = text.find(" ", position)
        token_end = end if space < 0 else space
        equals = text.find("=", position, token_end)
        if equals < 0:
            words.append(text[position:token_end])
            position = token_end
            continue
        key = text[position:equals]
        position = equals + 1
        if position < end and text[position] == '"':
            value, position = _unquote(text, position)
        else:
            space = text.find(" ", position)
            value_end = end if space < 0 else space
            value, position = text[position:value_end], value_end
        values.setdefault(key, value)
    return words, values


def _unquote(text: str, start: int) -> tuple[str, int]:
    """The quoted string at ``text[start]`` (a ``"``), and the index after its closing quote."""
    out: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(out), position + 1
        if char != "\\":
            out.append(char)
            position += 1
            continue
        escape = text[position + 1 : position + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            position += 2
        elif escape.isdigit() and escape < "8":
            digits = escape
            while len(digits) < 3:
                following = text[position + 1 + len(digits) : position + 2 + len(digits)]
                if not following or following not in "01234567":
                    break
                digits += following
            out.append(chr(int(digits, 8)))
            position += 1 + len(digits)
        else:
            bad = text[position : position + 4]
            raise TorProtocolError(f"bad escape in a quoted control string: {bad!r}")
    raise TorProtocolError("unterminated quoted string in a control reply")


def parse_quoted_list(text: str) -> list[str]:
    """``"a" "b c"`` (space-separated QuotedStrings, as GETINFO net/listeners/* gives)."""
    items: list[str] = []
    position = 0
    while position < len(text):
        if text[position] == " ":
            position += 1
        elif text[position] == '"':
            item, position = _unquote(text, position)
            items.append(item)
        else:
            raise TorProtocolError(f"expected a quoted string in {text[:60]!r}")
    return items
