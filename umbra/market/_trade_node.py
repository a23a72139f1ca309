"""`serve_trade`: the trade driver and the escrows of one profile, inside `umbra node`.

Adapters from the driver's ports to the real world:

- the payload channel is the messaging layer's (`Inbox.queue_payload_at`, `PayloadQueue`);
  the driver writes and consumes inside its own transactions on ITS OWN connection to the
  profile database (the node runs its store calls in a worker thread on another one; WAL
  and the busy timeout serialise the writers), then wakes the messaging outbox;
- sealing keys: a persona's envelope key comes from its signed prekey record in the DHT
  (`MessagingService.lookup`, which verifies it); we open boxes sealed to us with our
  messaging identity's envelope secret;
- wallets: the profile's sandbox wallet-rpc (``<profile>``) for fresh subaddresses and
  paying the escrow, and ``<profile>.escrow`` for the escrow wallets (`umbra sandbox up`
  starts both). Without them escrow orders wait in set-up and say so on their timeline;
  their escrows start (and read the peers' messages kept meanwhile) when the node next runs
  with the wallets.
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from umbra.core import UmbraError, UsageError, first_hidden, hidden_message
from umbra.core.crypto import decode_public_key, short_id
from umbra.store import Profile
from umbra.wallet import (
    DatabaseMailbox,
    DirectPayments,
    DriverOptions,
    EscrowParty,
    PartyWallets,
    Sandbox,
    SandboxError,
    WalletError,
    WalletStore,
)

from ._arbiters import ArbiterOffer
from ._listings import SellerCatalog
from ._order_types import OrderConfig
from ._trade_direct import DirectPaymentBridge
from ._trade_driver import ARBITER_KEY, TradeDriver
from ._trade_escrow import EscrowBridge
from ._trade_ports import InboundPayload
from ._trade_service import ARBITERS_KEY
from ._trade_store import TradeStore

if TYPE_CHECKING:
    from umbra.net.messaging import MessagingService

log = logging.getLogger(__name__)

ESCROW_MAIL_DIR = "escrow-mail"


@dataclass(frozen=True)
class TradeOptions:
    """How the node runs trades.

    Attributes:
        data_dir: the Umbra data directory (where the sandbox lives).
        arbiter: act as an arbiter: take escrow cases that name us, and publish a signed
            arbiter profile (``arbiter_name`` — default: "Arbiter <short id>" —,
            ``arbiter_fee``, ``arbiter_terms``; see `_arbiters`).
        confirmations: funding confirmations before an escrow counts as funded.
        poll_s: how often to look for queued commands (payloads also wake the loop).
    """

    data_dir: Path
    arbiter: bool = False
    arbiter_terms: str = ""
    arbiter_name: str = ""
    arbiter_fee: str = ""
    confirmations: int = 10
    poll_s: float = 0.2
    config: OrderConfig | None = None


class MessagingChannel:
    """`PayloadChannel` over the messaging tables of one database connection."""

    def __init__(self, profile: Profile) -> None:
        from umbra.net.messaging import Inbox, PayloadQueue

        self._inbox = Inbox(profile.db)
        self._queue = PayloadQueue(profile.db)
        self.queued = 0

    def queue_payload_at(self, peer: bytes, kind: str, body: bytes, *, now: int) -> bytes:
        self.queued += 1
        msg_id: bytes = self._inbox.queue_payload_at(peer, kind, body, now=now)
        return msg_id

    def pending(self, kind: str, limit: int, *, after: int = 0) -> list[InboundPayload]:
        rows = self._queue.pending(kind, limit, after=after)
        return [InboundPayload(p.seq, p.sender, p.body) for p in rows]

    def consume(self, seq: int) -> None:
        self._queue.consume(seq)


class NodePorts:
    """`TradePorts` through the running messaging service and the profile's wallet."""

    def __init__(self, messaging: "MessagingService", main_wallet: Any | None) -> None:
        self._messaging = messaging
        self._wallet = main_wallet  # an RpcClient, or None

    async def envelope_key(self, persona: bytes) -> bytes | None:
        record = await self._messaging.lookup(persona)
        if record is None:
            return None
        key: bytes = record.bundle.certificate.envelope_key
        return key

    def open_sealed(self, data: bytes) -> bytes:
        # The envelope secret belongs to the messaging identity and stays in its manager.
        return self._messaging.manager.open_sealed(data)

    async def fresh_address(self, label: str) -> str:
        if self._wallet is None:
            raise WalletError("no wallet: run `umbra sandbox up` (or connect a wallet)")
        result = await self._wallet.call("create_address", {"account_index": 0, "label": label})
        return str(result["address"])


def _escrow_party(profile: Profile, data_dir: Path) -> tuple[EscrowParty | None, Any | None]:
    """The profile's sandbox wallets, if the sandbox runs them."""
    sandbox = Sandbox(data_dir)
    try:
        main = sandbox.wallet(profile.name)
    except SandboxError:
        return None, None
    try:
        escrow = sandbox.wallet(f"{profile.name}.escrow")
    except SandboxError:
        return None, main.client()
    wallets = PartyWallets(
        escrow_rpc=escrow.client(),
        wallet_dir=escrow.wallet_dir,
        ringdb_dir=sandbox.root / "ringdb",
        main_rpc=main.client(),
    )
    options = DriverOptions(poll_interval=0.1)
    party = EscrowParty(WalletStore(profile.db), wallets, profile.path / ESCROW_MAIL_DIR, options)
    return party, main.client()


async def serve_trade(
    messaging: "MessagingService",
    profile: Profile,
    options: TradeOptions,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run every order of ``profile`` until cancelled. ``profile`` must be a connection of
    its own (not the node's)."""
    party, main_wallet = _escrow_party(profile, options.data_dir)
    bridge = None
    if party is not None:
        bridge = EscrowBridge(party)
        # Escrow messages of older versions waited in plaintext files: move them in.
        DatabaseMailbox.import_files(profile.db, profile.path / ESCROW_MAIL_DIR)
    channel = MessagingChannel(profile)
    direct = None
    if main_wallet is not None:
        desk = DirectPayments(
            WalletStore(profile.db), main_wallet, confirmations=options.confirmations
        )
        direct = DirectPaymentBridge(desk, main_wallet)
    driver = TradeDriver(
        profile,
        channel,
        NodePorts(messaging, main_wallet),
        bridge,
        direct=direct,
        config=options.config,
        confirmations=options.confirmations,
    )
    if bridge is not None:
        bridge.attach(driver)
    if direct is not None:
        direct.attach(driver)
    adopt_legacy_arbiters(profile)
    driver.on_change = lambda _order, _state: messaging.wake_outbox()
    with driver.store.db.transaction():
        value = json.dumps({"terms": options.arbiter_terms}) if options.arbiter else ""
        driver.store.set_config(ARBITER_KEY, value)
    async with trio.open_nursery() as nursery:
        if bridge is not None:
            await nursery.start(bridge.serve)
            if party is not None:
                nursery.start_soon(_prepare_spare, party)
        if direct is not None:
            await nursery.start(direct.serve)
        task_status.started(driver)
        while True:
            before = channel.queued
            try:
                await driver.process_commands()
                driver.process_inbound()
                driver.process_timers()
            except UmbraError as exc:  # e.g. the database busy for long: try again soon
                log.warning("trade step failed: %s", exc)
            if channel.queued != before:
                messaging.wake_outbox()
            with trio.move_on_after(options.poll_s):
                await messaging.wait_payload()


async def _prepare_spare(party: EscrowParty) -> None:
    """Make the next escrow wallet ahead of time (wallet creation takes seconds)."""
    started = time.monotonic()
    try:
        await party.prepare_spare_wallet()
    except WalletError as exc:
        log.info("could not prepare a spare escrow wallet: %s", exc)
    else:
        log.info("spare escrow wallet ready in %.1f s", time.monotonic() - started)


def arbiter_offer(profile: Profile, options: TradeOptions) -> ArbiterOffer | None:
    """What `serve_arbiters` publishes for ``--arbiter`` (None: not an arbiter)."""
    if not options.arbiter:
        return None
    name = options.arbiter_name.strip() or f"Arbiter {short_id(profile.identity.signing_public)}"
    for label, text in (("--arbiter-name", name), ("--arbiter-fee", options.arbiter_fee)):
        hidden = first_hidden(text)
        if hidden is not None:  # others see these: refuse now, not when the node publishes
            raise UsageError(hidden_message(hidden, label))
    return ArbiterOffer(name=name, fee=options.arbiter_fee, terms=options.arbiter_terms)


def adopt_legacy_arbiters(profile: Profile) -> None:
    """Session-2 profiles kept the accepted arbiters in ``trade_config`` only: move them into
    the catalog (which is now the one list) once, and clear the old key."""
    store = TradeStore(profile.db)
    text = store.get_config(ARBITERS_KEY)
    if not text:
        return
    catalog = SellerCatalog(profile)
    if not catalog.arbiters():
        keys = [decode_public_key(a) for a in text.split(",") if a]
        catalog.set_arbiters(
            [k for k in dict.fromkeys(keys) if k != profile.identity.signing_public]
        )
    with store.db.transaction():
        store.set_config(ARBITERS_KEY, "")
