"""The market layer: listings, the trade protocol (orders, escrow, disputes), ratings later.

Layout: ``_images`` (strict image processing, metadata stripping), ``_listings`` (the seller's
own listings and signed catalog), ``_samples`` (demo data). The trade protocol, sans-IO:
``_trade_messages`` (every trade message, wire format), ``_trade_limits`` (its size caps),
``_order_table`` (states and the transition table), ``_order_types`` (events, actions,
timing), ``_order_machine`` (the order state machine), ``_order_data`` (its stored state).
Running trades: ``_trade_store`` (orders, the user-command queue, timelines in the profile
database), ``_trade_service`` (the API the CLI and web app call: queue moves, read orders),
``_trade_driver`` (runs the orders in the node), ``_trade_escrow`` (the wallet's escrow
bridged to the trade channel), ``_trade_node`` (`serve_trade`, adapters to messaging and
wallets), ``_trade_ports`` (the protocols between them).
"""

from ._images import ProcessedImage, process_image
from ._listings import DEFAULT_LIFETIME_DAYS, ListingChanges, ListingDraft, SellerCatalog
from ._order_data import STATE_SCHEMA, OrderData
from ._order_machine import OrderMachine, input_name
from ._order_table import TERMINAL, TRANSITIONS, Rule, State
from ._order_types import (
    Command,
    CommitState,
    DeleteShippingData,
    EscrowFailed,
    EscrowFunded,
    EscrowFundingSent,
    EscrowPaidOut,
    ExpectPayout,
    ForwardEscrow,
    HaltFunding,
    NotifyUser,
    OrderAction,
    OrderConfig,
    OrderEvent,
    Received,
    Refuse,
    SendTo,
    SetTimer,
    StartEscrow,
    StartPayout,
    StoreEvidence,
    Tick,
)
from ._samples import sample_drafts, sample_image
from ._stored import stored_listing
from ._trade_messages import (
    MAX_TRADE_MESSAGE_BYTES,
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    DisputeOpened,
    EscrowWrapper,
    Evidence,
    EvidenceAdded,
    OrderAccept,
    OrderDecline,
    OrderRequest,
    PaymentReceived,
    ReceiptConfirmed,
    Shipped,
    TimeoutClaim,
    TradeMessage,
    encode_evidence,
    encode_trade_message,
    parse_evidence,
    parse_trade_message,
)
from ._trade_node import TradeOptions, serve_trade
from ._trade_service import OrderSummary, OrderView, TradeService, next_actions
from ._trade_store import CommandRow, OrderRow, TimelineEntry, TradeStore

__all__ = [
    "DEFAULT_LIFETIME_DAYS",
    "MAX_TRADE_MESSAGE_BYTES",
    "STATE_SCHEMA",
    "TERMINAL",
    "TRANSITIONS",
    "ArbiterAccept",
    "ArbiterDecision",
    "Cancel",
    "Command",
    "CommandRow",
    "CommitState",
    "DeleteShippingData",
    "DisputeOpened",
    "EscrowFailed",
    "EscrowFunded",
    "EscrowFundingSent",
    "EscrowPaidOut",
    "EscrowWrapper",
    "Evidence",
    "EvidenceAdded",
    "ExpectPayout",
    "ForwardEscrow",
    "HaltFunding",
    "ListingChanges",
    "ListingDraft",
    "NotifyUser",
    "OrderAccept",
    "OrderAction",
    "OrderConfig",
    "OrderData",
    "OrderDecline",
    "OrderEvent",
    "OrderMachine",
    "OrderRequest",
    "OrderRow",
    "OrderSummary",
    "OrderView",
    "PaymentReceived",
    "ProcessedImage",
    "ReceiptConfirmed",
    "Received",
    "Refuse",
    "Rule",
    "SellerCatalog",
    "SendTo",
    "SetTimer",
    "Shipped",
    "StartEscrow",
    "StartPayout",
    "State",
    "StoreEvidence",
    "Tick",
    "TimelineEntry",
    "TimeoutClaim",
    "TradeMessage",
    "TradeOptions",
    "TradeService",
    "TradeStore",
    "encode_evidence",
    "encode_trade_message",
    "input_name",
    "next_actions",
    "parse_evidence",
    "parse_trade_message",
    "process_image",
    "sample_drafts",
    "sample_image",
    "serve_trade",
    "stored_listing",
]
