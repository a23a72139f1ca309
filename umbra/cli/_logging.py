"""How `umbra node` logs: bounded in size and rate, one line per event, no peer addresses.

A node's log is written partly by what remote peers do, so a peer must not be able to fill
the disk, flood the log, or make it a record of who connected from where:

- size: with ``--log-file`` the log rotates at ``max_bytes`` and keeps ``backups`` old files,
  so it never holds more than ``max_bytes * (backups + 1)`` bytes (plus one line);
- rate: each source line (logger and message template, whatever the peer or values) may
  write a burst of `RATE_BURST` lines, then `RATE_PER_S` a second; what it could not write
  is counted and noted on its next line ("… similar lines suppressed");
- shape: one line per record; a traceback becomes "(ErrorType: first line)";
- privacy: IPv4 and IPv6 addresses (also inside multiaddrs) and /dns names become "<ip>" and
  "<host>".

- source: only Umbra's own events. Libraries (py-libp2p, multiaddr, trio, hypercorn, …) log
  what a remote peer does to them ("Failed to read DHT message from stream:" each time a
  peer hangs up mid-message), which tells a user nothing: their records are held back and
  counted, and one line an hour per library says how many were ("… --debug shows them").
  Records that a library cut off from the root logger (py-libp2p does so when imported)
  still come here, never bare onto stderr, and so do Python's ``warnings``.

Debugging (``umbra node --debug`` or ``UMBRA_DEBUG=1``) keeps addresses and full tracebacks
and lets the libraries' warnings through. The pure parts (`redact_addresses`,
`RepeatLimiter`, `LibraryFilter`) take their inputs, including the time, as arguments.
"""

import io
import ipaddress
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_BACKUPS = 3
RATE_BURST = 100.0
RATE_PER_S = 1.0
RATE_MAX_SOURCES = 1024
LIBRARY_NOTE_EVERY_S = 3600.0
OWN_LOGGER = "umbra"
DEBUG_ENV = "UMBRA_DEBUG"

_IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?:%[\w-]+)?(?![\w:]|\.\d)"
)
_IPV4_CANDIDATE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)")
_DNS_COMPONENT = re.compile(r"/(dns|dns4|dns6|dnsaddr)/[^/\s'\",)\]]+")


def debugging_from_env(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(DEBUG_ENV, "")
    return value not in ("", "0")


def redact_addresses(text: str) -> str:
    """``text`` with every IP address (v4, v6, v4-mapped, with zone) and /dns name replaced."""
    text = _DNS_COMPONENT.sub(lambda m: f"/{m.group(1)}/<host>", text)
    text = _IPV6_CANDIDATE.sub(_replace_if_ip, text)
    return _IPV4_CANDIDATE.sub(_replace_if_ip, text)


def _replace_if_ip(match: re.Match[str]) -> str:
    candidate = match.group(0)
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return candidate  # e.g. a time of day "10:08:02" or a version "1.2.3.4567"
    return "<ip>"


@dataclass
class _Source:
    tokens: float
    updated: float
    suppressed: int = 0


class RepeatLimiter:
    """Per-source token buckets: may a line from ``source`` be written at time ``now``?"""

    def __init__(
        self,
        *,
        burst: float = RATE_BURST,
        rate: float = RATE_PER_S,
        max_sources: int = RATE_MAX_SOURCES,
    ) -> None:
        self._burst = burst
        self._rate = rate
        self._max_sources = max_sources
        self._sources: dict[object, _Source] = {}

    def allow_at(self, source: object, now: float) -> tuple[bool, int]:
        """(write it?, lines of this source suppressed since its last written line)."""
        state = self._sources.get(source)
        if state is None:
            if len(self._sources) >= self._max_sources:
                # Forget the oldest source: it starts again with a full burst, which bounds
                # the rate by max_sources * rate at worst, never the memory.
                self._sources.pop(next(iter(self._sources)))
            state = self._sources[source] = _Source(self._burst, now)
        if now > state.updated:
            state.tokens = min(self._burst, state.tokens + (now - state.updated) * self._rate)
            state.updated = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            suppressed, state.suppressed = state.suppressed, 0
            return True, suppressed
        state.suppressed += 1
        return False, 0


class RateLimitFilter(logging.Filter):
    """Drops a record whose source line is over its rate; notes the count on the next one."""

    def __init__(self, limiter: RepeatLimiter, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self._limiter = limiter
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        source = (record.name, record.levelno, str(record.msg))
        allowed, suppressed = self._limiter.allow_at(source, self._clock())
        record.umbra_suppressed = suppressed
        return allowed


def _is_own(name: str) -> bool:
    return name == OWN_LOGGER or name.startswith(OWN_LOGGER + ".")


class LibraryFilter(logging.Filter):
    """Lets Umbra's own records through; holds back the libraries' (see the module docstring).

    A library's records below WARNING never pass (some libraries set DEBUG on their own
    loggers). When not debugging, its warnings and errors are counted instead, and the first
    one, then at most one every ``note_every`` seconds, is replaced by a note of how many
    were held back since the last note.
    """

    def __init__(
        self,
        *,
        debug: bool,
        note_every: float = LIBRARY_NOTE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._debug = debug
        self._note_every = note_every
        self._clock = clock
        self._held: dict[str, int] = {}  # library -> records held since its last note
        self._noted_at: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if _is_own(record.name):
            return True
        if record.levelno < logging.WARNING:
            return False
        if self._debug:
            return True
        # Keyed by the top-level package: as many entries as libraries installed, no more.
        library = "py.warnings" if record.name == "py.warnings" else record.name.split(".")[0]
        held = self._held.get(library, 0) + 1
        now = self._clock()
        noted_at = self._noted_at.get(library)
        if noted_at is not None and now - noted_at < self._note_every:
            self._held[library] = held
            return False
        self._noted_at[library] = now
        self._held[library] = 0
        _make_note(record, library, held)
        return True


def _make_note(record: logging.LogRecord, library: str, held: int) -> None:
    """Turn a library's record into Umbra's note about it (its own text is not kept)."""
    record.name = f"{OWN_LOGGER}.logging"
    record.levelno, record.levelname = logging.INFO, "INFO"
    record.msg = "%d warning(s) from the library %r not shown (--debug or UMBRA_DEBUG=1 shows them)"
    record.args = (held, library)
    record.exc_info, record.exc_text, record.stack_info = None, None, None


class OneLineFormatter(logging.Formatter):
    """``time LEVEL logger: message``, on one line; addresses redacted unless debugging."""

    def __init__(self, *, debug: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._debug = debug

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} (unformattable: {type(exc).__name__})"
        trace = ""
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            if self._debug:
                trace = "\n" + self.formatException(record.exc_info)
            else:
                first = (str(error).strip().splitlines() or [""])[0]
                message += f" ({type(error).__name__}: {first})"
        suppressed = getattr(record, "umbra_suppressed", 0)
        if suppressed:
            message += f" ({suppressed} similar lines suppressed)"
        if not self._debug:
            message = redact_addresses(message)
        message = message.replace("\r", " ").replace("\n", " | ")
        head = f"{self.formatTime(record)} {record.levelname} {record.name}: "
        return head + message + trace


class _OwnerOnlyRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates the log file (and each new one after a rotation) readable by the owner only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(
    verbose: bool,
    *,
    debug: bool | None = None,
    log_file: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
) -> None:
    """Route the process's logs to stderr, or to a rotating ``log_file``, with the rules above.

    Args:
        verbose: log what the node does (INFO), not only warnings.
        debug: keep addresses and tracebacks; None: from the ``UMBRA_DEBUG`` variable.
        log_file: write here (owner-only), rotating at ``max_bytes`` with ``backups`` old files.
    """
    if debug is None:
        debug = debugging_from_env()
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = _OwnerOnlyRotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    handler.setFormatter(OneLineFormatter(debug=debug))
    handler.addFilter(LibraryFilter(debug=debug))
    handler.addFilter(RateLimitFilter(RepeatLimiter()))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    # py-libp2p, when imported (often after this), clears its logger's handlers and stops it
    # propagating: its records would then go to `logging.lastResort`, bare onto stderr.
    logging.lastResort = handler
    libp2p = logging.getLogger("libp2p")
    libp2p.setLevel(logging.WARNING)
    libp2p.handlers.clear()
    libp2p.propagate = True
    logging.captureWarnings(True)  # Python warnings become records of "py.warnings"
    logging.getLogger(OWN_LOGGER).setLevel(logging.INFO if verbose else logging.WARNING)
