"""The messaging service's request handling, driven without a network.

A fake node gives the service a database runner; ``lookup`` is replaced by the recipient's
real signed record. What is checked: a direct delivery is answered ``delivered`` only after
the message and the session state are committed; a replay is acknowledged without a second
copy; a failed commit is not acknowledged and the same envelope succeeds later; the mailbox
requests (put, fetch, ack) reach the store.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from umbra.core.crypto import Argon2Params
from umbra.net.messaging import PrekeyRecord, parse_prekey_record, sign_prekey_record
from umbra.net.messaging._delivery_wire import (
    Ack,
    Acked,
    Deliver,
    Delivered,
    End,
    Envelope,
    Fetch,
    Put,
    Refused,
    Stored,
)
from umbra.net.messaging._mailbox_store import envelope_id
from umbra.net.messaging._service import MessagingService
from umbra.store import Profile, create_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)


class FakeNode:
    host = None
    dht = None

    def __init__(self, name: str) -> None:
        self.peer_id = f"peer-{name}"

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def reach(self, peer: Any) -> bool:  # no network: nobody is reachable
        return False


def service(profile: Profile) -> MessagingService:
    svc = MessagingService(FakeNode(profile.name), profile)  # type: ignore[arg-type]
    svc._open_state()
    return svc


def record_of(svc: MessagingService, profile: Profile) -> PrekeyRecord:
    now = svc._now()
    bundle = svc.manager.prekey_bundle(profile.identity.signing, now=now)
    return parse_prekey_record(
        sign_prekey_record(profile.identity.signing, bundle, peer=None, now=now)
    )


@pytest.fixture
def profiles(tmp_path: Path) -> Iterator[tuple[Profile, Profile]]:
    with (
        create_profile(tmp_path, "alice", "pw", params=CHEAP) as a,
        create_profile(tmp_path, "bob", "pw", params=CHEAP) as b,
    ):
        yield a, b


def _queue_and_encrypt(alice: MessagingService, bob_record: PrekeyRecord, text: str) -> bytes:
    async def lookup(persona: bytes, *, fresh: bool = False) -> PrekeyRecord:
        return bob_record

    alice.lookup = lookup  # type: ignore[method-assign]
    alice.inbox.queue_at(bob_record.persona, "o-1", text, now=alice._now())
    (item,) = [i for i in alice.inbox.pending_at(alice._now()) if i.envelope is None]
    envelope, _mailbox = trio.run(alice._encrypt, item)
    return envelope


def test_direct_delivery_acknowledged_after_commit(profiles: tuple[Profile, Profile]) -> None:
    pa, pb = profiles
    alice, bob = service(pa), service(pb)
    envelope = _queue_and_encrypt(alice, record_of(bob, pb), "Is it still for sale?")

    answer = trio.run(bob.on_request, "peer-alice", Deliver(envelope))
    assert answer == [Delivered(envelope_id(envelope))]
    (msg,) = bob.inbox.read(pa.identity.signing_public, "o-1")
    assert (msg.text, msg.outgoing) == ("Is it still for sale?", False)
    # The session state was committed with it: a fresh service on the same profile has it.
    assert service(pb).manager.has_session(pa.identity.signing_public)

    # A replay (the sender missed our ack) is acknowledged again, never stored twice.
    assert trio.run(bob.on_request, "peer-alice", Deliver(envelope)) == answer
    assert len(bob.inbox.read(pa.identity.signing_public, None)) == 1


def test_failed_commit_is_not_acknowledged(profiles: tuple[Profile, Profile]) -> None:
    pa, pb = profiles
    alice, bob = service(pa), service(pb)
    envelope = _queue_and_encrypt(alice, record_of(bob, pb), "hello")
    sessions = bob._sessions
    assert sessions is not None
    real_save = sessions.save

    def failing_save(changes: Any) -> None:
        raise OSError("disk full")

    sessions.save = failing_save  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        trio.run(bob.on_request, "peer-alice", Deliver(envelope))
    assert bob.inbox.read(pa.identity.signing_public, None) == []
    sessions.save = real_save  # type: ignore[method-assign]
    # The manager was reloaded from disk, so the very same envelope now goes through.
    assert trio.run(bob.on_request, "peer-alice", Deliver(envelope)) == [
        Delivered(envelope_id(envelope))
    ]
    assert len(bob.inbox.read(pa.identity.signing_public, None)) == 1


def test_undecryptable_envelope_is_refused(profiles: tuple[Profile, Profile]) -> None:
    bob = service(profiles[1])
    assert trio.run(bob.on_request, "peer-x", Deliver(b"\x00" * 200)) == [Refused("undecryptable")]


def test_mailbox_requests(profiles: tuple[Profile, Profile]) -> None:
    carol = service(profiles[0])
    box = b"\x42" * 32

    async def run() -> None:
        env = b"sealed envelope"
        eid = envelope_id(env)
        assert await carol.on_request("peer-a", Put(box, env, 3600)) == [Stored(eid)]
        assert await carol.on_request("peer-b", Fetch(box, 10)) == [Envelope(eid, env), End()]
        assert await carol.on_request("peer-b", Ack(box, (eid,))) == [Acked(1)]
        assert await carol.on_request("peer-b", Fetch(box, 10)) == [End()]
        refused = await carol.on_request("peer-a", Put(box, b"x" * (200 * 1024), 60))
        assert refused == [Refused("too-large")]

    trio.run(run)


def test_poll_reads_own_mailbox_store(profiles: tuple[Profile, Profile]) -> None:
    """A recipient that is itself a mailbox peer for its mailbox finds the envelope locally."""
    pa, pb = profiles
    alice, bob = service(pa), service(pb)
    envelope = _queue_and_encrypt(alice, record_of(bob, pb), "left locally")
    (item,) = alice.inbox.pending_at(alice._now())
    assert item.mailbox is not None

    async def closest(mailbox: bytes) -> list[Any]:
        return []

    bob._closest = closest  # type: ignore[method-assign]
    bob.mailbox.put_at(item.mailbox, envelope, depositor="peer-alice", ttl=60, now=bob._now())
    assert trio.run(bob.poll_mailboxes) == 1
    assert bob.mailbox.statistics_at(bob._now()).envelopes == 0
    assert [m.text for m in bob.inbox.read(pa.identity.signing_public, None)] == ["left locally"]
