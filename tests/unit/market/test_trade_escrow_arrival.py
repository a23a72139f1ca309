"""Escrow messages reach our escrow whatever the order of arrival (issue 15, item 8).

Five escrow orders placed at once stalled one: the seller heard the buyer's first escrow
message before the arbiter's "arbiter-accept"; the order machine kept it (early) and replayed
it in the step that starts the escrow, but the driver handed it over before that step created
the escrow, so it was dropped — and counted as applied. Here the seller's node is the real
driver with the real escrow bridge (no wallet call is made: the escrow runner is not
started), fed every arrival order of the same three messages.
"""

import itertools
from pathlib import Path

import trio

from umbra.market import EscrowWrapper, OrderMachine, parse_trade_message
from umbra.market._order_machine import input_name
from umbra.market._trade_escrow import EscrowBridge
from umbra.market._trade_ports import InboundPayload
from umbra.wallet import (
    DatabaseMailbox,
    EscrowParty,
    PartyWallets,
    RpcClient,
    SetupInfo,
    WalletStore,
    encode_message,
)

from .test_trade_driver import (  # noqa: F401 (fixtures)
    Channel,
    Party,
    _listing,
    _pump,
    _state,
    clock,
    parties,
)


def _real_escrow(party: Party, tmp_path: Path) -> EscrowParty:
    unused = RpcClient("http://127.0.0.1:9")  # creating an escrow record calls no wallet
    wallets = PartyWallets(escrow_rpc=unused, wallet_dir=tmp_path, ringdb_dir=tmp_path)
    escrow = EscrowParty(WalletStore(party.profile.db), wallets, tmp_path / "mail")
    bridge = EscrowBridge(escrow)
    bridge.attach(party.driver)
    party.driver.escrow = bridge
    return escrow


def _settle(world: dict[str, Party], roles: tuple[str, ...]) -> None:
    """Deliver what is in flight to ``roles`` only (the seller's inbox is left alone)."""
    while sum(world[r].driver.process_inbound() for r in roles):
        pass


def test_escrow_messages_reach_the_sellers_escrow_in_every_arrival_order(
    parties: dict[str, Party],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    seller = parties["seller"]
    escrow = _real_escrow(seller, tmp_path)
    channel = seller.driver.channel
    assert isinstance(channel, Channel)
    arbiter_key = parties["arbiter"].profile.identity.signing_public
    for arrival in itertools.permutations(("arbiter-accept", "buyer", "arbiter")):
        cid = _listing(parties)
        order_id, _ = parties["buyer"].service.place_order(
            cid, shipping_option=0, address="x", arbiter=arbiter_key
        )
        _pump(parties)
        seller.service.accept(order_id)
        trio.run(seller.driver.process_commands)
        _settle(parties, ("buyer", "arbiter"))  # both start their escrows (S3)
        assert _state(parties["buyer"], order_id) == "S3_escrow_setup"
        assert _state(seller, order_id) == "S2_accepted"
        # Their escrows' first set-up message to the seller, sent as their bridges do.
        sent = {}
        for role in ("buyer", "arbiter"):
            payload = encode_message(SetupInfo(order_id, role, 0, f"MultisigV1{role}" * 8))  # type: ignore[arg-type]
            assert parties[role].driver.send_escrow(bytes.fromhex(order_id), "seller", payload)
            sent[role] = payload
        box = channel.network.queues[channel.me]
        by_kind = {_kind(parties, p): p for p in box}
        assert sorted(by_kind) == sorted(arrival)  # arbiter-accept and the two escrow messages
        box[:] = [by_kind[k] for k in arrival]

        while seller.driver.process_inbound():
            pass

        assert _state(seller, order_id) == "S3_escrow_setup", arrival
        assert escrow.store.load_escrow(order_id) is not None, arrival
        inbox = DatabaseMailbox(seller.profile.db, order_id, "seller")
        got = sorted(data for _ref, data in inbox.receive())
        assert got == sorted(sent.values()), f"lost an escrow message when {arrival}"
        # Applied (seen) exactly the messages that are in the inbox; nothing waits early.
        row = seller.driver.store.order(bytes.fromhex(order_id))
        assert row is not None
        machine = OrderMachine.from_bytes(row.machine)
        assert machine.data.early == []
        # A re-sent copy (the sender crashed before it recorded the send) changes nothing.
        box.append(by_kind["buyer"])
        seller.driver.process_inbound()
        assert sorted(data for _ref, data in inbox.receive()) == got


def _kind(world: dict[str, Party], payload: InboundPayload) -> str:
    """ "arbiter-accept", or the sender's role for an escrow message."""
    message = parse_trade_message(payload.body)
    if isinstance(message, EscrowWrapper):
        return next(
            r for r, p in world.items() if p.profile.identity.signing_public == payload.sender
        )
    return input_name(message)
