"""Events, actions and the timing configuration of the order machine (all frozen).

Events are what the machine consumes: our own moves (`Command`), a peer's message
(`Received`), reports from the escrow machine, and the clock (`Tick`). Every event carries
``now`` (unix seconds): the machine never reads a clock. Actions are what it asks the driver
to do, in order; `CommitState` always comes first, so the driver stores the new state before
it sends, starts or deletes anything.
"""

from dataclasses import dataclass
from typing import Literal, TypeAlias

from umbra.wallet import EscrowTerms, Payout

from ._trade_messages import Role, TradeMessage

DAY_S = 24 * 3600
HOUR_S = 3600


@dataclass(frozen=True)
class OrderConfig:
    """Protocol timing, the same for every party (per-order ship/confirm days are in the
    `OrderRequest`).

    Attributes:
        accept_timeout_s: an order the seller has not accepted by then is void.
        fund_timeout_s: an accepted order not funded by then is void (late funds are refunded).
        grace_s: slack for clock skew and delivery delays. A party that waits for another's
            move gives up ``grace_s`` after the mover's own deadline, and a timeout claim is
            accepted from ``grace_s`` before the receiver's own deadline.
        shipping_retention_s: how long after the trade ends shipping data is kept.
    """

    accept_timeout_s: int = 48 * HOUR_S
    fund_timeout_s: int = 3 * DAY_S
    grace_s: int = 2 * HOUR_S
    shipping_retention_s: int = 30 * DAY_S


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Our own move: a message to send. ``order``, ``id`` and ``sender`` are filled in by the
    machine (except the order id of a new `OrderRequest`, chosen by the driver at random)."""

    message: TradeMessage
    now: int


@dataclass(frozen=True)
class Received:
    """A parsed message from a peer; ``sender`` is the role the transport authenticated."""

    message: TradeMessage
    sender: Role
    now: int


@dataclass(frozen=True)
class EscrowFundingSent:
    """From our escrow machine (buyer): the funding transaction was sent."""

    now: int


@dataclass(frozen=True)
class EscrowFunded:
    """From our escrow machine: the escrow holds at least the agreed amount, confirmed."""

    amount: int
    now: int


@dataclass(frozen=True)
class EscrowPaidOut:
    """From our escrow machine: a payout was submitted to the network."""

    txids: tuple[str, ...]
    now: int


@dataclass(frozen=True)
class EscrowFailed:
    """From our escrow machine: the set-up failed (e.g. the multisig addresses differ)."""

    reason: str
    now: int


@dataclass(frozen=True)
class Tick:
    """From the clock: sent at (or after) a `SetTimer` deadline; harmless at any other time."""

    now: int


OrderEvent: TypeAlias = (
    Command | Received | EscrowFundingSent | EscrowFunded | EscrowPaidOut | EscrowFailed | Tick
)

# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitState:
    """Store `OrderMachine.to_bytes()` now, before carrying out the actions that follow."""

    state: int


@dataclass(frozen=True)
class SendTo:
    to: Role
    message: TradeMessage


@dataclass(frozen=True)
class StartEscrow:
    """Create our escrow machine (`umbra.wallet.EscrowMachine`) for these terms."""

    terms: EscrowTerms
    role: Role


@dataclass(frozen=True)
class ForwardEscrow:
    """Give a peer's escrow message (wallet wire bytes) to our escrow machine."""

    sender: Role
    payload: bytes


@dataclass(frozen=True)
class HaltFunding:
    """Buyer: do not fund the escrow (any longer); late funds will be refunded."""


@dataclass(frozen=True)
class StartPayout:
    """Ask our escrow machine to propose ``payout`` (we are its proposer)."""

    payout: Payout


@dataclass(frozen=True)
class ExpectPayout:
    """Allow our escrow machine to co-sign ``payout`` (we are its co-signer), and no other."""

    payout: Payout


@dataclass(frozen=True)
class StoreEvidence:
    """Arbiter: keep this party's sealed evidence (an `Evidence` document) with the case."""

    sender: Role
    sealed_evidence: bytes


@dataclass(frozen=True)
class SetTimer:
    """Send a `Tick` at ``at`` (replaces any earlier timer of this order)."""

    at: int
    input: str


@dataclass(frozen=True)
class DeleteShippingData:
    """Delete this order's shipping address and tracking (opened copies included) at ``at``."""

    at: int


@dataclass(frozen=True)
class NotifyUser:
    """Tell the local user; ``kind`` is a stable code (``"order-accepted"``), UI text is not."""

    kind: str
    detail: str = ""


RefuseReason: TypeAlias = Literal[
    "wrong-order",  # another order id
    "wrong-sender",  # from a role that may not send it (now or ever), or not as claimed
    "wrong-state",  # not allowed in this state and not possible later either
    "not-allowed",  # allowed in this state, but a condition of the rule failed
    "replay",  # a message id already seen
    "too-many",  # over a bound on stored messages
]


@dataclass(frozen=True)
class Refuse:
    """An event was not applied; the state is unchanged. The driver logs it.

    ``local`` tells our own refused moves (a UI or driver bug) from a peer's.
    """

    reason: RefuseReason
    detail: str
    local: bool = False


OrderAction: TypeAlias = (
    CommitState
    | SendTo
    | StartEscrow
    | ForwardEscrow
    | HaltFunding
    | StartPayout
    | ExpectPayout
    | StoreEvidence
    | SetTimer
    | DeleteShippingData
    | NotifyUser
    | Refuse
)
