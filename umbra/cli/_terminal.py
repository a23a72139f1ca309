"""The CLI's one output rule for text from other people: nothing invisible reaches a terminal.

`main` replaces ``sys.stdout`` and ``sys.stderr`` with `NeutralizingWriter`, so every line the
CLI prints (listings, messages, order notes, errors, logs) loses the invisible and
direction-changing characters (`umbra.core.neutralize`) at one place, whatever command printed
it. ``--json`` output keeps the data and writes those characters as ``\\uXXXX`` escapes
instead (`umbra.core.escape_hidden`, in ``emit``), so a script reads exactly what was sent.
"""

import io
from typing import TextIO

from umbra.core import neutralize


class NeutralizingWriter(io.TextIOBase):
    """A text stream that writes to ``inner`` with hidden characters removed."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes with b"" to find binary streams
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._inner.write(neutralize(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    @property
    def raw(self) -> TextIO:
        """The stream underneath, for output the CLI composes itself with control sequences
        (the progress bar's carriage return); whatever goes there is neutralized first."""
        return self._inner

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._inner.errors

    @property
    def buffer(self) -> io.BufferedIOBase:
        # Bytes (never user text in the CLI) go straight through, as click expects.
        return self._inner.buffer  # type: ignore[return-value]
