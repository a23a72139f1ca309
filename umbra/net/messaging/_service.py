"""The messaging service: attaches to a running `Node` and delivers chat messages and typed
application payloads (e.g. the trade protocol, see `_payloads`).

Jobs (tasks in one nursery, see `MessagingService.serve`):

- publish: the persona's prekey record in the DHT at start, hourly, and whenever a one-time
  prekey was used or the signed prekey rotated (checked daily).
- outbox: queued messages and payload chunks (written by `umbra messages send`, by
  `Inbox.queue_payload_at` in any process, or `queue_payload`) are encrypted, saved with the
  session state in one transaction, then delivered: directly to the recipient's node when its
  record names one and it answers, else left with the `mailbox_peers` DHT peers closest to
  the envelope's mailbox id. Failures are retried with backoff; the envelope is never
  re-encrypted (that would reuse message keys). The outbox is checked every
  `outbox_interval` and at once after `wake_outbox`.
- mailboxes: the persona's inbound mailbox ids are polled at start and every
  `poll_interval`; every envelope fetched is opened, decrypted and committed, and only then
  acknowledged (deleted) at the peer that held it.
- incoming payload chunks are reassembled in the database in the transaction that saves the
  ratchet state; a complete payload lands in the `PayloadQueue` and wakes `wait_payload`.
- mailbox peer: the node holds envelopes for others (`MailboxStore`), purged hourly.

It also serves ``/umbra/msg/1.0.0`` (direct delivery and mailbox requests) and registers the
``umbra-prekeys`` DHT validator. It uses the node's host, DHT and database limiter; it owns
the messaging state (sessions, inbox, mailbox store) of the profile.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from umbra.core import InvalidDocument
from umbra.core.crypto import ReplayedMessage
from umbra.store import Profile

from .._dht import get_fresh
from .._errors import NetError, ProtocolViolation
from .._node import Node
from .._ratelimit import PeerLimiter
from .._records import RecordValidator
from ._bundles import (
    MAX_RECORD_BYTES,
    PREKEY_NAMESPACE,
    PrekeyRecord,
    check_prekey_record_at,
    prekey_key,
    select_prekey_record,
    sign_prekey_record,
)
from ._delivery import DeliveryClient, DeliveryServer
from ._delivery_wire import (
    MSG_PROTOCOL_ID,
    Ack,
    Acked,
    Deliver,
    Delivered,
    End,
    Envelope,
    Fetch,
    Put,
    Refused,
    Request,
    Response,
    Stored,
)
from ._inbox import ChatPayload, Inbox, OutboxItem, parse_plaintext
from ._mailbox_store import MailboxRefused, MailboxStore, envelope_id
from ._sessions import Incoming, SessionManager, StateChanges
from ._store import DatabaseSessionStore

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Verdict = Literal["committed", "duplicate", "rejected"]


@dataclass(frozen=True, kw_only=True)
class MessagingConfig:
    # Publish the node's peer id in the prekey record so that senders can deliver directly.
    # Off: only mailboxes are used (the persona's node stays unlinked from its persona).
    publish_peer: bool = True
    mailbox_peers: int = 3
    envelope_ttl: int = 7 * 86_400
    poll_interval: float = 60.0
    first_polls: tuple[float, ...] = (1.0, 3.0, 8.0)
    outbox_interval: float = 0.5
    republish_interval: float = 3600.0
    route_cache_s: float = 300.0
    unreachable_s: float = 60.0
    closest_cache_s: float = 30.0
    put_grace_s: float = 2.0
    max_backoff_s: int = 300
    request_burst: float = 64.0
    request_rate: float = 16.0


class PrekeyRecordValidator(RecordValidator):
    """The libp2p adapter for the ``umbra-prekeys`` namespace (see `_bundles`)."""

    max_bytes = MAX_RECORD_BYTES

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def validate(self, key: str, value: bytes) -> None:
        check_prekey_record_at(key, value, self._clock())

    def select(self, key: str, values: list[bytes]) -> int:
        return select_prekey_record(values)


class MessagingService:
    def __init__(
        self,
        node: Node,
        profile: Profile,
        config: MessagingConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._node = node
        self._profile = profile
        self._config = config or MessagingConfig()
        self._clock = clock
        self._lock = trio.Lock()  # one encrypt/decrypt + save at a time
        self._manager: SessionManager | None = None
        self._sessions: DatabaseSessionStore | None = None
        self._inbox: Inbox | None = None
        self._mailbox: MailboxStore | None = None
        self._client = DeliveryClient(node.host, reach=node.reach)
        self._routes: dict[bytes, tuple[PrekeyRecord, float]] = {}
        # Recipients (persona keys) whose node did not take a direct delivery, and mailbox
        # peers (libp2p id bytes) that did not answer, with when: for `unreachable_s` the next
        # envelopes (e.g. the other chunks of a payload) skip them instead of waiting for
        # another dial to time out.
        self._unreachable: dict[bytes, float] = {}
        self._closest_cache: dict[bytes, tuple[list[ID], float]] = {}
        self._republish = trio.Event()
        self._last_record_at = 0
        self._limits = PeerLimiter(
            burst=self._config.request_burst,
            rate=self._config.request_rate,
            max_strikes=5,
            ban_seconds=600.0,
        )
        self._outbox_wake = trio.Event()
        self._payload_arrived = trio.Event()
        self.counters = {
            "delivered": 0, "stored": 0, "received": 0, "rejected": 0, "payloads": 0,
        }  # fmt: skip

    async def _db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        # The node's own runner: one database call at a time on the shared connection.
        return await self._node._db(fn, *args, **kwargs)

    def _now(self) -> int:
        return int(self._clock())

    @property
    def manager(self) -> SessionManager:
        assert self._manager is not None, "the messaging service is not running"
        return self._manager

    @property
    def inbox(self) -> Inbox:
        assert self._inbox is not None
        return self._inbox

    @property
    def mailbox(self) -> MailboxStore:
        assert self._mailbox is not None
        return self._mailbox

    # -- running -------------------------------------------------------------------------------

    def _open_state(self) -> None:
        db = self._profile.db
        self._sessions = DatabaseSessionStore(db)
        self._inbox = Inbox(db)
        self._mailbox = MailboxStore(db)
        manager = self._sessions.load()
        if manager is None:
            persona = self._profile.identity.signing
            manager, changes = SessionManager.create(persona, now=self._now())
            self._sessions.save(changes)
        self._manager = manager

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; ``task_status.started(self)`` once requests are served."""
        await self._db(self._open_state)
        node = self._node
        node.dht.register_validator(PREKEY_NAMESPACE, PrekeyRecordValidator(self._clock))
        server = DeliveryServer(
            self,
            admit=lambda peer: self._limits.allow_at(peer, self._clock()),
            strike=self._strike,
        )
        node.host.set_stream_handler(TProtocol(MSG_PROTOCOL_ID), server.handle)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._survive, self._publish_loop)
            nursery.start_soon(self._survive, self._outbox_loop)
            nursery.start_soon(self._survive, self._poll_loop)
            nursery.start_soon(self._survive, self._purge_loop)
            task_status.started(self)

    async def _survive(self, job: Callable[[], Any]) -> None:
        while True:
            try:
                await job()
                return
            except trio.Cancelled:
                raise
            except Exception:
                log.exception("%s failed; restarting it", getattr(job, "__name__", job))
                await trio.sleep(1)

    def _strike(self, peer: str, reason: str) -> None:
        verdict = self._limits.strike_at(peer, self._clock())
        log.info("peer %s misbehaved on %s (%s): strike %d", peer, MSG_PROTOCOL_ID, reason,
                 verdict.strikes)  # fmt: skip

    # -- state changes -------------------------------------------------------------------------

    async def _save(self, changes: StateChanges, then: Callable[[], object] | None = None) -> None:
        """Persist ``changes`` (and ``then``'s writes) in one transaction; reload on failure."""
        sessions = self._sessions
        assert sessions is not None

        def write() -> None:
            with self._profile.db.transaction():
                sessions.save(changes)
                if then is not None:
                    then()

        try:
            await self._db(write)
        except BaseException:
            # The in-memory manager is ahead of the disk: go back to what was saved.
            with trio.CancelScope(shield=True):
                reloaded = await self._db(sessions.load)
            if reloaded is not None:
                self._manager = reloaded
            raise
        if changes.bundle_changed:
            self._republish.set()

    # -- publishing the prekey record ----------------------------------------------------------

    async def publish_record(self) -> None:
        now = max(self._now(), self._last_record_at + 1)
        bundle = self.manager.prekey_bundle(self._profile.identity.signing, now=now)
        peer = self._node.peer_id if self._config.publish_peer else None
        record = sign_prekey_record(self._profile.identity.signing, bundle, peer=peer, now=now)
        self._last_record_at = now
        await self._node.dht.put_value(prekey_key(self.manager.persona), record)
        log.info("published prekey record (%d one-time prekeys)", len(bundle.one_time_prekeys))

    async def _publish_loop(self) -> None:
        await trio.sleep(self._config.first_polls[0] if self._config.first_polls else 0)
        last_rotation_check = -1e18
        while True:
            self._republish = trio.Event()
            if self._clock() - last_rotation_check >= 86_400:
                async with self._lock:
                    changes = self.manager.rotate_prekeys_at(self._now())
                    if changes is not None:
                        await self._save(changes)
                last_rotation_check = self._clock()
            try:
                await self.publish_record()
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. no peers yet: retry soon
                log.info("publishing the prekey record failed: %s", exc)
                await trio.sleep(5)
                continue
            with trio.move_on_after(self._config.republish_interval):
                await self._republish.wait()

    async def lookup(self, persona: bytes, *, fresh: bool = False) -> PrekeyRecord | None:
        """The persona's current prekey record from the DHT (network first, then local)."""
        cached = self._routes.get(persona)
        if cached and not fresh and self._clock() - cached[1] < self._config.route_cache_s:
            return cached[0]
        key = prekey_key(persona)
        # Network first, then the local copy, which keeps being served meanwhile (`get_fresh`).
        value = None
        with trio.move_on_after(15):
            value = await get_fresh(self._node.dht, key, quorum=3, select=select_prekey_record)
        if value is None:  # the lookup timed out: what we hold, if anything
            local = self._node.dht.value_store.get(key.encode())
            value = None if local is None else local.value
        if value is None:
            return None
        try:
            best = check_prekey_record_at(key, value, self._clock())
        except ValueError:
            return None
        self._routes[persona] = (best, self._clock())
        return best

    # -- sending -------------------------------------------------------------------------------

    def wake_outbox(self) -> None:
        """Look at the outbox now (after queueing in this process; others are seen within
        `MessagingConfig.outbox_interval`)."""
        self._outbox_wake.set()

    async def queue_payload(self, peer: bytes, kind: str, body: bytes) -> bytes:
        """Queue a typed payload for ``peer`` and wake the outbox; returns its message id.

        Raises: UsageError (bad kind, body over 1 MiB, bad peer key).
        """
        msg_id = await self._db(self.inbox.queue_payload_at, peer, kind, body, now=self._now())
        self.wake_outbox()
        return msg_id

    @property
    def payload_arrived(self) -> trio.Event:
        """Set when a payload was queued after this event was taken (then replaced).

        Race-free use: take the event, read `PayloadQueue.pending`, and wait on the event only
        if nothing was pending.
        """
        return self._payload_arrived

    async def wait_payload(self) -> None:
        """Wait until the next payload lands in the `PayloadQueue` (see `payload_arrived`)."""
        await self._payload_arrived.wait()

    def _announce_payload(self) -> None:
        self.counters["payloads"] += 1
        event, self._payload_arrived = self._payload_arrived, trio.Event()
        event.set()

    async def _outbox_loop(self) -> None:
        while True:
            self._outbox_wake = trio.Event()
            while await self._db(self.inbox.has_pending_at, self._now()):
                items = await self._db(self.inbox.pending_at, self._now())
                for item in items:
                    await self._send(item)
            with trio.move_on_after(self._config.outbox_interval):
                await self._outbox_wake.wait()

    async def _send(self, item: OutboxItem) -> None:
        try:
            envelope, mailbox = await self._encrypt(item)
            status = await self._deliver(item.peer, envelope, mailbox)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - no bundle, no peers, DB trouble: try later
            log.info("message %s not sent yet: %s", item.msg_id.hex()[:8], exc)
            status = None
        if status is None:
            delay = min(self._config.max_backoff_s, 2 ** min(item.attempts + 1, 16))
            await self._db(
                self.inbox.retry_at, item.peer, item.msg_id, self._now() + delay, part=item.part
            )
            return
        await self._db(self.inbox.mark_sent, item.peer, item.msg_id, status, part=item.part)
        self.counters[status] += 1
        log.info("message %s %s", item.msg_id.hex()[:8], status)

    async def _encrypt(self, item: OutboxItem) -> tuple[bytes, bytes]:
        if item.envelope is not None and item.mailbox is not None:
            return item.envelope, item.mailbox
        bundle = None
        if not self.manager.has_session(item.peer):
            record = await self.lookup(item.peer, fresh=True)
            if record is None:
                raise NetError("the recipient's prekey record was not found in the DHT")
            bundle = record.bundle
        async with self._lock:
            out = self.manager.encrypt(item.peer, item.payload, now=self._now(), bundle=bundle)
            inbox = self.inbox
            await self._save(
                out.changes,
                lambda: inbox.mark_encrypted(
                    item.peer, item.msg_id, out.envelope, out.mailbox_id, part=item.part
                ),
            )
        return out.envelope, out.mailbox_id

    async def _deliver(
        self, recipient: bytes, envelope: bytes, mailbox: bytes
    ) -> Literal["delivered", "stored"] | None:
        record = await self.lookup(recipient)
        me = self._node.peer_id
        failed_at = self._unreachable.get(recipient)
        recently_failed = (
            failed_at is not None and self._clock() - failed_at < self._config.unreachable_s
        )
        if (
            record is not None
            and record.peer is not None
            and record.peer != me
            and (not recently_failed)
        ):
            try:
                node = ID.from_base58(record.peer)
                await self._client.deliver(node, envelope)
                self._unreachable.pop(recipient, None)
                return "delivered"
            except (NetError, ProtocolViolation, ValueError) as exc:
                self._unreachable[recipient] = self._clock()
                log.info("direct delivery failed (%s); using mailboxes", exc)
                if isinstance(exc, NetError):
                    self._gone(node)
        candidates = await self._closest(mailbox)
        # Skip mailbox peers that just failed (e.g. the offline recipient's own node, still in
        # the routing table), unless nobody else is left to try.
        now = self._clock()
        live = [
            p for p in candidates
            if now - self._unreachable.get(p.to_bytes(), -1e18) >= self._config.unreachable_s
        ] or candidates  # fmt: skip
        stored = 0

        async def put(peer: ID, nursery: trio.Nursery) -> None:
            nonlocal stored
            answered = False
            try:
                await self._client.put(peer, mailbox, envelope, self._config.envelope_ttl)
                answered = True
            except (NetError, ProtocolViolation) as exc:
                log.info("mailbox peer %s did not take the envelope: %s", peer, exc)
                return
            finally:
                if not answered:  # failed, or still silent when the grace ended: skip it a while
                    self._unreachable[peer.to_bytes()] = self._clock()
            self._unreachable.pop(peer.to_bytes(), None)
            stored += 1
            if stored == 1:  # the envelope is safe: the others get a short grace, not a timeout
                nursery.cancel_scope.deadline = min(
                    nursery.cancel_scope.deadline, trio.current_time() + self._config.put_grace_s
                )

        async with trio.open_nursery() as nursery:  # all at once: a dead peer costs one timeout
            for peer in live:
                nursery.start_soon(put, peer, nursery)
        return "stored" if stored else None

    def _gone(self, peer: ID) -> None:
        """``peer``'s node did not answer: skip it as a mailbox peer for ``unreachable_s``, and
        drop it from the DHT routing table so mailbox lookups do not wait for its timeout (it
        is added again when it connects)."""
        self._unreachable[peer.to_bytes()] = self._clock()
        self._closest_cache.clear()
        with contextlib.suppress(Exception):  # the library's table: never fail a delivery
            self._node.dht.routing_table.remove_peer(peer)

    async def _closest(self, mailbox: bytes) -> list[ID]:
        # Envelopes in a row for one mailbox (the chunks of a payload) share one lookup: a
        # network lookup that meets a dead peer waits for its timeout.
        cached = self._closest_cache.get(mailbox)
        if cached is not None and self._clock() - cached[1] < self._config.closest_cache_s:
            return cached[0]
        me = self._node.host.get_id()
        try:
            with trio.move_on_after(15):
                found = await self._node.dht.peer_routing.find_closest_peers_network(
                    mailbox, self._config.mailbox_peers + 1
                )
                closest = [p for p in found if p != me][: self._config.mailbox_peers]
                if closest:
                    if len(self._closest_cache) > 1024:
                        self._closest_cache.clear()
                    self._closest_cache[mailbox] = (closest, self._clock())
                return closest
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            log.info("closest-peer lookup failed: %s", exc)
        return []

    # -- receiving -----------------------------------------------------------------------------

    async def accept(self, envelope: bytes) -> Verdict:
        """Open, decrypt and commit one envelope. "committed"/"duplicate" may be acknowledged."""
        async with self._lock:
            try:
                incoming = self.manager.open_envelope(envelope)
            except ReplayedMessage:
                return "duplicate"
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - InvalidDocument family, hostile bytes
                self.counters["rejected"] += 1
                log.info("rejected an envelope: %s", exc)
                return "rejected"
            outcome: list[str] = []
            await self._save(incoming.changes, self._recorder(incoming, outcome))
        self.counters["received"] += 1
        if outcome == ["queued"]:
            self._announce_payload()
        elif outcome == ["refused"]:
            log.info("refused a payload chunk from %s", incoming.sender.hex()[:16])
        return "committed"

    def _recorder(self, incoming: Incoming, outcome: list[str]) -> Callable[[], object]:
        """The writes that go with the session state of ``incoming`` (one transaction); what
        happened to a payload chunk is appended to ``outcome``."""
        inbox, now, sender = self.inbox, self._now(), incoming.sender
        try:
            payload = parse_plaintext(incoming.plaintext)
        except InvalidDocument as exc:
            # The session advanced (that must be saved); the content is dropped.
            log.info("dropped a message with a malformed payload: %s", exc)
            return lambda: None
        if isinstance(payload, ChatPayload):
            return lambda: inbox.record_incoming(sender, payload, now=now)
        chunk = payload
        return lambda: outcome.append(inbox.payloads.record_chunk(sender, chunk, now=now))

    async def _poll_loop(self) -> None:
        previous = 0.0
        for at in self._config.first_polls:
            await trio.sleep(at - previous)
            previous = at
            await self.poll_mailboxes()
        while True:
            await trio.sleep(self._config.poll_interval)
            await self.poll_mailboxes()

    async def poll_mailboxes(self) -> int:
        """Fetch, commit and acknowledge what mailbox peers hold for us; returns how many."""
        got = 0
        for mailbox in self.manager.inbound_mailboxes(now=self._now()):
            local = await self._db(self.mailbox.fetch_at, mailbox, now=self._now())
            if local:
                verdicts = [await self.accept(h.envelope) for h in local]
                got += sum(v == "committed" for v in verdicts)
                await self._db(self.mailbox.ack, mailbox, [h.id for h in local])
            for peer in await self._closest(mailbox):
                got += await self._drain(peer, mailbox)
        return got

    async def _drain(self, peer: ID, mailbox: bytes) -> int:
        try:
            envelopes = await self._client.fetch(peer, mailbox)
        except ProtocolViolation as exc:
            self._strike(str(peer), exc.reason)
            return 0
        except NetError as exc:
            log.debug("fetch from %s failed: %s", peer, exc)
            return 0
        if not envelopes:
            return 0
        # Acknowledge committed ones, duplicates and ones that can never be opened alike: only
        # after the decision is on disk.
        verdicts = [await self.accept(env) for env in envelopes]
        try:
            await self._client.ack(peer, mailbox, [envelope_id(e) for e in envelopes])
        except (NetError, ProtocolViolation) as exc:
            log.info("ack to %s failed (the envelopes will be fetched again): %s", peer, exc)
        return sum(v == "committed" for v in verdicts)

    # -- serving requests ----------------------------------------------------------------------

    async def on_request(self, peer: str, request: Request) -> list[Response]:
        now = self._now()
        match request:
            case Deliver(envelope):
                verdict = await self.accept(envelope)
                if verdict == "rejected":
                    return [Refused("undecryptable")]
                return [Delivered(envelope_id(envelope))]
            case Put(mailbox, envelope, ttl):
                try:
                    eid = await self._db(
                        self.mailbox.put_at, mailbox, envelope, depositor=peer, ttl=ttl, now=now
                    )
                except MailboxRefused as exc:
                    return [Refused(exc.reason)]
                return [Stored(eid)]
            case Fetch(mailbox, limit):
                held = await self._db(self.mailbox.fetch_at, mailbox, now=now, limit=limit)
                return [*(Envelope(h.id, h.envelope) for h in held), End()]
            case Ack(mailbox, ids):
                return [Acked(await self._db(self.mailbox.ack, mailbox, list(ids)))]

    async def _purge_loop(self) -> None:
        while True:
            purged = await self._db(self.mailbox.purge_at, self._now())
            if purged:
                log.info("purged %d expired envelopes", purged)
            dropped = await self._db(self.inbox.payloads.purge_at, self._now())
            if dropped:
                log.info("dropped %d chunks of incomplete payloads", dropped)
            await trio.sleep(3600)


async def serve_messaging(
    node: Node,
    profile: Profile,
    config: MessagingConfig | None = None,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the messaging service on a running node until cancelled (``umbra node`` uses it)."""
    await MessagingService(node, profile, config).serve(task_status=task_status)
