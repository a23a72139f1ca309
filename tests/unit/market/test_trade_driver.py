"""The trade driver between three real profiles over an in-memory payload channel.

What is replaced here (this is a unit test of the driver's logic): the network (a dict of
queues with the same shape as the messaging payload channel), the DHT key lookup (the
persona's X25519 key), the wallet (fixed subaddresses) and the escrow (a recorder; the
test reports "funded" itself). The profiles, databases, listings, sealing and the order
machines are the real ones. The full trade over real nodes and a real chain is in
``tests/integration/trade``.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from umbra.core import UsageError, compute_cid, format_xmr
from umbra.core.crypto import Argon2Params, open_envelope
from umbra.market import (
    ArbiterDirectory,
    ArbiterOffer,
    SellerCatalog,
    TradeService,
    sample_drafts,
    sign_own_profile,
)
from umbra.market._order_types import EscrowFunded, EscrowPaidOut
from umbra.market._trade_driver import ARBITER_KEY, TradeDriver
from umbra.market._trade_ports import InboundPayload
from umbra.net import NetState
from umbra.store import Profile, create_profile
from umbra.wallet import DatabaseMailbox, EscrowTerms

FAST = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
ADDRESS = {"buyer": "4" + "B" * 94, "seller": "4" + "S" * 94, "arbiter": "4" + "A" * 94}
PAYMENT_SUBADDRESS = "8" + "P" * 94


@dataclass
class Network:
    """Payload queues per persona, shared by the three channels."""

    queues: dict[bytes, list[InboundPayload]] = field(default_factory=dict)
    seq: int = 0
    log: list[tuple[bytes, InboundPayload]] = field(default_factory=list)  # (to, payload)


@dataclass
class Channel:
    network: Network
    me: bytes
    sent: int = 0

    def queue_payload_at(self, peer: bytes, kind: str, body: bytes, *, now: int) -> bytes:
        self.network.seq += 1
        payload = InboundPayload(self.network.seq, self.me, body)
        self.network.queues.setdefault(peer, []).append(payload)
        self.network.log.append((peer, payload))
        self.sent += 1
        return self.network.seq.to_bytes(16, "big")

    def pending(self, kind: str, limit: int, *, after: int = 0) -> list[InboundPayload]:
        return [p for p in self.network.queues.get(self.me, []) if p.seq > after][:limit]

    def consume(self, seq: int) -> None:
        box = self.network.queues.get(self.me, [])
        box[:] = [p for p in box if p.seq != seq]


@dataclass
class Ports:
    profile: Profile
    keys: dict[bytes, bytes]
    role: str

    async def envelope_key(self, persona: bytes) -> bytes | None:
        return self.keys.get(persona)

    def open_sealed(self, data: bytes) -> bytes:
        return open_envelope(self.profile.identity.encryption_secret, data)

    async def fresh_address(self, label: str) -> str:
        return ADDRESS[self.role]


@dataclass
class EscrowRecorder:
    created: list[tuple[EscrowTerms, str]] = field(default_factory=list)
    updates: int = 0

    def create(self, order_id: bytes, terms: EscrowTerms, role: str) -> None:
        self.created.append((terms, role))

    def update(self, order_id: bytes) -> None:
        self.updates += 1


@dataclass
class Party:
    profile: Profile
    driver: TradeDriver
    service: TradeService
    escrow: EscrowRecorder


@dataclass
class Clock:
    now: float = field(default_factory=time.time)  # listings are made with the real clock

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def parties(tmp_path: Path, clock: Clock) -> Iterator[dict[str, Party]]:
    network = Network()
    profiles = {r: create_profile(tmp_path, r, "pw", params=FAST) for r in ADDRESS}
    keys = {p.identity.signing_public: p.identity.encryption_public for p in profiles.values()}
    out = {}
    for role, profile in profiles.items():
        escrow = EscrowRecorder()
        channel = Channel(network, profile.identity.signing_public)
        ports = Ports(profile, keys, role)
        driver = TradeDriver(profile, channel, ports, escrow, confirmations=1, clock=clock)
        out[role] = Party(profile, driver, TradeService(profile, clock=clock), escrow)
    with out["arbiter"].driver.store.db.transaction():
        out["arbiter"].driver.store.set_config(ARBITER_KEY, "fee=0")
    yield out
    for p in profiles.values():
        p.close()


def _listing(
    parties: dict[str, Party], *, accept_arbiter: bool = True, profile: bool = True
) -> str:
    """A seller's listing the buyer holds, with the seller's catalog "synced" to the buyer
    (the rows a real sync writes) and, unless told otherwise, the arbiter accepted in that
    catalog and its signed profile known to the buyer (as `serve_arbiters` fetches it)."""
    seller, buyer = parties["seller"].profile, parties["buyer"].profile
    arbiter = parties["arbiter"].profile
    catalog = SellerCatalog(seller)
    draft = next(d for d in sample_drafts(20) if d.shipping)
    signed = catalog.create(draft)
    if accept_arbiter:
        catalog.set_arbiters([arbiter.identity.signing_public])
    _sync_catalog(seller, buyer)
    buyer.blocks.put_verified(signed.cid, signed.data)
    if profile:
        own = sign_own_profile(arbiter, ArbiterOffer("Fair Judge", "1 %"), int(time.time()))
        ArbiterDirectory(buyer).remember(own)
    return str(signed.cid)


def _sync_catalog(seller: Profile, buyer: Profile) -> None:
    current = SellerCatalog(seller).current_catalog()
    assert current is not None
    NetState(buyer)  # the net tables
    with buyer.db.transaction():
        buyer.blocks.put_verified(current.cid, current.data)
        buyer.db.execute(
            "INSERT OR REPLACE INTO net_catalogs (seller, seq, catalog_cid, head, synced_at,"
            " listings) VALUES (?, ?, ?, x'00', 0, 1)",
            (current.body.seller, current.body.seq, str(current.cid)),
        )


def _pump(parties: dict[str, Party]) -> None:
    """Run commands and deliver payloads until nothing moves."""

    async def once() -> int:
        moved = 0
        for p in parties.values():
            moved += await p.driver.process_commands()
            moved += p.driver.process_inbound()
        return moved

    for _ in range(20):
        if trio.run(once) == 0:
            return
    raise AssertionError("the parties never settled")


def _state(p: Party, order_id: str) -> str:
    return p.service.order(order_id).summary.state


def test_escrow_trade_runs_to_release(parties: dict[str, Party]) -> None:
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    buyer = parties["buyer"].service
    order_id, seq = buyer.place_order(
        cid, shipping_option=0, address="1 Main St, Springfield", arbiter=arbiter
    )
    _pump(parties)
    assert buyer.command(seq) is not None and buyer.command(seq).status == "done"  # type: ignore[union-attr]
    seller = parties["seller"].service
    view = seller.order(order_id)
    assert view.summary.state == "S1_requested"
    assert view.shipping == "1 Main St, Springfield"  # only the seller could open it
    assert "accept" in view.next_actions
    assert parties["arbiter"].service.order(order_id).shipping is None

    seller.accept(order_id)
    _pump(parties)
    # The arbiter took the case by itself: everyone started the escrow with the same terms.
    for role in ADDRESS:
        assert _state(parties[role], order_id) == "S3_escrow_setup"
        ((terms, escrow_role),) = parties[role].escrow.created
        assert escrow_role == role and terms.confirmations == 1
        assert terms.seller_address == ADDRESS["seller"]
        assert terms.buyer_address == ADDRESS["buyer"]

    for role in ADDRESS:
        parties[role].driver.escrow_event(bytes.fromhex(order_id), EscrowFunded(terms.amount, 0))
    assert _state(parties["seller"], order_id) == "S4_funded"

    seller.ship(order_id, tracking="TRACK-123")
    _pump(parties)
    assert parties["buyer"].service.order(order_id).shipping == "TRACK-123"  # sealed to it
    buyer.confirm(order_id)
    _pump(parties)
    for role in ADDRESS:
        assert _state(parties[role], order_id) == "S6_completed"
    bview = buyer.order(order_id)
    assert bview.payout is not None and bview.payout["kind"] == "release"
    parties["buyer"].driver.escrow_event(bytes.fromhex(order_id), EscrowPaidOut(("ab" * 32,), 0))
    assert buyer.order(order_id).payout_txids == ("ab" * 32,)
    kinds = [e.kind for e in bview.timeline]
    assert "sent" in kinds and "state" in kinds


@dataclass
class DirectRecorder:
    requests: list[tuple[bytes, int, int]] = field(default_factory=list)

    async def payment_address(self, order_id: bytes, amount: int, expires_at: int) -> str:
        self.requests.append((order_id, amount, expires_at))
        return PAYMENT_SUBADDRESS


def test_direct_order_accepted_with_a_watched_payment_subaddress(
    parties: dict[str, Party], clock: Clock
) -> None:
    cid = _listing(parties)
    buyer, seller = parties["buyer"].service, parties["seller"].service
    order_id, _ = buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    _pump(parties)
    assert _state(parties["seller"], order_id) == "S1_requested"
    with pytest.raises(UsageError):
        parties["arbiter"].service.order(order_id)  # no arbiter takes part

    # Without a wallet the seller cannot make a payment address: the accept fails, clearly.
    seq = seller.accept(order_id)
    _pump(parties)
    failed = seller.command(seq)
    assert failed is not None and failed.status == "failed" and "no wallet" in failed.error
    assert _state(parties["seller"], order_id) == "S1_requested"

    direct = DirectRecorder()
    parties["seller"].driver.direct = direct
    seller.accept(order_id)
    _pump(parties)
    total = seller.order(order_id).summary.total
    fund_timeout = parties["seller"].driver.config.fund_timeout_s
    assert direct.requests == [(bytes.fromhex(order_id), total, int(clock.now) + fund_timeout)]
    for role in ("buyer", "seller"):
        view = parties[role].service.order(order_id)
        assert view.summary.state == "S2_accepted" and view.payout_address == PAYMENT_SUBADDRESS
    assert parties["buyer"].escrow.created == []  # no escrow for a direct payment


def test_escrow_messages_are_relayed_between_escrows(parties: dict[str, Party]) -> None:
    from umbra.wallet import SetupInfo, encode_message

    order_id = _accepted_escrow_order(parties)
    payload = encode_message(SetupInfo(order_id, "buyer", 0, "MultisigV1" + "x" * 100))
    assert parties["buyer"].driver.send_escrow(bytes.fromhex(order_id), "seller", payload)
    _pump(parties)
    # Into the seller's escrow inbox (the profile's database), from the buyer, to the seller.
    inbox = DatabaseMailbox(parties["seller"].profile.db, order_id, "seller")
    assert [data for _ref, data in inbox.receive()] == [payload]
    assert DatabaseMailbox.waiting(parties["arbiter"].profile.db) == []


def test_out_of_place_and_foreign_payloads_are_refused(parties: dict[str, Party]) -> None:
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    order_id, _ = parties["buyer"].service.place_order(
        cid, shipping_option=0, address="x", arbiter=arbiter
    )
    _pump(parties)
    # The buyer tries to ship: its own driver refuses and the command fails with a reason.
    with pytest.raises(Exception, match="cannot ship"):
        parties["buyer"].service.ship(order_id)
    # Garbage, a replayed order and a message from a non-party are dropped, state unchanged.
    seller = parties["seller"]
    channel = seller.driver.channel
    assert isinstance(channel, Channel)
    buyer_key = parties["buyer"].profile.identity.signing_public
    ((_, order_payload),) = [(to, p) for to, p in channel.network.log if to == channel.me]
    box = channel.network.queues.setdefault(channel.me, [])
    box.append(InboundPayload(9001, buyer_key, b"junk"))
    box.append(InboundPayload(9002, buyer_key, order_payload.body))
    box.append(InboundPayload(9003, b"\x07" * 32, order_payload.body))
    assert seller.driver.process_inbound() == 3
    assert box == []
    assert _state(seller, order_id) == "S1_requested"
    refused = [e.detail for e in seller.service.order(order_id).timeline if e.kind == "refused"]
    assert any("replay" in d for d in refused)
    assert any("not a party" in d for d in refused)


def test_an_order_not_accepted_in_time_is_void(parties: dict[str, Party], clock: Clock) -> None:
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    order_id, _ = parties["buyer"].service.place_order(
        cid, shipping_option=0, address="x", arbiter=arbiter
    )
    _pump(parties)
    clock.now += 47 * 3600
    for p in parties.values():
        p.driver.process_timers()
    assert _state(parties["buyer"], order_id) == "S1_requested"
    clock.now += 2 * 3600  # past 48 h: the seller's own deadline (the others add 2 h grace)
    for p in parties.values():
        p.driver.process_timers()
    assert _state(parties["seller"], order_id) == "S10_void"
    assert _state(parties["buyer"], order_id) == "S1_requested"
    clock.now += 2 * 3600
    for p in parties.values():
        p.driver.process_timers()
    assert _state(parties["buyer"], order_id) == "S10_void"
    with pytest.raises(UsageError, match="cannot accept"):
        parties["seller"].service.accept(order_id)


def _accepted_escrow_order(parties: dict[str, Party], address: str = "x") -> str:
    """An escrow order placed and accepted; the escrows are started (recorded)."""
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    order_id, _ = parties["buyer"].service.place_order(
        cid, shipping_option=0, address=address, arbiter=arbiter
    )
    _pump(parties)
    parties["seller"].service.accept(order_id)
    _pump(parties)
    return order_id


def _funded_escrow_order(parties: dict[str, Party], clock: Clock) -> str:
    order_id = _accepted_escrow_order(parties, "1 Main St")
    ((terms, _),) = parties["buyer"].escrow.created
    for role in ADDRESS:
        funded = EscrowFunded(terms.amount, int(clock.now))
        parties[role].driver.escrow_event(bytes.fromhex(order_id), funded)
    return order_id


def _tick(parties: dict[str, Party]) -> None:
    for p in parties.values():
        p.driver.process_timers()
    _pump(parties)


def test_not_shipped_in_time_the_buyers_claim_opens_a_dispute(
    parties: dict[str, Party], clock: Clock
) -> None:
    order_id = _funded_escrow_order(parties, clock)
    buyer = parties["buyer"].service
    assert "claim-not-shipped" not in buyer.order(order_id).next_actions
    with pytest.raises(UsageError, match="this claim can be made from"):
        buyer.claim(order_id, "nothing came")

    clock.now += 7 * 86400  # the order's 7 ship days are over
    _tick(parties)
    assert "claim-not-shipped" in buyer.order(order_id).next_actions
    buyer.claim(order_id, "nothing came")
    _pump(parties)
    for role in ADDRESS:
        assert _state(parties[role], order_id) == "S7_disputed"


def test_shipping_data_is_deleted_after_the_trade(parties: dict[str, Party], clock: Clock) -> None:
    order_id = _funded_escrow_order(parties, clock)
    seller, buyer = parties["seller"].service, parties["buyer"].service
    seller.ship(order_id, tracking="TRACK-1")
    _pump(parties)
    buyer.confirm(order_id)
    _pump(parties)
    assert seller.order(order_id).shipping == "1 Main St"
    assert buyer.order(order_id).shipping == "TRACK-1"

    retention = parties["seller"].driver.config.shipping_retention_s
    clock.now += retention - 3600
    _tick(parties)
    assert seller.order(order_id).shipping == "1 Main St"  # kept until the retention ends
    clock.now += 2 * 3600
    _tick(parties)
    for service in (seller, buyer):
        view = service.order(order_id)
        assert view.shipping is None and view.summary.state == "S6_completed"
        assert "shipping data deleted" in [e.detail for e in view.timeline]


def test_place_order_checks_its_input(parties: dict[str, Party]) -> None:
    cid = _listing(parties)
    buyer = parties["buyer"].service
    arbiter = parties["arbiter"].profile.identity.signing_public
    with pytest.raises(UsageError, match="shipping option"):
        buyer.place_order(cid, arbiter=arbiter)
    with pytest.raises(UsageError, match="shipping address"):
        buyer.place_order(cid, shipping_option=0, arbiter=arbiter)
    with pytest.raises(UsageError, match="quantity"):
        buyer.place_order(cid, shipping_option=0, address="x", arbiter=arbiter, quantity=10**6)
    with pytest.raises(UsageError, match="not in the local index"):
        buyer.place_order(str(compute_cid(b"no such listing", "dag-cbor")), arbiter=arbiter)
    with pytest.raises(UsageError, match="own listing"):
        parties["seller"].service.place_order(cid, shipping_option=0, address="x", arbiter=arbiter)


def test_an_escrow_order_defaults_to_the_sellers_first_arbiter(parties: dict[str, Party]) -> None:
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    buyer = parties["buyer"].service
    seller_key = parties["seller"].profile.identity.signing_public
    (listed,) = buyer.seller_arbiters(seller_key) or []
    assert listed["known"] and listed["name"] == "Fair Judge" and listed["fee"] == "1 %"
    order_id, seq = buyer.place_order(cid, shipping_option=0, address="x")  # no arbiter named
    _pump(parties)
    assert buyer.command(seq).status == "done"  # type: ignore[union-attr]
    view = parties["seller"].service.order(order_id)
    assert view.summary.state == "S1_requested"  # the seller's own check passed
    assert view.summary.arbiter == listed["id"]
    assert parties["arbiter"].service.order(order_id).summary.role == "arbiter"
    # naming an arbiter the seller does not list is refused before anything is queued
    with pytest.raises(UsageError, match="does not accept this arbiter"):
        buyer.place_order(cid, shipping_option=0, address="x", arbiter=b"\x05" * 32)
    assert arbiter != b"\x05" * 32


def test_a_seller_who_lists_no_arbiter_gets_no_escrow_order(parties: dict[str, Party]) -> None:
    cid = _listing(parties, accept_arbiter=False)
    arbiter = parties["arbiter"].profile.identity.signing_public
    with pytest.raises(UsageError, match="accepts no arbiter"):
        parties["buyer"].service.place_order(cid, shipping_option=0, address="x")
    with pytest.raises(UsageError, match="accepts no arbiter"):
        parties["buyer"].service.place_order(cid, shipping_option=0, address="x", arbiter=arbiter)


def test_the_sellers_node_declines_an_arbiter_it_no_longer_accepts(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    order_id, _ = parties["buyer"].service.place_order(cid, shipping_option=0, address="x")
    SellerCatalog(parties["seller"].profile).set_arbiters([])  # changed its mind meanwhile
    _pump(parties)
    assert _state(parties["seller"], order_id) == "S11_declined"
    assert _state(parties["buyer"], order_id) == "S11_declined"


def test_a_buy_waits_for_the_arbiters_profile_then_fails_clearly(
    parties: dict[str, Party], clock: Clock
) -> None:
    cid = _listing(parties, profile=False)
    buyer = parties["buyer"]
    order_id, seq = buyer.service.place_order(cid, shipping_option=0, address="x")
    _pump(parties)
    assert buyer.service.command(seq).status == "queued"  # type: ignore[union-attr]
    clock.now += 121
    _pump(parties)
    command = buyer.service.command(seq)
    assert command is not None and command.status == "failed"
    assert "arbiter's profile was not found" in command.error
    assert parties["seller"].service.orders() == []
    assert order_id


def test_the_sellers_node_declines_a_direct_order_above_its_escrow_rule(
    parties: dict[str, Party],
) -> None:
    """The buyer's node has not synced the seller's rule yet: the seller's node enforces it,
    and the buyer reads why on its order."""
    cid = _listing(parties)
    buyer, seller = parties["buyer"].service, parties["seller"].service
    order_id, _ = buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    total = 0
    seller.set_seller_escrow_above(1)  # signed into a new catalog the buyer has not seen
    _pump(parties)
    for role in ("seller", "buyer"):
        view = parties[role].service.order(order_id)
        total = view.summary.total
        assert view.summary.state == "S11_declined"
        reasons = [e.detail for e in view.timeline if e.kind == "reason"]
        assert reasons == [
            "the seller declined: this seller requires escrow above 0.000000000001 XMR and the"
            f" order is {format_xmr(total, unit=True)}: order again and pay into escrow"
        ]
    # At the amount exactly, a direct order goes through; escrow above it does too.
    seller.set_seller_escrow_above(total)
    _sync_catalog(parties["seller"].profile, parties["buyer"].profile)
    direct, _ = buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    escrow, _ = buyer.place_order(cid, shipping_option=0, address="x", quantity=1)
    seller.set_seller_escrow_above(total - 1)
    _pump(parties)
    assert _state(parties["seller"], direct) == "S11_declined"
    assert _state(parties["seller"], escrow) == "S1_requested"
    seller.set_seller_escrow_above(None)
    again, _ = buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    _pump(parties)
    assert _state(parties["seller"], again) == "S1_requested"


def test_a_buyer_who_knows_the_rule_is_refused_before_anything_is_sent(
    parties: dict[str, Party],
) -> None:
    cid = _listing(parties)
    buyer, seller = parties["buyer"].service, parties["seller"].service
    seller.set_seller_escrow_above(1)
    _sync_catalog(parties["seller"].profile, parties["buyer"].profile)
    rule = buyer.escrow_rule(parties["seller"].profile.identity.signing_public)
    assert rule.seller_above == 1 and rule.buyer_above is None
    with pytest.raises(UsageError, match=r"^this seller requires escrow above 0\.000000000001 XMR"):
        buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    assert buyer.orders() == [] and parties["buyer"].driver.store.queued_commands() == []
    # The buyer's own rule, stored in its profile, refuses the same way.
    seller.set_seller_escrow_above(None)
    _sync_catalog(parties["seller"].profile, parties["buyer"].profile)
    buyer.set_buyer_escrow_above(1)
    assert TradeService(parties["buyer"].profile).buyer_escrow_above() == 1
    with pytest.raises(UsageError, match=r"^you chose to always use escrow above 0\.000000000001"):
        buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    buyer.place_order(cid, shipping_option=0, address="x")  # escrow is offered
    buyer.set_buyer_escrow_above(None)
    buyer.place_order(cid, shipping_option=0, address="x", payment="direct")
    with pytest.raises(UsageError, match=r"the amount is 0\.\.1000000\.00 XMR"):
        buyer.set_buyer_escrow_above(-1)


def test_payloads_waiting_for_unknown_orders_never_hide_the_others(
    parties: dict[str, Party],
) -> None:
    """A persona floods the seller with messages for orders that do not exist: at most
    `MAX_WAITING_PER_SENDER` of them are kept (the newest), and a real order placed after
    them is still read (the channel used to show only its oldest 256 payloads)."""
    from umbra.market import OrderAccept, encode_trade_message
    from umbra.market._trade_driver import MAX_PENDING, MAX_WAITING_PER_SENDER

    seller = parties["seller"]
    channel = seller.driver.channel
    assert isinstance(channel, Channel)
    stranger = b"\x07" * 32
    flood = MAX_PENDING + 50
    for n in range(flood):
        message = OrderAccept(
            payout_address=ADDRESS["seller"], payment_address=None,
            order=n.to_bytes(16, "big"), id=1, sender="seller",
        )  # fmt: skip
        channel.network.seq += 1
        payload = InboundPayload(channel.network.seq, stranger, encode_trade_message(message))
        channel.network.queues.setdefault(channel.me, []).append(payload)
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    order_id, _ = parties["buyer"].service.place_order(
        cid, shipping_option=0, address="x", arbiter=arbiter
    )
    _pump(parties)
    assert _state(seller, order_id) == "S1_requested"
    kept = [p for p in channel.network.queues[channel.me] if p.sender == stranger]
    assert len(kept) == MAX_WAITING_PER_SENDER
    assert [p.seq for p in kept] == list(range(flood - MAX_WAITING_PER_SENDER + 1, flood + 1))


def test_an_escrow_started_without_a_wallet_starts_when_the_wallet_comes(
    parties: dict[str, Party],
) -> None:
    """The seller's node had no wallet when the arbiter took the case: its order waits in
    escrow set-up and keeps the buyer's escrow messages; with a wallet, the escrow starts and
    finds them in its inbox."""
    from umbra.wallet import SetupInfo, encode_message

    seller = parties["seller"]
    recorder = seller.escrow
    seller.driver.escrow = None
    order_id = _accepted_escrow_order(parties)
    assert _state(seller, order_id) == "S3_escrow_setup"
    notices = [e.detail for e in seller.service.order(order_id).timeline if e.kind == "notice"]
    assert "no wallet: the escrow starts when the node runs with one" in notices
    payload = encode_message(SetupInfo(order_id, "buyer", 0, "MultisigV1" + "y" * 100))
    assert parties["buyer"].driver.send_escrow(bytes.fromhex(order_id), "seller", payload)
    _pump(parties)
    inbox = DatabaseMailbox(seller.profile.db, order_id, "seller")
    assert [data for _ref, data in inbox.receive()] == [payload]  # kept, not dropped

    seller.driver.escrow = recorder  # the node restarted with a wallet
    assert seller.driver.start_missing_escrows() == [bytes.fromhex(order_id)]
    ((terms, role),) = recorder.created
    assert role == "seller" and terms.escrow_id == order_id and terms.confirmations == 1
    assert seller.driver.open_orders() == [bytes.fromhex(order_id)]
    assert seller.driver.start_missing_escrows() == []  # once
