"""Events, actions and value types of the escrow state machine (all frozen dataclasses).

Events are what the machine consumes (from the driver: wallet results; from a peer: a parsed
message; from the user: a payout decision). Actions are what it asks the driver to do: call
the wallet (one call at a time), send a message, or tell the user something.
"""

from dataclasses import dataclass
from typing import Any, TypeAlias

from ._escrow_messages import EscrowMessage, Payout, Role

MAX_PAYOUT_FEE = 10**10  # 0.01 XMR: the default cap on a payout's network fee


@dataclass(frozen=True)
class EscrowTerms:
    """What all three parties agreed before the escrow starts (from the order)."""

    escrow_id: str
    amount: int
    buyer_address: str
    seller_address: str
    confirmations: int = 10
    max_fee: int = MAX_PAYOUT_FEE  # a ceiling for the fee plus dust left behind
    # Unix seconds; 0 = never. Not funded (nothing seen, not even in the pool) by then: the
    # escrow is abandoned (S98_EXPIRED) and the buyer no longer pays into it.
    funding_expires_at: int = 0

    def payout_address(self, role: Role) -> str:
        if role == "arbiter":
            raise ValueError("the arbiter is never paid out of the escrow")
        return self.buyer_address if role == "buyer" else self.seller_address

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_wire(cls, value: dict[str, Any]) -> "EscrowTerms":
        return cls(**value)


@dataclass(frozen=True)
class WalletKeys:
    """The escrow wallet's original (pre-multisig) keys, kept to rebuild it after a crash."""

    address: str
    spend_key: str
    view_key: str


@dataclass(frozen=True)
class TxDescription:
    """What ``describe_transfer`` says a multisig transaction set does."""

    amount_in: int
    recipients: tuple[tuple[str, int], ...]
    fee: int
    change_address: str
    change_amount: int


# -- events: from the driver / user ---------------------------------------------------------


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class ProposePayout:
    payout: Payout


@dataclass(frozen=True)
class PayoutExpected:
    """The one payout our side agreed to co-sign (from our order machine's `ExpectPayout`).

    Until it arrives the co-signer signs nothing: a request to co-sign is kept and checked
    when it does. It is stored with the escrow before it is used.
    """

    payout: Payout


@dataclass(frozen=True)
class FundingExpired:
    """The driver's clock: ``now`` (Unix seconds) is past the terms' funding deadline."""

    now: int


# -- events: from the wallet -------------------------------------------------------------------


@dataclass(frozen=True)
class WalletCreated:
    keys: WalletKeys
    name: str  # a pre-made spare wallet may be used instead of the one asked for
    password: str


@dataclass(frozen=True)
class Prepared:
    info: str


@dataclass(frozen=True)
class Made:
    info: str


@dataclass(frozen=True)
class Exchanged:
    round: int
    info: str
    address: str
    ready: bool


@dataclass(frozen=True)
class FundingSent:
    txid: str


@dataclass(frozen=True)
class FundingObserved:
    amount: int
    confirmations: int
    # When the look began (Unix seconds, the driver's clock; 0 = unknown). Only a look that
    # began after the funding deadline may prove that nothing was paid in time.
    at: int = 0


@dataclass(frozen=True)
class Exported:
    seq: int
    info: str


@dataclass(frozen=True)
class Imported:
    seq: int


@dataclass(frozen=True)
class TxsetBuilt:
    seq: int
    txset: str


@dataclass(frozen=True)
class Described:
    seq: int
    description: TxDescription


@dataclass(frozen=True)
class Signed:
    seq: int
    tx_data: str
    txids: tuple[str, ...]


@dataclass(frozen=True)
class SignFailed:
    seq: int
    reason: str


@dataclass(frozen=True)
class Submitted:
    seq: int
    txids: tuple[str, ...]


@dataclass(frozen=True)
class SyncFailed:
    """The wallet keeps refusing this payout attempt's multisig step (import, build or
    describe): the exchanged multisig info is stale or unusable, start over with fresh info."""

    seq: int
    reason: str


# -- events: from a peer -----------------------------------------------------------------------


@dataclass(frozen=True)
class MessageReceived:
    message: EscrowMessage


EscrowEvent: TypeAlias = (
    Start
    | ProposePayout
    | PayoutExpected
    | FundingExpired
    | WalletCreated
    | Prepared
    | Made
    | Exchanged
    | FundingSent
    | FundingObserved
    | Exported
    | Imported
    | TxsetBuilt
    | Described
    | Signed
    | SignFailed
    | Submitted
    | SyncFailed
    | MessageReceived
)

# -- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    to: Role
    message: EscrowMessage


@dataclass(frozen=True)
class Notify:
    level: str  # "info" | "warning" | "error"
    text: str


@dataclass(frozen=True)
class CreateWallet:
    name: str
    password: str


@dataclass(frozen=True)
class PrepareMultisig:
    pass


@dataclass(frozen=True)
class MakeMultisig:
    infos: tuple[str, ...]


@dataclass(frozen=True)
class ExchangeKeys:
    round: int
    infos: tuple[str, ...]


@dataclass(frozen=True)
class PayFunding:
    address: str
    amount: int


@dataclass(frozen=True)
class WatchFunding:
    amount: int


@dataclass(frozen=True)
class ExportInfo:
    seq: int


@dataclass(frozen=True)
class ImportInfo:
    seq: int
    infos: tuple[str, ...]


@dataclass(frozen=True)
class BuildTxset:
    seq: int
    payout: Payout
    seller_address: str
    buyer_address: str


@dataclass(frozen=True)
class DescribeTxset:
    seq: int
    txset: str


@dataclass(frozen=True)
class SignTxset:
    seq: int
    txset: str


@dataclass(frozen=True)
class SubmitTx:
    seq: int
    tx_data: str
    txids: tuple[str, ...]


WalletOp: TypeAlias = (
    CreateWallet
    | PrepareMultisig
    | MakeMultisig
    | ExchangeKeys
    | PayFunding
    | WatchFunding
    | ExportInfo
    | ImportInfo
    | BuildTxset
    | DescribeTxset
    | SignTxset
    | SubmitTx
)
EscrowAction: TypeAlias = Send | Notify | WalletOp
