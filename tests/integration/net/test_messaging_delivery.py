"""Three real `umbra node` processes: direct delivery, then delivery through a mailbox peer.

n0 is the bootstrap (and, once B is gone, the only peer left to hold mail), n1 is A, n2 is B.
A sends to B while B is online: the message goes over a direct stream and is acknowledged
after B committed it. Then B is stopped, A sends again: the envelope is left with the mailbox
peer. B restarts, fetches it, and the mailbox copy is deleted after B's acknowledgement.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import umbra.store as store
from umbra.core.crypto import encode_public_key
from umbra.net.messaging import MailboxStore

from .cluster import CHEAP, PASSPHRASE, Cluster, NodeProc, wait_until

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, list[str]]]:
    root: Path = tmp_path_factory.mktemp("msg")
    c = Cluster(root, ["127.0.0.40", "127.0.0.41", "127.0.0.42"])
    ids = []
    try:
        for node in c.nodes:
            with store.create_profile(root, node.name, PASSPHRASE, params=CHEAP) as profile:
                ids.append(encode_public_key(profile.identity.signing_public))
        c.start_all()
        yield c, ids
    finally:
        c.close()


def _held_envelopes(node: NodeProc) -> int:
    """What a (running) node holds as mailbox peer, read from its database directly."""
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        return MailboxStore(profile.db).statistics_at(int(time.time())).envelopes


def _texts(node: NodeProc, peer: str) -> list[tuple[str, str]]:
    result: dict[str, Any] = node.run("messages", "read", peer)
    return [(m["direction"], m["text"]) for m in result["messages"]]


def test_direct_then_mailbox_delivery(cluster: tuple[Cluster, list[str]]) -> None:
    c, ids = cluster
    mailbox_peer, a, b = c.nodes
    a_id, b_id = ids[1], ids[2]

    # B is online: direct delivery, acknowledged after B committed it.
    sent = a.run("messages", "send", b_id, "Is the telescope still for sale?", "--order", "o-1",
                 "--wait", "90")  # fmt: skip
    assert sent["status"] == "delivered", sent
    assert _texts(b, a_id) == [("in", "Is the telescope still for sale?")]
    listed = b.run("messages", "list")["conversations"]
    assert [(x["peer"], x["order"]) for x in listed] == [(a_id, "o-1")]
    assert _held_envelopes(mailbox_peer) == 0

    # B is offline: the envelope is left with the mailbox peer.
    b.stop()
    sent = a.run("messages", "send", b_id, "I can pay today.", "--order", "o-1", "--wait", "90")
    assert sent["status"] == "stored", sent
    assert _held_envelopes(mailbox_peer) == 1

    # B comes back: it fetches, commits, acknowledges; the mailbox copy is deleted.
    b.start([mailbox_peer.addrs[0]])
    wait_until(
        "B received the mailbox message",
        lambda: len(_texts(b, a_id)) == 2,
        timeout=90,
        pause=2,
    )
    assert _texts(b, a_id)[-1] == ("in", "I can pay today.")
    wait_until("the mailbox copy is deleted", lambda: _held_envelopes(mailbox_peer) == 0,
               timeout=30, pause=1)  # fmt: skip
    statuses = [m["status"] for m in a.run("messages", "read", b_id)["messages"]]
    assert statuses == ["delivered", "stored"]
