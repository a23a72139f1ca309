"""The mailbox peer's store: TTL, quotas, caps, acknowledgement, persistence."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.net.messaging import MailboxLimits, MailboxRefused, MailboxStore, envelope_id
from umbra.store import Database

NOW = 1_700_000_000
BOX = bytes(32)
OTHER_BOX = b"\x01" * 32


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "m.db", b"k" * 32, create=True)
    yield database
    database.close()


def store(db: Database, **limits: int) -> MailboxStore:
    return MailboxStore(db, MailboxLimits(**limits))


def test_put_fetch_ack(db: Database) -> None:
    s = store(db)
    eid = s.put_at(BOX, b"sealed-1", depositor="peerA", ttl=3600, now=NOW)
    assert eid == envelope_id(b"sealed-1")
    s.put_at(BOX, b"sealed-2", depositor="peerA", ttl=3600, now=NOW + 1)
    held = s.fetch_at(BOX, now=NOW + 2)
    assert [h.envelope for h in held] == [b"sealed-1", b"sealed-2"]
    assert s.fetch_at(OTHER_BOX, now=NOW + 2) == []
    # Fetching does not delete; acknowledging does, and only in that mailbox.
    assert len(s.fetch_at(BOX, now=NOW + 3)) == 2
    assert s.ack(OTHER_BOX, [eid]) == 0
    assert s.ack(BOX, [eid, b"\x00" * 32]) == 1
    assert [h.envelope for h in s.fetch_at(BOX, now=NOW + 4)] == [b"sealed-2"]
    assert s.ack(BOX, []) == 0


def test_same_envelope_twice_is_one(db: Database) -> None:
    s = store(db)
    s.put_at(BOX, b"e", depositor="a", ttl=3600, now=NOW)
    s.put_at(BOX, b"e", depositor="b", ttl=3600, now=NOW + 5)
    assert len(s.fetch_at(BOX, now=NOW + 6)) == 1
    assert s.statistics_at(NOW + 6).envelopes == 1


def test_ttl_expiry_and_purge(db: Database) -> None:
    s = store(db)
    s.put_at(BOX, b"short", depositor="a", ttl=60, now=NOW)
    s.put_at(BOX, b"long", depositor="a", ttl=7200, now=NOW)
    assert len(s.fetch_at(BOX, now=NOW + 59)) == 2
    assert [h.envelope for h in s.fetch_at(BOX, now=NOW + 60)] == [b"long"]
    assert s.purge_at(NOW + 60) == 1
    assert s.purge_at(NOW + 7200) == 1
    assert s.statistics_at(NOW).envelopes == 0


def test_ttl_is_clamped(db: Database) -> None:
    s = store(db, min_ttl=60, max_ttl=1000)
    s.put_at(BOX, b"zero", depositor="a", ttl=0, now=NOW)
    s.put_at(BOX, b"huge", depositor="a", ttl=10**9, now=NOW)
    expiries = {h.envelope: h.expires_at for h in s.fetch_at(BOX, now=NOW)}
    assert expiries == {b"zero": NOW + 60, b"huge": NOW + 1000}


def test_size_caps(db: Database) -> None:
    s = store(db, max_envelope_bytes=100)
    with pytest.raises(MailboxRefused) as err:
        s.put_at(BOX, b"x" * 101, depositor="a", ttl=60, now=NOW)
    assert err.value.reason == "too-large"
    with pytest.raises(MailboxRefused):
        s.put_at(BOX, b"", depositor="a", ttl=60, now=NOW)
    with pytest.raises(MailboxRefused) as err:
        s.put_at(b"short", b"x", depositor="a", ttl=60, now=NOW)
    assert err.value.reason == "bad-mailbox"
    s.put_at(BOX, b"x" * 100, depositor="a", ttl=60, now=NOW)


def test_per_mailbox_quota(db: Database) -> None:
    s = store(db, per_mailbox_envelopes=2)
    s.put_at(BOX, b"1", depositor="a", ttl=60, now=NOW)
    s.put_at(BOX, b"2", depositor="b", ttl=60, now=NOW)
    with pytest.raises(MailboxRefused) as err:
        s.put_at(BOX, b"3", depositor="c", ttl=60, now=NOW)
    assert err.value.reason == "mailbox-full"
    s.put_at(OTHER_BOX, b"3", depositor="c", ttl=60, now=NOW)  # other mailboxes unaffected
    # Nothing was evicted, and space comes back with an ack or an expiry.
    assert len(s.fetch_at(BOX, now=NOW)) == 2
    s.ack(BOX, [envelope_id(b"1")])
    s.put_at(BOX, b"3", depositor="c", ttl=60, now=NOW)
    s.put_at(OTHER_BOX, b"4", depositor="c", ttl=60, now=NOW + 61)  # earlier ones expired


def test_per_mailbox_bytes(db: Database) -> None:
    s = store(db, per_mailbox_bytes=10)
    s.put_at(BOX, b"x" * 6, depositor="a", ttl=60, now=NOW)
    with pytest.raises(MailboxRefused):
        s.put_at(BOX, b"y" * 5, depositor="a", ttl=60, now=NOW)
    s.put_at(BOX, b"y" * 4, depositor="a", ttl=60, now=NOW)


def test_per_depositor_quota(db: Database) -> None:
    s = store(db, per_depositor_envelopes=2, per_depositor_bytes=1000)
    boxes = [bytes([i]) * 32 for i in range(4)]
    s.put_at(boxes[0], b"1", depositor="flooder", ttl=60, now=NOW)
    s.put_at(boxes[1], b"2", depositor="flooder", ttl=60, now=NOW)
    with pytest.raises(MailboxRefused) as err:
        s.put_at(boxes[2], b"3", depositor="flooder", ttl=60, now=NOW)
    assert err.value.reason == "quota"
    s.put_at(boxes[2], b"3", depositor="honest", ttl=60, now=NOW)


def test_total_cap(db: Database) -> None:
    s = store(db, total_bytes=10)
    s.put_at(BOX, b"x" * 8, depositor="a", ttl=60, now=NOW)
    with pytest.raises(MailboxRefused) as err:
        s.put_at(OTHER_BOX, b"y" * 3, depositor="b", ttl=60, now=NOW)
    assert err.value.reason == "full"


def test_fetch_limit(db: Database) -> None:
    s = store(db, max_fetch=3)
    for i in range(5):
        s.put_at(BOX, bytes([i + 1]), depositor="a", ttl=60, now=NOW + i)
    assert len(s.fetch_at(BOX, now=NOW + 5)) == 3
    assert len(s.fetch_at(BOX, now=NOW + 5, limit=2)) == 2
    assert len(s.fetch_at(BOX, now=NOW + 5, limit=100)) == 3


def test_persisted(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Database.open(path, b"k" * 32, create=True) as db:
        MailboxStore(db).put_at(BOX, b"kept", depositor="a", ttl=3600, now=NOW)
    with Database.open(path, b"k" * 32) as db:
        assert [h.envelope for h in MailboxStore(db).fetch_at(BOX, now=NOW)] == [b"kept"]
