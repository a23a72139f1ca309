"""What the trade driver needs from the world, as narrow protocols (adapters in `_trade_node`).

- `PayloadChannel`: the durable end-to-end encrypted payload channel of
  `umbra.net.messaging` (kind ``"trade"``). Sending queues a body for a persona inside the
  caller's transaction; receiving lists what arrived (oldest first) and consumes an item
  inside the transaction that committed its effect, so a payload is never lost or applied
  twice across a crash.
- `TradePorts`: sealing keys and fresh wallet addresses (async: the DHT, wallet-rpc).
- `EscrowPort`: the escrow side of an order (`_trade_escrow.EscrowBridge` in a node). A
  peer's escrow message does not go through it: the driver writes it into the escrow's
  inbox (`umbra.wallet.DatabaseMailbox`) inside its own step, whether or not the escrow
  exists yet.
- `DirectPort`: the seller's payment subaddress of a direct-payment order
  (`_trade_direct.DirectPaymentBridge` in a node).
"""

from dataclasses import dataclass
from typing import Protocol

from umbra.wallet import EscrowTerms

TRADE_KIND = "trade"


@dataclass(frozen=True)
class InboundPayload:
    seq: int
    sender: bytes  # the sender persona's key, as the messaging session authenticated it
    body: bytes


class PayloadChannel(Protocol):
    def queue_payload_at(self, peer: bytes, kind: str, body: bytes, *, now: int) -> bytes: ...

    def pending(self, kind: str, limit: int, *, after: int = 0) -> list[InboundPayload]:
        """Unconsumed payloads of ``kind`` with ``seq`` above ``after``, oldest first."""

    def consume(self, seq: int) -> None: ...


class TradePorts(Protocol):
    async def envelope_key(self, persona: bytes) -> bytes | None:
        """The persona's sealed-box key (from its signed prekey record), None if not found."""

    def open_sealed(self, data: bytes) -> bytes:
        """Open a sealed box made for us. Raises: InvalidDocument."""

    async def fresh_address(self, label: str) -> str:
        """A new receiving subaddress of our own wallet. Raises: WalletError."""


class EscrowPort(Protocol):
    def create(self, order_id: bytes, terms: EscrowTerms, role: str) -> None:
        """Record a new escrow (inside the caller's transaction)."""

    def update(self, order_id: bytes) -> None:
        """The order's payout decision or halt changed: (re)start or stop its escrow."""


class DirectPort(Protocol):
    async def payment_address(self, order_id: bytes, amount: int, expires_at: int) -> str:
        """A fresh subaddress of our wallet, watched for this order's payment (idempotent).
        Raises: WalletError."""
