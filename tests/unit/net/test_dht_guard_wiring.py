"""`UmbraDHT` replaces parts of py-libp2p's `KadDHT` after the library built them; these tests
fail if a library upgrade wires the old parts somewhere we do not reach. No network: the host
is built but never started."""

import time

import pytest
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.kad_dht.pb.kademlia_pb2 import Record
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.records.validator import BlankValidator
from multiaddr import Multiaddr

from umbra.net import KAD_PROTOCOL_ID, LOCAL, DhtLimits, StoreRefused, UmbraDHT
from umbra.net._dht_guard import (
    GuardedProviderStore,
    GuardedRoutingTable,
    GuardedValueStore,
    inbound_peer,
)


def _dht(**limits: int) -> UmbraDHT:
    return UmbraDHT(new_host(key_pair=create_new_key_pair()), DhtLimits(**limits))  # type: ignore[arg-type]


def test_the_replaced_parts_are_the_ones_in_use() -> None:
    dht = _dht()
    assert isinstance(dht.routing_table, GuardedRoutingTable)
    assert isinstance(dht.value_store, GuardedValueStore)
    assert isinstance(dht.provider_store, GuardedProviderStore)
    assert dht.peer_routing.routing_table is dht.routing_table
    assert dht.provider_store.peer_routing is dht.peer_routing
    protocols = dht.host.get_mux().get_protocols()
    assert KAD_PROTOCOL_ID in protocols and "/ipfs/kad/1.0.0" not in protocols
    assert dht.strict_validation
    assert dht.validator is dht.records and dht.records._validators == {}  # no /pk/, /ipns/
    with pytest.raises(TypeError):
        dht.register_validator("anything", BlankValidator())


def _record(value: bytes) -> Record:
    record = Record()
    record.value = value
    return record


def test_values_are_charged_to_the_inbound_peer_and_released_when_gone() -> None:
    dht = _dht(value_capacity=10_000, value_quota=2 * (2 + 100 + 256), record_overhead=256)
    store = dht.value_store
    token = inbound_peer.set("peer-a")
    try:
        store.put_record(b"k1", _record(b"x" * 100))
        store.put_record(b"k2", _record(b"x" * 100))  # exactly the quota
        with pytest.raises(StoreRefused):
            store.put_record(b"k3", _record(b"x" * 100))
    finally:
        inbound_peer.reset(token)
    assert store.get(b"k3") is None
    assert store.ledger.holder(b"k1") == "peer-a"
    store.put(b"own", b"y" * 5000)  # our own put: LOCAL, no quota
    assert store.ledger.holder(b"own") == LOCAL
    store.remove(b"k1")
    assert b"k1" not in store.ledger
    record, _validity = store.store[b"k2"]
    store.store[b"k2"] = (record, time.time() - 1)  # expired
    assert store.cleanup_expired() == 1
    assert b"k2" not in store.ledger and store.ledger.load("peer-a") == 0


def test_an_eviction_deletes_the_record_from_the_store() -> None:
    cost = 2 + 10 + 256
    dht = _dht(value_capacity=3 * cost, value_quota=3 * cost, record_overhead=256)
    store = dht.value_store
    for peer, keys in (("heavy", [b"h1", b"h2"]), ("light", [b"l1"]), ("new", [b"n1"])):
        token = inbound_peer.set(peer)
        try:
            for key in keys:
                store.put_record(key, _record(b"v" * 10))
        finally:
            inbound_peer.reset(token)
    assert set(store.store) == {b"h2", b"l1", b"n1"}  # the heavy peer's oldest gave way
    assert set(store.ledger) == set(store.store)


def test_provider_records_only_under_umbras_key_form_and_within_quota() -> None:
    addr = Multiaddr("/ip4/127.0.0.1/tcp/4001")
    cost = 34 + 8 * len(addr.to_bytes()) + 256  # key, the 8 addresses kept, overhead
    dht = _dht(provider_capacity=100 * cost, provider_quota=2 * cost, record_overhead=256)
    store = dht.provider_store
    peer = ID.from_base58("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
    info = PeerInfo(peer, [addr] * 20)
    with pytest.raises(ValueError, match="provider key"):
        store.add_provider(b"\x12\x20" + bytes(31), info)
    keys = [b"\x12\x20" + bytes([i]) * 32 for i in range(3)]
    store.add_provider(keys[0], info)
    store.add_provider(keys[1], info)  # exactly the quota (8 of the 20 addresses kept)
    with pytest.raises(StoreRefused):
        store.add_provider(keys[2], info)
    assert len(store.get_providers(keys[0])[0].addrs) == 8
    assert store.get_providers(keys[2]) == []
    store.providers[keys[0]][str(peer)].timestamp = 0  # long expired
    assert store.get_providers(keys[0]) == []
    assert (keys[0], str(peer)) not in store.ledger
