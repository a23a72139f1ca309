"""Direct payments for orders against a real monero-wallet-rpc: the API the trade layer calls.

One `DirectPayments` per receiving wallet (the seller's own wallet). For each order:

1. `request(order_id, amount, expires_at=...)` makes a fresh subaddress, commits the order's
   payment record and returns its `PaymentStatus` (address, ``monero:`` URI, what is due).
   Calling it again for the same order returns the stored record: no second address.
2. `check(order_id)` asks the wallet once (``refresh`` + ``get_transfers {in, pool}`` on
   that subaddress), feeds the totals and the clock to the `PaymentMachine`, COMMITS the new
   state (with audit rows) and only then returns the status with this check's notices.
   `watch(order_id)` repeats `check` until the payment is final (paid or expired), and
   rides out a wallet that is down or slow (clear error to ``on_error``, retry with back-off).
3. `status(order_id)` reads the stored status without touching the wallet.

Everything is keyed by ``order_id`` and stored in the profile's encrypted database, so a node
that restarts simply calls `open_orders()` and `watch` (or `check`) again. Nothing here knows
about HTTP, the UI or the network.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from umbra.core import UsageError, format_xmr

from ._errors import WalletError, WalletUnavailable
from ._payment import PaymentData, PaymentMachine, PaymentNotice, PaymentObserved, PaymentState
from ._payment import Tick as PaymentTick
from ._rpc import RpcClient
from ._state_store import WalletStore
from ._wallet import monero_uri

DEFAULT_CONFIRMATIONS = 10
FINAL_STATES = (PaymentState.P3_PAID, PaymentState.P4_EXPIRED)


@dataclass(frozen=True)
class PaymentStatus:
    """What the buyer and seller are shown about one order's payment (amounts in piconero).

    ``received`` counts everything sent to the order's subaddress, pool included;
    ``confirmed`` only coins with at least ``confirmations_required`` confirmations.
    ``notices`` are the changes found by the `check` that returned this status (already
    committed and in the audit log); `status` returns none.
    """

    order_id: str
    state: PaymentState
    address: str
    uri: str
    amount: int
    received: int
    confirmed: int
    missing: int
    excess: int
    confirmations: int  # the fewest confirmations among the incoming transfers
    confirmations_required: int
    expires_at: int
    seconds_left: int  # until expiry while nothing (or not enough) was seen; else 0
    txids: tuple[str, ...]
    final: bool
    message: str
    notices: tuple[PaymentNotice, ...] = ()


class DirectPayments:
    """Per-order payments into one wallet (account ``account``) of a monero-wallet-rpc.

    Args:
        store: the profile's wallet tables (payment records and audit log).
        rpc: the receiving wallet's monero-wallet-rpc.
        clock: Unix seconds; injected so tests can move time (expiry) without waiting.
        confirmations: the default number of confirmations before "paid" (10).
    """

    def __init__(
        self,
        store: WalletStore,
        rpc: RpcClient,
        *,
        account: int = 0,
        clock: Callable[[], float] = time.time,
        confirmations: int = DEFAULT_CONFIRMATIONS,
    ) -> None:
        self.store = store
        self.rpc = rpc
        self.account = account
        self._clock = clock
        self.confirmations = confirmations

    # -- the order's payment record ------------------------------------------------------------

    async def request(
        self,
        order_id: str,
        amount: int,
        *,
        expires_at: int,
        confirmations: int | None = None,
        description: str = "",
    ) -> PaymentStatus:
        """Ask for ``amount`` piconero for ``order_id`` on a fresh subaddress (idempotent).

        Raises:
            UsageError: a bad amount, or the order already asks for a different amount.
            WalletUnavailable / WalletRpcError: the wallet could not make an address.
        """
        if amount <= 0:
            raise UsageError("the amount must be more than zero")
        required = self.confirmations if confirmations is None else confirmations
        if not 0 <= required <= 1_000:
            raise UsageError("confirmations must be between 0 and 1000")
        existing = self.store.load_payment(order_id)
        if existing is not None:
            data = PaymentData.from_wire(existing)
            if data.amount != amount:
                raise UsageError(f"order {order_id} already asks for {format_xmr(data.amount)}")
            return self._status(data)
        # A crash between making the address and the commit only wastes a subaddress.
        r = await self.rpc.call(
            "create_address", {"account_index": self.account, "label": f"order {order_id}"[:100]}
        )
        address = str(r["address"])
        data = PaymentData(
            order_id=order_id,
            address=address,
            subaddress_index=int(r["address_index"]),
            amount=amount,
            expires_at=int(expires_at),
            confirmations=required,
            uri=monero_uri(address, amount, description),
            checked_at=int(self._clock()),
        )
        self.store.save_payment(
            order_id,
            int(data.state),
            data.to_wire(),
            [("", data.state.name, "requested", f"{amount} piconero to #{data.subaddress_index}")],
        )
        return self._status(data)

    def status(self, order_id: str) -> PaymentStatus:
        """The stored status (no wallet call)."""
        return self._status(self._load(order_id))

    def open_orders(self) -> list[str]:
        """Orders whose payment is not final yet: what to `watch` again after a restart."""
        return [
            order_id
            for order_id, state in self.store.payment_states()
            if PaymentState(state) not in FINAL_STATES
        ]

    # -- asking the wallet ---------------------------------------------------------------------

    async def check(self, order_id: str) -> PaymentStatus:
        """Look at the wallet once, commit what changed, then return the status.

        A check after "expired" still looks, so coins that arrive late are reported
        (notice ``late``) for a refund.

        Raises:
            WalletUnavailable: the wallet or its node is down or slow (nothing changed).
            WalletRpcError: the wallet refused the call.
        """
        data = self._load(order_id)
        machine = PaymentMachine(data)
        if data.state == PaymentState.P3_PAID:
            return self._status(data)
        await self.rpc.call("refresh")
        r = await self.rpc.call(
            "get_transfers",
            {
                "in": True,
                "pool": True,
                "account_index": self.account,
                "subaddr_indices": [data.subaddress_index],
            },
        )
        received = confirmed = 0
        fewest: int | None = None
        txids: list[str] = []
        for kind in ("in", "pool"):
            for t in r.get(kind, []):
                if int(t.get("subaddr_index", {}).get("minor", -1)) != data.subaddress_index:
                    continue
                amount = int(t["amount"])
                confs = int(t.get("confirmations", 0)) if kind == "in" else 0
                received += amount
                if confs >= data.confirmations:
                    confirmed += amount
                fewest = confs if fewest is None else min(fewest, confs)
                txids.append(str(t["txid"]))
        now = int(self._clock())
        before = data.state
        notices = machine.handle(
            PaymentObserved(now, received, confirmed, fewest or 0, tuple(sorted(set(txids))))
        )
        notices += machine.handle(PaymentTick(now))
        audit = [(before.name, data.state.name, n.kind, f"{n.amount} piconero") for n in notices]
        if data.state != before and not notices:
            audit.append((before.name, data.state.name, "observed", f"{received} piconero"))
        self.store.save_payment(order_id, int(data.state), data.to_wire(), audit)
        return self._status(data, tuple(notices))

    async def watch(
        self,
        order_id: str,
        *,
        poll_interval: float = 2.0,
        retry_max: float = 60.0,
        on_status: Callable[[PaymentStatus], None] | None = None,
        on_error: Callable[[WalletError], None] | None = None,
    ) -> PaymentStatus:
        """`check` until the payment is paid or expired; returns the final status.

        ``on_status`` gets every status that changed something (notices or a new state);
        ``on_error`` gets wallet trouble, which is retried with back-off up to ``retry_max``
        seconds apart, forever: the record on disk is never touched by a failed check.
        """
        backoff = 0.0
        while True:
            try:
                status = await self.check(order_id)
            except WalletUnavailable as exc:
                if on_error is not None:
                    on_error(exc)
                backoff = min(max(backoff * 2, poll_interval), retry_max)
                await trio.sleep(backoff)
                continue
            backoff = 0.0
            if on_status is not None and status.notices:
                on_status(status)
            if status.final:
                return status
            await trio.sleep(poll_interval)

    # -- helpers -------------------------------------------------------------------------------

    def _load(self, order_id: str) -> PaymentData:
        stored = self.store.load_payment(order_id)
        if stored is None:
            raise WalletError(f"no payment for order {order_id!r} in this profile")
        return PaymentData.from_wire(stored)

    def _status(self, data: PaymentData, notices: tuple[PaymentNotice, ...] = ()) -> PaymentStatus:
        now = int(self._clock())
        waiting = data.state in (PaymentState.P0_AWAITING, PaymentState.P2_UNDERPAID)
        return PaymentStatus(
            order_id=data.order_id,
            state=data.state,
            address=data.address,
            uri=data.uri or monero_uri(data.address, data.amount),
            amount=data.amount,
            received=data.received,
            confirmed=data.confirmed,
            missing=max(0, data.amount - data.received),
            excess=max(0, data.received - data.amount),
            confirmations=data.seen_confirmations,
            confirmations_required=data.confirmations,
            expires_at=data.expires_at,
            seconds_left=max(0, data.expires_at - now) if waiting else 0,
            txids=tuple(data.txids),
            final=data.state in FINAL_STATES,
            message=describe(data, now),
            notices=notices,
        )


def describe(data: PaymentData, now: int) -> str:
    """One line for the user: what was received, what is missing, how long is left."""
    want = format_xmr(data.amount, unit=True)
    got = format_xmr(data.received, unit=True)
    left = _duration(max(0, data.expires_at - now))
    excess = data.received - data.amount
    extra = f"; {format_xmr(excess, unit=True)} more than asked (refund it)" if excess > 0 else ""
    match data.state:
        case PaymentState.P0_AWAITING:
            return f"Waiting for {want}; {left} left"
        case PaymentState.P2_UNDERPAID:
            missing = format_xmr(data.amount - data.received, unit=True)
            return f"Received {got} of {want}: {missing} missing; {left} left"
        case PaymentState.P1_SEEN:
            return (
                f"Payment of {got} seen; confirmations "
                f"{data.seen_confirmations}/{data.confirmations}{extra}"
            )
        case PaymentState.P3_PAID:
            return f"Paid: {format_xmr(data.confirmed, unit=True)} confirmed{extra}"
        case _:
            if data.received:
                return f"Expired with {got} of {want} received: refund it"
            return f"Expired: nothing received of {want}"


def _duration(seconds: int) -> str:
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
