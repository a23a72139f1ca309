"""The escrow mailbox inside the encrypted profile database (used by a node's trade bridge)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.store import Database
from umbra.wallet import DatabaseMailbox, Mailbox

KEY = bytes(range(32))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "profile.db", KEY, create=True)
    try:
        yield database
    finally:
        database.close()


def test_messages_reach_only_their_escrow_and_role_in_order(db: Database) -> None:
    seller = DatabaseMailbox(db, "e1", "seller")
    buyer = DatabaseMailbox(db, "e1", "buyer")
    other_escrow = DatabaseMailbox(db, "e2", "buyer")
    seller.send("buyer", b"first")
    seller.send("buyer", b"second")
    seller.send("arbiter", b"for the arbiter")

    assert [data for _ref, data in buyer.receive()] == [b"first", b"second"]
    assert other_escrow.receive() == []
    assert seller.receive() == []


def test_a_message_stays_until_acknowledged_and_duplicates_wait_once(db: Database) -> None:
    seller = DatabaseMailbox(db, "e1", "seller")
    buyer = DatabaseMailbox(db, "e1", "buyer")
    seller.send("buyer", b"m")
    seller.send("buyer", b"m")  # re-sent after a crash: still one waiting copy
    (ref, data), *rest = buyer.receive()
    assert (data, rest) == (b"m", [])
    assert buyer.receive() == [(ref, b"m")]  # read again until acknowledged
    buyer.ack(ref)
    assert buyer.receive() == []
    seller.send("buyer", b"m")  # at-least-once: the same bytes may come again later
    assert [d for _r, d in buyer.receive()] == [b"m"]


def test_waiting_lists_every_message_with_its_roles_for_the_relay(db: Database) -> None:
    DatabaseMailbox(db, "e1", "seller").send("buyer", b"a")
    DatabaseMailbox(db, "e2", "arbiter").send("seller", b"b")
    waiting = DatabaseMailbox.waiting(db)
    assert [(m.escrow_id, m.from_role, m.to_role, m.data) for m in waiting] == [
        ("e1", "seller", "buyer", b"a"),
        ("e2", "arbiter", "seller", b"b"),
    ]
    DatabaseMailbox.remove(db, waiting[0].ref)
    assert [m.data for m in DatabaseMailbox.waiting(db)] == [b"b"]


def test_messages_left_in_an_old_file_mailbox_move_into_the_database(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "escrow-mail"
    Mailbox(root, "e1", "seller").send("buyer", b"multisig info")
    Mailbox(root, "e1", "arbiter").send("seller", b"sync")

    assert DatabaseMailbox.import_files(db, root) == 2

    assert list(root.glob("*/*/*.msg")) == []  # nothing left in plaintext
    assert [d for _r, d in DatabaseMailbox(db, "e1", "buyer").receive()] == [b"multisig info"]
    assert [d for _r, d in DatabaseMailbox(db, "e1", "seller").receive()] == [b"sync"]
    assert DatabaseMailbox.import_files(db, tmp_path / "absent") == 0


def test_nothing_of_a_message_is_in_the_database_file_in_plaintext(
    db: Database, tmp_path: Path
) -> None:
    secret = b"MultisigxV2R1-secret-view-key-share-" * 20
    DatabaseMailbox(db, "e1", "buyer").send("seller", secret)
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("profile.db*"))
    assert b"MultisigxV2R1" not in raw
