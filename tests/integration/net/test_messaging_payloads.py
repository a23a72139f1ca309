"""Typed payloads between real `umbra node` processes: directly, and via a mailbox peer.

n0 is the bootstrap (and the mailbox peer once B is gone), n1 is A, n2 is B. Payloads are
queued in A's database from this process, as another process (the CLI, the trade driver)
would; A's node notices them, chunks are encrypted, delivered and acknowledged; B's node
reassembles them and they end in B's `PayloadQueue` exactly once. 300 kB payloads take six
chunks (six ratchet messages, six envelopes) each. The kind is a test-only one: the node's
trade driver consumes "trade" payloads itself.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import umbra.store as store
from umbra.net.messaging import CHUNK_BYTES, Inbox, MailboxStore, PayloadQueue, PayloadStore

from .cluster import CHEAP, PASSPHRASE, Cluster, NodeProc, wait_until

pytestmark = pytest.mark.network

BIG = 300_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, list[bytes]]]:
    root: Path = tmp_path_factory.mktemp("payloads")
    c = Cluster(root, ["127.0.0.43", "127.0.0.44", "127.0.0.45"])
    personas = []
    try:
        for node in c.nodes:
            with store.create_profile(root, node.name, PASSPHRASE, params=CHEAP) as profile:
                personas.append(profile.identity.signing_public)
        c.start_all()
        yield c, personas
    finally:
        c.close()


def _queue(node: NodeProc, peer: bytes, kind: str, body: bytes) -> bytes:
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        return Inbox(profile.db).queue_payload_at(peer, kind, body, now=int(time.time()))


def _status(node: NodeProc, msg_id: bytes) -> str | None:
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        sent = PayloadStore(profile.db).outbound(msg_id)
        return None if sent is None else sent.status


def _received(node: NodeProc, kind: str) -> list[tuple[bytes, bytes, bytes]]:
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        return [(p.sender, p.msg_id, p.body) for p in PayloadQueue(profile.db).pending(kind, 100)]


def _held_envelopes(node: NodeProc) -> int:
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        return MailboxStore(profile.db).statistics_at(int(time.time())).envelopes


def test_payloads_direct_then_via_mailbox(cluster: tuple[Cluster, list[bytes]]) -> None:
    c, personas = cluster
    mailbox_peer, a, b = c.nodes
    a_key, b_key = personas[1], personas[2]
    big = os.urandom(BIG)
    assert BIG > 5 * CHUNK_BYTES

    # B is online: direct delivery, every chunk acknowledged after B committed it.
    small_id = _queue(a, b_key, "test.blob", b'{"t":"order"}')
    big_id = _queue(a, b_key, "test.blob", big)
    wait_until(
        "A's payloads are delivered",
        lambda: _status(a, small_id) == _status(a, big_id) == "delivered",
        timeout=180,
        pause=1,
    )
    assert _received(b, "test.blob") == [
        (a_key, small_id, b'{"t":"order"}'),
        (a_key, big_id, big),
    ]
    assert _held_envelopes(mailbox_peer) == 0

    # B is offline: all six chunks are left with the mailbox peer.
    b.stop()
    offline_id = _queue(a, b_key, "test.blob", big[::-1])
    wait_until("the chunks are stored", lambda: _status(a, offline_id) == "stored", timeout=180,
               pause=1)  # fmt: skip
    assert _held_envelopes(mailbox_peer) == 6

    # B comes back: it fetches, reassembles, commits, acknowledges.
    b.start([mailbox_peer.addrs[0]])
    wait_until("B queued the mailbox payload", lambda: len(_received(b, "test.blob")) == 3,
               timeout=180, pause=2)  # fmt: skip
    wait_until("the mailbox copies are deleted", lambda: _held_envelopes(mailbox_peer) == 0,
               timeout=60, pause=1)  # fmt: skip
    received = _received(b, "test.blob")
    assert received[2] == (a_key, offline_id, big[::-1])
    assert [r[1] for r in received] == [small_id, big_id, offline_id]  # each exactly once
    assert _received(a, "test.blob") == []
