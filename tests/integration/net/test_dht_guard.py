"""Umbra's DHT server against a hostile peer, with real nodes on 127.0.0.15x-16x.

The attacker is a plain py-libp2p host sending raw Kademlia messages (`kad_peer`). Shown:
the DHT runs under Umbra's own protocol id; records outside Umbra's types, or over their
size cap, are refused and never served; one peer's flood of valid records (or several
peers') does not push out a real head or provider record; a DHT client or a dead peer is
never handed out as a closer peer; an unchanged re-PUT extends a record's life.
"""

import os
import time
from pathlib import Path

import multiaddr
import pytest
import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

from umbra.core import (
    ArbiterProfileBody,
    CatalogHeadBody,
    compute_cid,
    sign_arbiter_profile,
    sign_catalog_head,
)
from umbra.core.crypto import SigningKey
from umbra.net import (
    KAD_PROTOCOL_ID,
    DhtLimits,
    NetLimits,
    Node,
    arbiter_key,
    head_key,
    provider_key,
)
from umbra.net.messaging import PREKEY_NAMESPACE, SessionManager, prekey_key, sign_prekey_record
from umbra.net.messaging._service import PrekeyRecordValidator

from .cluster import NodeProc
from .conftest import nodes
from .kad_peer import (
    add_provider,
    client_host,
    closer_peers,
    find_node,
    get_providers,
    get_value,
    kad_request,
    ping,
    put_value,
)

pytestmark = pytest.mark.network

IPFS_KAD = "/ipfs/kad/1.0.0"


def _head(key: SigningKey | None = None, seq: int = 1) -> tuple[bytes, bytes]:
    """(DHT key, value) of a valid catalog head signed by ``key`` (a fresh one by default)."""
    key = key or SigningKey.generate()
    body = CatalogHeadBody(
        v=1,
        kind="catalog-head",
        seller=key.public_key,
        seq=seq,
        catalog=compute_cid(os.urandom(8), "dag-cbor"),
        published_at=int(time.time()),
    )
    return head_key(key.public_key).encode(), sign_catalog_head(key, body).data


async def _wait(what: str, check: object, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.05)


def _info(node: Node) -> object:
    return info_from_p2p_addr(multiaddr.Multiaddr(node.addrs[0]))


def test_kad_protocol_is_umbras(tmp_path: Path) -> None:
    async def main() -> None:
        async with nodes(tmp_path, 1, first_ip=150) as [(node, _profile, _catalog)]:
            handlers = node.host.get_mux().get_protocols()
            assert KAD_PROTOCOL_ID in handlers and IPFS_KAD not in handlers
            info = _info(node)
            peer, listen = client_host("127.0.0.151")
            async with peer.run([listen]):  # type: ignore[attr-defined]
                await peer.connect(info)
                # An IPFS node asks for the public DHT: protocol not supported.
                with pytest.raises(Exception, match="failed to open a stream"):
                    await kad_request(peer, info.peer_id, ping(), protocol=IPFS_KAD)  # type: ignore[attr-defined]
                reply = await kad_request(peer, info.peer_id, ping())  # type: ignore[attr-defined]
                assert reply is not None and reply.type == reply.MessageType.PING

    trio.run(main)


def test_foreign_and_oversized_records_are_refused_and_not_served(tmp_path: Path) -> None:
    async def main() -> None:
        async with nodes(tmp_path, 1, first_ip=152) as [(node, _profile, _catalog)]:
            info = _info(node)
            attacker, listen = client_host("127.0.0.153")
            reader, reader_listen = client_host("127.0.0.154")
            async with attacker.run([listen]), reader.run([reader_listen]):  # type: ignore[attr-defined]
                await attacker.connect(info)
                await reader.connect(info)
                persona = SigningKey.generate().public_key.hex()
                head_key_bytes, head = _head()
                junk = [
                    (b"no-namespace-at-all", b"value"),
                    (f"/other-app/{persona}".encode(), b"value"),
                    (f"/pk/{persona}".encode(), b"value"),  # the library's defaults are off too
                    (f"/ipns/{persona}".encode(), b"value"),
                    (head_key_bytes, b"\x00" * (900 * 1024)),  # a 900 KiB value
                    (head_key_bytes, head + b"\x00" * (513 - len(head))),  # 1 byte past the cap
                    (head_key_bytes, b"\xa0"),  # the right size, not a head
                ]
                for key, value in junk:
                    reply = await kad_request(attacker, info.peer_id, put_value(key, value))  # type: ignore[attr-defined]
                    assert reply is None, key  # refused: no echo
                    served = await kad_request(reader, info.peer_id, get_value(key))  # type: ignore[attr-defined]
                    assert served is not None and not served.HasField("record"), key
                    assert node.dht.value_store.get(key) is None
                # Provider records only under Umbra's key form (a sha2-256 multihash).
                for key in (b"short-key", b"\x12\x20" + bytes(31), os.urandom(34)):
                    await kad_request(attacker, info.peer_id, add_provider(key, attacker))  # type: ignore[arg-type,attr-defined]
                    served = await kad_request(reader, info.peer_id, get_providers(key))  # type: ignore[attr-defined]
                    assert served is not None and len(served.providerPeers) == 0
                # The real thing is stored and served.
                ok = await kad_request(attacker, info.peer_id, put_value(head_key_bytes, head))  # type: ignore[attr-defined]
                assert ok is not None
                served = await kad_request(reader, info.peer_id, get_value(head_key_bytes))  # type: ignore[attr-defined]
                assert served is not None and served.record.value == head

    trio.run(main)


def test_put_rate_limit_at_the_burst(tmp_path: Path) -> None:
    async def main() -> None:
        limits = NetLimits(dht=DhtLimits(put_burst=3, put_rate=0.0001))
        async with nodes(tmp_path, 1, first_ip=155, limits=limits) as [(node, _p, _c)]:
            info = _info(node)
            attacker, listen = client_host("127.0.0.156")
            async with attacker.run([listen]):  # type: ignore[attr-defined]
                await attacker.connect(info)
                replies = []
                for _ in range(4):
                    key, value = _head()
                    replies.append(await kad_request(attacker, info.peer_id, put_value(key, value)))  # type: ignore[attr-defined]
                assert [r is not None for r in replies] == [True, True, True, False]

    trio.run(main)


def test_floods_do_not_evict_a_real_head_or_provider_record(tmp_path: Path) -> None:
    """A small store (about 8 heads, 3 per peer) so that the floods fill it."""

    async def main() -> None:
        _key, sample = _head()
        head_cost = len(_key) + len(sample) + 256
        provider_cost = 34 + 11 + 256  # key, one /ip4/…/tcp/… address, overhead
        limits = NetLimits(
            dht=DhtLimits(
                value_capacity=8 * head_cost,
                value_quota=3 * head_cost,
                provider_capacity=6 * provider_cost,
                provider_quota=3 * provider_cost,
            )
        )
        async with nodes(tmp_path, 2, first_ip=157, limits=limits) as group:
            (holder, _hp, _hc), (seller, seller_profile, _sc) = group
            info = _info(holder)
            seller_key = seller_profile.identity.signing
            real_key, real_head = _head(seller_key)
            holder_id = holder.host.get_id()
            await _wait("joined", lambda: seller.dht.routing_table.peer_in_table(holder_id))
            await seller.dht.put_value(real_key.decode(), real_head)
            category = provider_key("category", "electronics")
            await seller.dht.provide(category)
            await _wait("the head is stored", lambda: holder.dht.value_store.get(real_key))
            category_bytes = bytes.fromhex(category)
            await _wait(
                "the provider record is stored",
                lambda: holder.dht.provider_store.get_providers(category_bytes),
            )

            attackers = [client_host(f"127.0.0.{170 + i}") for i in range(4)]
            async with trio.open_nursery() as nursery:
                for host, listen in attackers:
                    await nursery.start(_run_host, host, listen)
                outcomes: list[list[bool]] = []
                for host, _listen in attackers:
                    await host.connect(info)  # type: ignore[attr-defined]
                    stored = []
                    for _ in range(6):  # twice its quota
                        key, value = _head()
                        reply = await kad_request(host, info.peer_id, put_value(key, value))  # type: ignore[attr-defined]
                        stored.append(reply is not None)
                    outcomes.append(stored)
                    for _ in range(4):
                        junk_key = b"\x12\x20" + os.urandom(32)
                        await kad_request(host, info.peer_id, add_provider(junk_key, host))  # type: ignore[arg-type,attr-defined]
                    await kad_request(host, info.peer_id, add_provider(category_bytes, host))  # type: ignore[arg-type,attr-defined]
                    if len(outcomes) == 1:  # one peer alone: stopped at its quota
                        assert stored == [True] * 3 + [False] * 3
                        assert holder.dht.value_store.get(real_key) is not None
                nursery.cancel_scope.cancel()

            # Together they filled the store (8 heads) and then evicted each other.
            assert sum(map(sum, outcomes)) > 8
            ledger = holder.dht.value_store.ledger
            assert ledger.total <= ledger.capacity
            record = holder.dht.value_store.get(real_key)
            assert record is not None and record.value == real_head
            providers = holder.dht.provider_store.get_providers(category_bytes)
            assert seller.host.get_id() in {p.peer_id for p in providers}
            pledger = holder.dht.provider_store.ledger
            assert pledger.total <= pledger.capacity

    trio.run(main)


async def _run_host(
    host: object, listen: object, *, task_status: object = trio.TASK_STATUS_IGNORED
) -> None:
    async with host.run([listen]):  # type: ignore[attr-defined]
        task_status.started()  # type: ignore[attr-defined]
        await trio.sleep_forever()


def test_client_and_dead_peers_are_not_handed_out(tmp_path: Path) -> None:
    """A DHT client that opened kad streams, and a node process that died, are never named
    in the node's FIND_NODE answers; a live server is."""

    async def main() -> None:
        async with nodes(tmp_path, 2, first_ip=160) as group:
            node, other = group[0][0], group[1][0]
            info = _info(node)
            late = NodeProc("late", "127.0.0.162", tmp_path / "late")
            late.data_dir.mkdir()
            late.create_profile()
            client, client_listen = client_host("127.0.0.163")
            asker, asker_listen = client_host("127.0.0.164")
            try:
                async with client.run([client_listen]), asker.run([asker_listen]):  # type: ignore[attr-defined]
                    await client.connect(info)
                    await asker.connect(info)

                    async def handed_out() -> set[ID]:
                        reply = await kad_request(asker, info.peer_id, find_node(os.urandom(32)))  # type: ignore[attr-defined]
                        return closer_peers(reply)

                    # The DHT client opens kad streams: a FIND_NODE and a PUT.
                    assert await kad_request(client, info.peer_id, find_node(os.urandom(32)))  # type: ignore[attr-defined]
                    key, value = _head()
                    await kad_request(client, info.peer_id, put_value(key, value))  # type: ignore[attr-defined]
                    await trio.to_thread.run_sync(lambda: late.start([node.addrs[0]]))
                    late_id = ID.from_base58(late.peer_id)
                    table = node.dht.routing_table
                    await _wait(
                        "the late node is in the table", lambda: table.peer_in_table(late_id)
                    )
                    handed = await handed_out()
                    assert late_id in handed and other.host.get_id() in handed
                    assert client.get_id() not in handed  # type: ignore[attr-defined]
                    assert not table.peer_in_table(client.get_id())  # type: ignore[attr-defined]

                    # The late node dies (no goodbye): it leaves the table, is not handed out.
                    assert late.proc is not None
                    late.proc.kill()
                    await _wait("the dead node is gone", lambda: not table.peer_in_table(late_id))
                    handed = await handed_out()
                    assert late_id not in handed and client.get_id() not in handed  # type: ignore[attr-defined]
                    assert other.host.get_id() in handed
            finally:
                await trio.to_thread.run_sync(late.stop)

    trio.run(main)


def test_unchanged_reput_extends_the_record(tmp_path: Path) -> None:
    """For all three record types: the holder's copy lives 24 h from the latest PUT."""

    async def main() -> None:
        async with nodes(tmp_path, 2, first_ip=165) as group:
            (holder, _hp, _hc), (owner, owner_profile, _oc) = group
            for node in (holder, owner):
                node.dht.register_validator(PREKEY_NAMESPACE, PrekeyRecordValidator())
            holder_id = holder.host.get_id()
            await _wait("joined", lambda: owner.dht.routing_table.peer_in_table(holder_id))
            persona = owner_profile.identity.signing
            now = int(time.time())
            manager, _ = SessionManager.create(persona, now=now)
            profile = ArbiterProfileBody(
                v=1, kind="arbiter-profile", arbiter=persona.public_key, name="Judge",
                fee="1 %", terms="", created_at=now, expires_at=now + 86400,
            )  # fmt: skip
            records = [
                _head(persona),
                (
                    arbiter_key(persona.public_key).encode(),
                    sign_arbiter_profile(persona, profile).data,
                ),
                (
                    prekey_key(persona.public_key).encode(),
                    sign_prekey_record(
                        persona, manager.prekey_bundle(persona, now=now), peer=None, now=now
                    ),
                ),
            ]
            for key, value in records:
                await owner.dht.put_value(key.decode(), value)
                await _wait("stored", lambda k=key: holder.dht.value_store.get(k) is not None)
                first = holder.dht.value_store.store[key][1]
                await trio.sleep(0.05)
                # The same bytes again, exactly as the owner's republish sends them.
                ok = await owner.dht.value_store._store_at_peer(holder.host.get_id(), key, value)
                assert ok, key  # py-libp2p alone refuses it (select keeps the stored copy)
                record, validity = holder.dht.value_store.store[key]
                assert record.value == value and validity > first, key

    trio.run(main)
