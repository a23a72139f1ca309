"""The conversation store: queueing, outbox states, incoming duplicates, read state."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.core import InvalidDocument, UsageError, encode_canonical
from umbra.net.messaging import ChatPayload, Inbox, parse_payload
from umbra.store import Database

NOW = 1_700_000_000
BOB = b"\xbb" * 32
CAROL = b"\xcc" * 32


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    db = Database.open(tmp_path / "i.db", b"k" * 32, create=True)
    yield Inbox(db)
    db.close()


def test_queue_encrypt_send(inbox: Inbox) -> None:
    msg = inbox.queue_at(BOB, "o-1", "hello", now=NOW)
    assert msg.status == "queued"
    (item,) = inbox.pending_at(NOW)
    assert (item.peer, item.msg_id, item.envelope) == (BOB, msg.msg_id, None)
    assert parse_payload(item.payload) == ChatPayload(msg.msg_id, "o-1", "hello", NOW)
    inbox.mark_encrypted(BOB, msg.msg_id, b"env", b"m" * 32)
    (item,) = inbox.pending_at(NOW)
    assert (item.envelope, item.mailbox) == (b"env", b"m" * 32)
    assert inbox.read(BOB, "o-1")[0].status == "sending"
    inbox.retry_at(BOB, msg.msg_id, NOW + 10)
    assert inbox.pending_at(NOW + 9) == [] and not inbox.has_pending_at(NOW + 9)
    assert inbox.pending_at(NOW + 10)[0].attempts == 1
    inbox.mark_sent(BOB, msg.msg_id, "stored")
    assert inbox.pending_at(NOW + 100) == []
    assert inbox.read(BOB, None)[0].status == "stored"


def test_incoming_duplicates_and_read_state(inbox: Inbox) -> None:
    payload = ChatPayload(b"\x01" * 16, "o-1", "is it available?", NOW - 5)
    assert inbox.record_incoming(BOB, payload, now=NOW)
    assert not inbox.record_incoming(BOB, payload, now=NOW + 1)
    # The same message id from another peer is another message.
    assert inbox.record_incoming(CAROL, payload, now=NOW + 2)
    inbox.queue_at(BOB, "o-1", "yes", now=NOW + 3)
    inbox.queue_at(BOB, "o-2", "other order", now=NOW + 4)
    convs = inbox.conversations()
    assert [(c.peer, c.order, c.messages, c.unread) for c in convs] == [
        (BOB, "o-2", 1, 0),
        (BOB, "o-1", 2, 1),
        (CAROL, "o-1", 1, 1),
    ]
    assert convs[1].last_text == "yes"
    msgs = inbox.read(BOB, "o-1")
    assert [(m.outgoing, m.text, m.read) for m in msgs] == [
        (False, "is it available?", False),
        (True, "yes", True),
    ]
    assert all(m.read for m in inbox.read(BOB, "o-1"))
    assert [c.unread for c in inbox.conversations()] == [0, 0, 1]
    assert len(inbox.read(BOB, None)) == 3


def test_bad_input(inbox: Inbox) -> None:
    with pytest.raises(UsageError):
        inbox.queue_at(BOB, "bad order!", "x", now=NOW)
    with pytest.raises(UsageError):
        inbox.queue_at(BOB, "", "", now=NOW)
    with pytest.raises(UsageError):
        inbox.queue_at(BOB, "", "x" * 16_001, now=NOW)
    with pytest.raises(UsageError):
        inbox.queue_at(b"short", "", "x", now=NOW)


@pytest.mark.parametrize(
    "obj",
    [
        {"v": 1, "id": b"x" * 16, "order": "", "text": "hi"},
        {"v": 2, "id": b"x" * 16, "order": "", "text": "hi", "sent": 1},
        {"v": 1, "id": b"x" * 15, "order": "", "text": "hi", "sent": 1},
        {"v": 1, "id": b"x" * 16, "order": "no spaces", "text": "hi", "sent": 1},
        {"v": 1, "id": b"x" * 16, "order": "", "text": "", "sent": 1},
        {"v": 1, "id": b"x" * 16, "order": "", "text": "hi", "sent": -1},
        {"v": 1, "id": b"x" * 16, "order": "", "text": "hi", "sent": 1, "x": 0},
    ],
)
def test_payload_is_strict(obj: dict[str, object]) -> None:
    with pytest.raises(InvalidDocument):
        parse_payload(encode_canonical(obj))
