"""Typed payloads through the messaging service, driven without a network (see
test_service_requests): queued on one side, delivered chunk by chunk, reassembled and queued
on the other exactly once, committed with the session state, announced to a waiting consumer.
"""

from typing import Any

import pytest
import trio
import trio.testing

from umbra.net.messaging import CHUNK_BYTES, PayloadQueue, PrekeyRecord
from umbra.net.messaging._delivery_wire import Deliver, Delivered
from umbra.net.messaging._mailbox_store import envelope_id
from umbra.net.messaging._service import MessagingService
from umbra.store import Profile

from .test_service_requests import profiles, record_of, service

__all__ = ["profiles"]  # the fixture, re-used


def _use_record(svc: MessagingService, record: PrekeyRecord) -> None:
    async def lookup(persona: bytes, *, fresh: bool = False) -> PrekeyRecord:
        return record

    svc.lookup = lookup  # type: ignore[method-assign]


def _encrypt_all(svc: MessagingService) -> list[bytes]:
    async def run() -> list[bytes]:
        items = await svc._db(svc.inbox.pending_at, svc._now())
        return [(await svc._encrypt(item))[0] for item in items]

    return trio.run(run)


def test_payload_delivered_reassembled_and_queued_once(profiles: tuple[Profile, Profile]) -> None:
    pa, pb = profiles
    alice, bob = service(pa), service(pb)
    _use_record(alice, record_of(bob, pb))
    body = bytes(range(256)) * ((2 * CHUNK_BYTES + 500) // 256)
    msg_id = trio.run(alice.queue_payload, pb.identity.signing_public, "trade", body)
    envelopes = _encrypt_all(alice)
    assert len(envelopes) == 3
    # Encrypted once: the envelopes are saved, a second pass returns the same ones.
    assert _encrypt_all(alice) == envelopes
    queue = PayloadQueue(pb.db)

    async def deliver_all() -> list[bool]:
        woken: list[bool] = []
        event = bob.payload_arrived
        for env in reversed(envelopes):  # out of order
            assert await bob.on_request("peer-alice", Deliver(env)) == [Delivered(envelope_id(env))]
            woken.append(event.is_set())
        return woken

    # Only the last chunk completes the payload and wakes a waiting consumer.
    assert trio.run(deliver_all) == [False, False, True]
    (got,) = queue.pending("trade", 10)
    assert (got.sender, got.body, got.msg_id) == (pa.identity.signing_public, body, msg_id)

    # Replays of every chunk are acknowledged again, never queued twice.
    for env in envelopes:
        assert trio.run(bob.on_request, "peer-alice", Deliver(env)) == [Delivered(envelope_id(env))]
    assert queue.pending("trade", 10) == [got]
    assert bob.counters["payloads"] == 1
    # A fresh service on the same profile (a restart) sees the same queue and sessions.
    assert PayloadQueue(service(pb)._profile.db).pending("trade", 10) == [got]


def test_failed_commit_queues_nothing(profiles: tuple[Profile, Profile]) -> None:
    pa, pb = profiles
    alice, bob = service(pa), service(pb)
    _use_record(alice, record_of(bob, pb))
    trio.run(alice.queue_payload, pb.identity.signing_public, "trade", b"accept order 7")
    (envelope,) = _encrypt_all(alice)
    sessions = bob._sessions
    assert sessions is not None
    real_save = sessions.save

    def failing_save(changes: Any) -> None:
        raise OSError("disk full")

    sessions.save = failing_save  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        trio.run(bob.on_request, "peer-alice", Deliver(envelope))
    assert PayloadQueue(pb.db).pending("trade", 10) == []
    sessions.save = real_save  # type: ignore[method-assign]
    trio.run(bob.on_request, "peer-alice", Deliver(envelope))
    (got,) = PayloadQueue(pb.db).pending("trade", 10)
    assert got.body == b"accept order 7"


def test_wait_payload_wakes_a_consumer(profiles: tuple[Profile, Profile]) -> None:
    pa, pb = profiles
    alice, bob = service(pa), service(pb)
    _use_record(alice, record_of(bob, pb))
    trio.run(alice.queue_payload, pb.identity.signing_public, "trade", b"ping")
    (envelope,) = _encrypt_all(alice)
    queue = PayloadQueue(pb.db)

    async def run() -> bytes:
        got: list[bytes] = []

        async def consumer() -> None:
            while True:
                event = bob.payload_arrived  # taken before reading: nothing can slip between
                pending = queue.pending("trade", 10)
                if pending:
                    got.append(pending[0].body)
                    return
                await event.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            await trio.testing.wait_all_tasks_blocked()
            await bob.on_request("peer-alice", Deliver(envelope))
        return got[0]

    assert trio.run(run) == b"ping"
