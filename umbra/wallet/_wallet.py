"""The simple wallet the user sees: add funds, balance, history, send with a fee preview.

Amounts are integer piconero here; `umbra.core.format_xmr` turns them into text at the edges.
"""

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import segno

from umbra.core import UsageError, format_xmr

from ._escrow_messages import address_ok
from ._rpc import RpcClient


@dataclass(frozen=True)
class FundingRequest:
    """Where to send coins: a fresh subaddress, its ``monero:`` URI and a QR code (PNG)."""

    address: str
    subaddress_index: int
    uri: str
    qr_png: bytes


@dataclass(frozen=True)
class Balance:
    total: int
    unlocked: int
    blocks_to_unlock: int

    @property
    def locked(self) -> int:
        return self.total - self.unlocked


@dataclass(frozen=True)
class Transfer:
    txid: str
    direction: str  # "in" | "out" | "pending" | "pool" | "failed"
    amount: int
    fee: int
    height: int
    confirmations: int
    timestamp: int
    subaddress_index: int


@dataclass(frozen=True)
class SendPreview:
    address: str
    amount: int
    fee: int
    tx_metadata: str  # relay this exact transaction with `UserWallet.send`


def monero_uri(address: str, amount: int | None = None, description: str = "") -> str:
    """A ``monero:`` URI (BIP-21 style) for wallets and QR codes."""
    params = []
    if amount:
        params.append(f"tx_amount={format_xmr(amount)}")
    if description:
        params.append(f"tx_description={quote(description)}")
    return f"monero:{address}" + ("?" + "&".join(params) if params else "")


async def earlier_transfer_to(rpc: RpcClient, address: str, amount: int) -> str | None:
    """The txid of a transfer of exactly ``amount`` to ``address`` this wallet already made
    (sent, pending or in the pool), if any: how a payer that may have crashed after its
    ``transfer`` call avoids paying twice (each address here serves one payment)."""
    await rpc.call("refresh")
    earlier = await rpc.call("get_transfers", {"out": True, "pending": True, "pool": True})
    for kind in ("out", "pending", "pool"):
        for t in earlier.get(kind, []):
            for dest in t.get("destinations", []):
                if dest.get("address") == address and int(dest["amount"]) == amount:
                    return str(t["txid"])
    return None


def _transfer(t: dict[str, Any], direction: str) -> Transfer:
    return Transfer(
        txid=str(t["txid"]),
        direction=direction,
        amount=int(t["amount"]),
        fee=int(t.get("fee", 0)),
        height=int(t.get("height", 0)),
        confirmations=int(t.get("confirmations", 0)),
        timestamp=int(t.get("timestamp", 0)),
        subaddress_index=int(t.get("subaddr_index", {}).get("minor", 0)),
    )


def qr_png(text: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


class UserWallet:
    """The user's own wallet in a monero-wallet-rpc (account 0)."""

    def __init__(self, rpc: RpcClient, *, account: int = 0) -> None:
        self.rpc = rpc
        self.account = account

    async def funding_request(
        self, *, amount: int | None = None, label: str = "", description: str = ""
    ) -> FundingRequest:
        """A fresh subaddress (one per request or order), with URI and QR code."""
        r = await self.rpc.call(
            "create_address", {"account_index": self.account, "label": label[:100]}
        )
        address = str(r["address"])
        uri = monero_uri(address, amount, description)
        return FundingRequest(address, int(r["address_index"]), uri, qr_png(uri))

    async def balance(self) -> Balance:
        r = await self.rpc.call("get_balance", {"account_index": self.account})
        return Balance(
            int(r["balance"]), int(r["unlocked_balance"]), int(r.get("blocks_to_unlock", 0))
        )

    async def history(self, *, subaddress_index: int | None = None) -> list[Transfer]:
        params: dict[str, object] = {
            "in": True,
            "out": True,
            "pending": True,
            "pool": True,
            "failed": True,
            "account_index": self.account,
        }
        if subaddress_index is not None:
            params["subaddr_indices"] = [subaddress_index]
        # wallet-rpc refreshes on its own only every ~20 s; a user looking at the history
        # expects to see a sent payment as "out" as soon as it is in a block.
        await self.rpc.call("refresh")
        r = await self.rpc.call("get_transfers", params)
        items = [
            _transfer(t, direction)
            for direction in ("in", "out", "pending", "pool", "failed")
            for t in r.get(direction, [])
        ]
        return sorted(items, key=lambda t: (t.height == 0, t.height, t.timestamp))

    async def received(self, txids: Iterable[str]) -> list[Transfer]:
        """What this wallet received in the transactions ``txids`` (e.g. an escrow payout),
        with each transaction's network fee as the wallet saw it; pool included."""
        wanted = set(txids)
        if not wanted:
            return []
        await self.rpc.call("refresh")
        r = await self.rpc.call(
            "get_transfers", {"in": True, "pool": True, "account_index": self.account}
        )
        return [
            _transfer(t, direction)
            for direction in ("in", "pool")
            for t in r.get(direction, [])
            if str(t.get("txid")) in wanted
        ]

    async def preview_send(self, address: str, amount: int) -> SendPreview:
        """Build (but do not broadcast) the transaction, to show the exact fee first."""
        if not address_ok(address):
            raise UsageError("that is not a Monero address")
        if amount <= 0:
            raise UsageError("the amount must be more than zero")
        check = await self.rpc.call("validate_address", {"address": address})
        if not check.get("valid"):
            raise UsageError("that address is not valid for this wallet's network")
        r = await self.rpc.call(
            "transfer",
            {
                "destinations": [{"address": address, "amount": amount}],
                "account_index": self.account,
                "do_not_relay": True,
                "get_tx_metadata": True,
            },
        )
        return SendPreview(address, amount, int(r["fee"]), str(r["tx_metadata"]))

    async def send(self, preview: SendPreview) -> str:
        """Broadcast the previewed transaction; returns its txid."""
        r = await self.rpc.call("relay_tx", {"hex": preview.tx_metadata})
        return str(r["tx_hash"])
