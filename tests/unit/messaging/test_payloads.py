"""Typed payloads: chunk format, the outbound queue, reassembly and the consumer queue."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from umbra.core import InvalidDocument, UsageError, encode_canonical
from umbra.net.messaging import (
    CHUNK_BYTES,
    MAX_BODY_BYTES,
    ChatPayload,
    Inbox,
    PayloadChunk,
    PayloadQueue,
    PayloadStore,
    ReassemblyLimits,
    parse_plaintext,
    split_payload,
)
from umbra.store import Database

NOW = 1_700_000_000
BOB = b"\xbb" * 32
CAROL = b"\xcc" * 32
ID = b"\x07" * 16


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "p.db", b"k" * 32, create=True)
    yield database
    database.close()


def _chunk_obj(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "v": 1, "id": ID, "kind": "trade", "sent": NOW, "part": 0, "parts": 1, "size": 3,
        "data": b"abc",
    }  # fmt: skip
    obj.update(changes)
    return obj


# -- the chunk format ------------------------------------------------------------------------------


def test_split_and_parse_round_trip() -> None:
    body = bytes(range(256)) * 1000  # 256,000 bytes: 5 chunks
    chunks = split_payload(ID, "trade", body, sent_at=NOW)
    assert [c.part for c in chunks] == list(range(5))
    assert all(len(c.data) == CHUNK_BYTES for c in chunks[:-1])
    parsed = [parse_plaintext(c.to_bytes()) for c in chunks]
    assert parsed == chunks
    assert b"".join(c.data for c in chunks) == body
    (empty,) = split_payload(ID, "trade", b"", sent_at=NOW)
    assert parse_plaintext(empty.to_bytes()) == empty


def test_chat_plaintext_still_parses_as_chat() -> None:
    chat = ChatPayload(ID, "o-1", "hello", NOW)
    assert parse_plaintext(chat.to_bytes()) == chat


@pytest.mark.parametrize(
    "changes",
    [
        {"v": 2},
        {"kind": "chat"},
        {"kind": "Trade"},
        {"kind": "x" * 17},
        {"kind": ""},
        {"id": b"short"},
        {"sent": -1},
        {"sent": True},
        {"part": 1},
        {"parts": 2},  # 3 bytes are one part
        {"size": 4},  # data does not match
        {"data": "abc"},
        {"size": MAX_BODY_BYTES + 1, "parts": 18},
        {"extra": 1},
    ],
)
def test_bad_chunks_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidDocument):
        parse_plaintext(encode_canonical(_chunk_obj(**changes)))


def test_missing_field_and_garbage_are_refused() -> None:
    obj = _chunk_obj()
    del obj["sent"]
    with pytest.raises(InvalidDocument):
        parse_plaintext(encode_canonical(obj))
    for garbage in (b"", b"\xff" * 10, encode_canonical([1, 2]), encode_canonical({"kind": 1})):
        with pytest.raises(InvalidDocument):
            parse_plaintext(garbage)


def test_bad_input_to_queue(db: Database) -> None:
    inbox = Inbox(db)
    with pytest.raises(UsageError):
        inbox.queue_payload_at(BOB, "chat", b"x", now=NOW)
    with pytest.raises(UsageError):
        inbox.queue_payload_at(BOB, "trade", b"x" * (MAX_BODY_BYTES + 1), now=NOW)
    with pytest.raises(UsageError):
        inbox.queue_payload_at(b"short", "trade", b"x", now=NOW)
    assert inbox.pending_at(NOW) == []


# -- sending ---------------------------------------------------------------------------------------


def test_queue_encrypt_send_chunks(db: Database) -> None:
    inbox = Inbox(db)
    chat = inbox.queue_at(BOB, "o-1", "first", now=NOW)
    body = b"\x01" * (CHUNK_BYTES + 10)
    msg_id = inbox.queue_payload_at(BOB, "trade", body, now=NOW + 1)
    items = inbox.pending_at(NOW + 1)
    # Oldest first: the chat message, then both chunks of the payload in order.
    assert [(i.msg_id, i.part) for i in items] == [(chat.msg_id, None), (msg_id, 0), (msg_id, 1)]
    chunks = [parse_plaintext(i.payload) for i in items[1:]]
    assert all(isinstance(c, PayloadChunk) for c in chunks)
    assert b"".join(c.data for c in chunks if isinstance(c, PayloadChunk)) == body

    status = inbox.payloads.outbound(msg_id)
    assert status is not None and (status.status, status.parts) == ("queued", 2)
    inbox.mark_encrypted(BOB, msg_id, b"env0", b"m" * 32, part=0)
    assert inbox.pending_at(NOW + 1)[1].envelope == b"env0"
    inbox.retry_at(BOB, msg_id, NOW + 50, part=1)
    assert [i.part for i in inbox.pending_at(NOW + 2)] == [None, 0]
    inbox.mark_sent(BOB, msg_id, "delivered", part=0)
    status = inbox.payloads.outbound(msg_id)
    assert status is not None and (status.status, status.sent_parts) == ("sending", 1)
    inbox.mark_sent(BOB, msg_id, "stored", part=1)
    inbox.mark_sent(BOB, msg_id, "stored", part=1)  # a repeat changes nothing
    status = inbox.payloads.outbound(msg_id)
    assert status is not None and (status.status, status.sent_parts) == ("stored", 2)
    assert [i.part for i in inbox.pending_at(NOW + 100)] == [None]


# -- receiving -------------------------------------------------------------------------------------


def test_single_chunk_payload_is_queued_once(db: Database) -> None:
    store, queue = PayloadStore(db), PayloadQueue(db)
    (chunk,) = split_payload(ID, "trade", b"order", sent_at=NOW - 3)
    assert store.record_chunk(BOB, chunk, now=NOW) == "queued"
    assert store.record_chunk(BOB, chunk, now=NOW + 1) == "duplicate"
    # The same id from another sender is another payload.
    assert store.record_chunk(CAROL, chunk, now=NOW + 2) == "queued"
    pending = queue.pending("trade", 10)
    assert [(p.sender, p.body, p.received_at, p.sent_at) for p in pending] == [
        (BOB, b"order", NOW, NOW - 3),
        (CAROL, b"order", NOW + 2, NOW - 3),
    ]
    assert queue.pending("other", 10) == []
    assert queue.pending("trade", 1) == pending[:1]

    # Consumed inside the consumer's own transaction: a rollback keeps it pending.
    def consume_then_fail() -> None:
        with db.transaction():
            queue.consume(pending[0].seq)
            raise RuntimeError("the consumer's state change failed")

    with pytest.raises(RuntimeError):
        consume_then_fail()
    assert queue.pending("trade", 10) == pending
    with db.transaction():
        queue.consume(pending[0].seq, now=NOW + 5)
    assert queue.pending("trade", 10) == pending[1:]
    with pytest.raises(UsageError):
        queue.consume(pending[0].seq)
    # A late duplicate of a consumed payload is recognised, not queued again.
    assert store.record_chunk(BOB, chunk, now=NOW + 6) == "duplicate"
    assert queue.pending("trade", 10) == pending[1:]


def test_multi_chunk_reassembly_out_of_order(db: Database) -> None:
    store, queue = PayloadStore(db), PayloadQueue(db)
    body = bytes(range(256)) * 900
    chunks = split_payload(ID, "trade", body, sent_at=NOW)
    assert len(chunks) == 4
    assert store.record_chunk(BOB, chunks[2], now=NOW) == "held"
    assert store.record_chunk(BOB, chunks[0], now=NOW) == "held"
    assert store.record_chunk(BOB, chunks[0], now=NOW) == "duplicate"
    assert store.record_chunk(BOB, chunks[3], now=NOW) == "held"
    assert queue.pending("trade", 10) == []
    assert store.record_chunk(BOB, chunks[1], now=NOW + 1) == "queued"
    (got,) = queue.pending("trade", 10)
    assert got.body == body
    assert store.statistics()["held_chunks"] == 0
    assert store.record_chunk(BOB, chunks[1], now=NOW + 2) == "duplicate"


def test_inconsistent_chunk_is_refused(db: Database) -> None:
    store = PayloadStore(db)
    chunks = split_payload(ID, "trade", b"a" * (CHUNK_BYTES * 2), sent_at=NOW)
    other = split_payload(ID, "other", b"a" * (CHUNK_BYTES * 2), sent_at=NOW)
    assert store.record_chunk(BOB, chunks[0], now=NOW) == "held"
    assert store.record_chunk(BOB, other[1], now=NOW) == "refused"
    assert store.record_chunk(BOB, chunks[1], now=NOW) == "queued"
    assert PayloadQueue(db).pending("other", 10) == []


def test_open_reassemblies_per_peer_are_limited_and_expire(db: Database) -> None:
    limits = ReassemblyLimits(max_open_per_peer=2, ttl_s=100)
    store = PayloadStore(db, limits)
    body = b"z" * (CHUNK_BYTES + 1)
    firsts = [split_payload(bytes([i]) * 16, "trade", body, sent_at=NOW) for i in range(4)]
    assert store.record_chunk(BOB, firsts[0][0], now=NOW) == "held"
    assert store.record_chunk(BOB, firsts[1][0], now=NOW + 50) == "held"
    assert store.record_chunk(BOB, firsts[2][0], now=NOW + 60) == "refused"
    # Another peer has its own allowance.
    assert store.record_chunk(CAROL, firsts[2][0], now=NOW + 60) == "held"
    # The first one expired: its slot is free again.
    assert store.record_chunk(BOB, firsts[2][0], now=NOW + 100) == "held"
    # Its late last chunk would start a new reassembly, but the two slots are taken; the
    # expired chunk is dropped either way.
    assert store.record_chunk(BOB, firsts[0][1], now=NOW + 101) == "refused"
    assert store.statistics()["held_chunks"] == 3
    assert PayloadQueue(db).pending("trade", 10) == []
    # Purging drops incomplete payloads whose first chunk is too old.
    assert store.purge_at(NOW + 160) == 2  # BOB's second payload, CAROL's
    assert store.statistics()["held_chunks"] == 1
    assert store.record_chunk(BOB, firsts[2][1], now=NOW + 161) == "queued"
    (got,) = PayloadQueue(db).pending("trade", 10)
    assert got.body == body and got.msg_id == bytes([2]) * 16
