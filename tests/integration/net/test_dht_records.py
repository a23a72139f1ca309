"""Catalog-head records in a real DHT: forged, stale and replayed records are refused, and the
py-libp2p stale-read bug with our workaround (`get_fresh`)."""

import time
from pathlib import Path

import pytest
import trio
from libp2p.records.record import make_signed_put_record

from umbra.core import CatalogHeadBody, compute_cid, sign_catalog_head
from umbra.core.crypto import SigningKey
from umbra.net import HEADS_TOPIC, Node, get_fresh, head_key

from .conftest import draft, hits, nodes

pytestmark = pytest.mark.network


async def _wait(what: str, check: object, timeout: float = 30) -> None:
    with trio.fail_after(timeout):
        while not check():  # type: ignore[operator]
            await trio.sleep(0.05)


def _head(key: SigningKey, seller: bytes, seq: int) -> bytes:
    body = CatalogHeadBody(
        v=1,
        kind="catalog-head",
        seller=seller,
        seq=seq,
        catalog=compute_cid(b"x%d" % seq, "dag-cbor"),
        published_at=int(time.time()),
    )
    if key.public_key == seller:
        return sign_catalog_head(key, body).data
    # A forgery: signed by another key but naming ``seller``.
    other = sign_catalog_head(key, body.model_copy(update={"seller": key.public_key}))
    return other.data.replace(key.public_key, seller)


async def _put_raw(sender: Node, target: Node, key: str, value: bytes) -> bool:
    """PUT exactly ``value`` at ``target``'s DHT server (as an attacker would).

    ``_store_at_peer`` without ``record`` sends the sender's own stored record for the key
    when it has one, not ``value``; so the record is built here.
    """
    record = make_signed_put_record(key.encode(), value, sender.host.get_private_key())
    return await sender.dht.value_store._store_at_peer(
        target.host.get_id(), key.encode(), value, record=record
    )


def test_forged_stale_and_replayed_records(tmp_path: Path) -> None:
    async def main() -> None:
        async with nodes(tmp_path, 4, first_ip=70) as group:
            (reader, reader_profile, _), (seller, seller_profile, catalog) = group[0], group[1]
            others = [n for n, _, _ in group]
            seller_key = seller_profile.identity.signing
            seller_pub = seller_key.public_key
            key = head_key(seller_pub)

            await trio.to_thread.run_sync(catalog.create, draft("Field radio"))
            await _wait("seq 1 synced", lambda: hits(reader_profile, "radio") == ["Field radio"])
            seq1 = seller.dht.value_store.get(key.encode())
            assert seq1 is not None
            await trio.to_thread.run_sync(catalog.create, draft("Valve amplifier"))
            await _wait(
                "seq 2 synced", lambda: hits(reader_profile, "valve") == ["Valve amplifier"]
            )

            def stored(node: object) -> bytes | None:
                record = node.dht.value_store.get(key.encode())  # type: ignore[attr-defined]
                return None if record is None else record.value

            with trio.fail_after(30):
                while stored(seller) is None:
                    await trio.sleep(0.05)
            best = stored(seller)
            assert best is not None

            # Replay the old seq 1 record straight to every other node's DHT server.
            for node in [*others[2:], reader]:
                await _put_raw(seller, node, key, seq1.value)
            # Forgeries: another key's signature naming this seller, and a tampered record.
            attacker = SigningKey.generate()
            forged = _head(attacker, seller_pub, 99)
            tampered = bytearray(best)
            tampered[-1] ^= 1
            for value in (forged, bytes(tampered)):
                for node in [*others[2:], reader]:
                    assert not await _put_raw(seller, node, key, value)
            for node in [*others[2:], reader]:
                value = stored(node)
                assert value not in (seq1.value, forged, bytes(tampered))
            fresh = await get_fresh(reader.dht, key, quorum=3)
            assert fresh is not None and fresh != seq1.value and fresh != forged

            # A forged head on gossip is dropped by every receiver and counted.
            await others[3].pubsub.publish(HEADS_TOPIC, forged)
            await trio.sleep(2)
            assert hits(reader_profile, "radio") == ["Field radio"]
            assert hits(reader_profile, "valve") == ["Valve amplifier"]

    trio.run(main)


def test_get_value_stale_cache_bug_and_get_fresh(tmp_path: Path) -> None:
    """py-libp2p 0.8.1: ``get_value`` answers from the local store without asking the network.

    The reader holds seq 1 locally (as after an earlier get); the network has seq 2.
    """

    async def main() -> None:
        async with nodes(tmp_path, 3, first_ip=80) as group:
            reader, seller = group[0][0], group[1][0]
            key_pair = group[1][1].identity.signing
            key = head_key(key_pair.public_key)
            old = _head(key_pair, key_pair.public_key, 1)
            new = _head(key_pair, key_pair.public_key, 2)
            await seller.dht.put_value(key, old)
            await seller.dht.put_value(key, new)
            reader.dht.value_store.put(key.encode(), old)  # the reader's stale cache

            assert await reader.dht.get_value(key, quorum=1) == old  # the library bug
            assert await get_fresh(reader.dht, key, quorum=2) == new  # our workaround
            record = reader.dht.value_store.get(key.encode())
            assert record is not None and record.value == new  # and the cache is corrected

    trio.run(main)
