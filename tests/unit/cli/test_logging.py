"""Node log hygiene: addresses redacted, one line per record, repeated lines rate-limited."""

import logging
import sys
from pathlib import Path

import pytest

from umbra.cli._logging import (
    LibraryFilter,
    OneLineFormatter,
    RateLimitFilter,
    RepeatLimiter,
    debugging_from_env,
    redact_addresses,
    setup_logging,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cannot reach /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW",
            "cannot reach /ip4/<ip>/tcp/4001/p2p/12D3KooW",
        ),
        ("from ('198.51.100.1', 51234)", "from ('<ip>', 51234)"),
        ("/ip6/2001:db8::1/tcp/4001", "/ip6/<ip>/tcp/4001"),
        ("at fe80::1%eth0 now", "at <ip> now"),
        ("mapped ::ffff:192.0.2.1!", "mapped <ip>!"),
        ("loopback ::1 and 127.0.0.1", "loopback <ip> and <ip>"),
        ("ends at ::1. Then 10.0.0.1.", "ends at <ip>. Then <ip>."),
        ("full 2001:0db8:0000:0000:0000:ff00:0042:8329", "full <ip>"),
        ("/dns4/seed.example.org/tcp/4001", "/dns4/<host>/tcp/4001"),
        # Not addresses: kept as they are.
        ("at 10:08:02 seq 3", "at 10:08:02 seq 3"),
        ("version 1.2.3 and 999.1.1.1 and 1.2.3.4.5", "version 1.2.3 and 999.1.1.1 and 1.2.3.4.5"),
        (
            "seller a1b2c3d4e5f6 peer 12D3KooWSwLoNfEm9Y",
            "seller a1b2c3d4e5f6 peer 12D3KooWSwLoNfEm9Y",
        ),
    ],
)
def test_redact_addresses(text: str, expected: str) -> None:
    assert redact_addresses(text) == expected


def test_repeat_limiter_burst_then_rate_per_source() -> None:
    limiter = RepeatLimiter(burst=3, rate=0.5, max_sources=8)
    assert [limiter.allow_at("a", 0.0)[0] for _ in range(4)] == [True, True, True, False]
    assert limiter.allow_at("b", 0.0) == (True, 0)  # another source has its own burst
    assert limiter.allow_at("a", 1.0) == (False, 0)  # half a token
    assert limiter.allow_at("a", 2.0) == (True, 2)  # one token; two lines were dropped
    assert limiter.allow_at("a", 2.0) == (False, 0)


def test_repeat_limiter_memory_is_bounded() -> None:
    limiter = RepeatLimiter(burst=1, rate=0.0, max_sources=2)
    assert limiter.allow_at("a", 0.0)[0] and limiter.allow_at("b", 0.0)[0]
    assert not limiter.allow_at("a", 0.0)[0]
    assert limiter.allow_at("c", 0.0)[0]  # "a" is forgotten to make room
    assert limiter.allow_at("a", 0.0)[0]


def _record(
    msg: str, *args: object, name: str = "umbra.net._node", exc: bool = False
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad frame from 203.0.113.9\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, exc_info)


def test_formatter_one_line_without_addresses_or_traceback() -> None:
    line = OneLineFormatter(debug=False).format(
        _record("peer at %s said:\n  %s", "/ip4/203.0.113.9/tcp/1", "na", exc=True)
    )
    assert "\n" not in line and "203.0.113.9" not in line
    assert "peer at /ip4/<ip>/tcp/1 said: |   na (ValueError: bad frame from <ip>)" in line
    assert "Traceback" not in line


def test_formatter_keeps_everything_when_debugging() -> None:
    text = OneLineFormatter(debug=True).format(_record("at %s", "203.0.113.9", exc=True))
    assert "at 203.0.113.9" in text and "Traceback" in text


def test_rate_limit_filter_notes_the_suppressed_lines() -> None:
    now = [0.0]
    flt = RateLimitFilter(RepeatLimiter(burst=2, rate=1.0), clock=lambda: now[0])
    records = [_record("refused %s", f"peer{n}") for n in range(5)]
    assert [flt.filter(r) for r in records] == [True, True, False, False, False]
    now[0] = 1.0
    later = _record("refused %s", "peer9")
    assert flt.filter(later)
    assert (
        OneLineFormatter(debug=False)
        .format(later)
        .endswith("refused peer9 (3 similar lines suppressed)")
    )


def _library_record(
    name: str, level: int = logging.WARNING, msg: str = "x %s"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, "", 1, msg, ("",), None)


def test_library_filter_keeps_own_records_and_notes_library_warnings_hourly() -> None:
    now = [100.0]
    flt = LibraryFilter(debug=False, note_every=3600, clock=lambda: now[0])
    own = _library_record("umbra.net._node", logging.INFO)
    assert flt.filter(own) and own.getMessage() == "x "
    assert not flt.filter(_library_record("libp2p.network.auto_connector", logging.INFO))
    # The first warning of a library becomes a note that says so, without its text.
    first = _library_record(
        "libp2p.kad_dht.kad_dht", msg="Failed to read DHT message from stream: %s"
    )
    assert flt.filter(first)
    assert first.name == "umbra.logging" and first.levelno == logging.INFO
    assert "Failed to read" not in first.getMessage()
    assert first.getMessage().startswith("1 warning(s) from the library 'libp2p' not shown")
    # Within the hour: held back and counted (per library); then one note with the count.
    for _ in range(40):
        assert not flt.filter(_library_record("libp2p.kad_dht.kad_dht"))
    assert flt.filter(_library_record("trio")), "another library gets its own first note"
    now[0] += 3600
    note = _library_record("libp2p.host", logging.ERROR)
    assert flt.filter(note) and note.getMessage().startswith("41 warning(s) from the library")
    assert "libp2pish" in _note_of(flt, "libp2pish.x"), "a prefix is not the same library"


def _note_of(flt: LibraryFilter, name: str) -> str:
    record = _library_record(name)
    assert flt.filter(record)
    return record.getMessage()


def test_library_filter_lets_library_warnings_through_when_debugging() -> None:
    flt = LibraryFilter(debug=True, clock=lambda: 0.0)
    for _ in range(3):
        record = _library_record("libp2p.kad_dht.kad_dht", msg="Failed to read DHT message: %s")
        assert flt.filter(record) and record.name == "libp2p.kad_dht.kad_dht"
    assert not flt.filter(_library_record("libp2p.kad_dht.kad_dht", logging.DEBUG))


def test_records_of_a_library_cut_off_from_the_root_reach_the_log(tmp_path: Path) -> None:
    """py-libp2p's import sets propagate=False on its logger: its records must not go bare to
    stderr (logging.lastResort) but through the log's filters."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("umbra").level)
    saved_last_resort = logging.lastResort
    cut_off = logging.getLogger("somelib")
    path = tmp_path / "node.log"
    try:
        setup_logging(False, debug=False, log_file=path)
        cut_off.propagate = False
        for _ in range(5):
            cut_off.warning("Failed to read DHT message from stream: %s", "")
    finally:
        cut_off.propagate = True
        for handler in root.handlers[len(saved[0]) :]:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("umbra").setLevel(saved[2])
        logging.lastResort = saved_last_resort
        logging.captureWarnings(False)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and "umbra.logging: 1 warning(s) from the library 'somelib'" in lines[0]


def test_debug_switch_from_the_environment() -> None:
    assert debugging_from_env({"UMBRA_DEBUG": "1"})
    assert not debugging_from_env({"UMBRA_DEBUG": "0"}) and not debugging_from_env({})


def test_log_file_rotates_within_its_bound_and_is_owner_only(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("umbra").level)
    path = tmp_path / "logs" / "node.log"
    try:
        setup_logging(True, debug=False, log_file=path, max_bytes=4096, backups=2)
        log = logging.getLogger("umbra.test_logging")
        for n in range(300):  # 300 distinct sources, so none is rate-limited
            log.warning(f"line {n} from 198.51.100.{n % 250} " + "x" * 60)
    finally:
        for handler in root.handlers[len(saved[0]) :]:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("umbra").setLevel(saved[2])
        logging.lastResort = logging._defaultLastResort  # type: ignore[attr-defined]
        logging.captureWarnings(False)
    files = sorted(tmp_path.glob("logs/node.log*"))
    assert [f.name for f in files] == ["node.log", "node.log.1", "node.log.2"]
    assert all(f.stat().st_size <= 4096 for f in files)
    assert (path.stat().st_mode & 0o777) == 0o600
    text = "".join(f.read_text() for f in files)
    assert "198.51.100." not in text and "<ip>" in text
