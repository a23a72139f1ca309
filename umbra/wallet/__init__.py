"""The wallet layer: Monero payments and 2-of-3 multisig escrow through monero-wallet-rpc.

Layout: ``_rpc`` (JSON-RPC client, digest auth), ``_processes``, ``_sandbox`` and
``_sandbox_wallet`` (the local regtest chain and wallet processes, their logins and wallet
passwords), ``_daemon_route`` (how a wallet-rpc we start reaches its daemon: directly on
loopback, else only through tor's SOCKS port in Tor mode), ``_config`` (the user's own wallet-rpc,
the sandbox wallet's password), ``_wallet``
(the simple user wallet), ``_block_time`` (how long blocks take on the chain in use),
``_payment`` (direct-payment state machine), ``_payment_driver`` (`DirectPayments`: per-order
payments against a real wallet, the API the trade layer calls), ``_escrow_messages`` (wire
messages), ``_escrow_types`` (events/actions), ``_escrow_machine`` (the escrow state machine,
sans-IO), ``_escrow_ops`` (its wallet calls), ``_escrow_driver`` (commit-then-act loop),
``_multisig`` (the CLI step), ``_mailbox`` (a file transport), ``_state_store`` (tables and the
audit log). Imports ``umbra.core``, ``umbra.store``'s private-file helpers (everything written
is owner-only) and ``umbra.store`` types by protocol.
"""

from ._block_time import (
    MAINNET_BLOCK_SECONDS,
    UNLOCK_BLOCKS,
    BlockPace,
    duration_words,
    pace_from_blocks,
)
from ._daemon_route import (
    DaemonAddress,
    DaemonRouteError,
    SocksProxy,
    daemon_args,
    parse_daemon_address,
    proxy_hint,
)
from ._errors import (
    EscrowProtocolError,
    PayoutRefused,
    SandboxError,
    WalletAnswerTooLarge,
    WalletError,
    WalletRpcError,
    WalletUnavailable,
)
from ._escrow_driver import DriverOptions, EscrowParty
from ._escrow_machine import TRANSITIONS, EscrowData, EscrowMachine, State, check_description
from ._escrow_messages import (
    AddressAnnounce,
    EscrowMessage,
    FundingNotice,
    Payout,
    PayoutDone,
    PayoutProposal,
    PayoutRefusal,
    SetupInfo,
    SyncInfo,
    decode_message,
    encode_message,
)
from ._escrow_ops import PartyWallets
from ._escrow_types import MAX_PAYOUT_FEE, EscrowTerms, TxDescription
from ._mailbox import DatabaseMailbox, EscrowMailbox, Mailbox, WaitingMail
from ._payment import (
    PaymentData,
    PaymentMachine,
    PaymentNotice,
    PaymentObserved,
    PaymentState,
    Tick,
)
from ._payment_driver import DirectPayments, PaymentStatus
from ._rpc import Login, RpcClient, RpcStats
from ._sandbox import Sandbox, ensure_monero_installed
from ._sandbox_wallet import WalletProcess, wallet_rpc_argv
from ._state_store import AuditEntry, WalletStore
from ._wallet import (
    Balance,
    FundingRequest,
    SendPreview,
    Transfer,
    UserWallet,
    earlier_transfer_to,
    monero_uri,
)

__all__ = [
    "MAINNET_BLOCK_SECONDS",
    "MAX_PAYOUT_FEE",
    "TRANSITIONS",
    "UNLOCK_BLOCKS",
    "AddressAnnounce",
    "AuditEntry",
    "Balance",
    "BlockPace",
    "DaemonAddress",
    "DaemonRouteError",
    "DatabaseMailbox",
    "DirectPayments",
    "DriverOptions",
    "EscrowData",
    "EscrowMachine",
    "EscrowMailbox",
    "EscrowMessage",
    "EscrowParty",
    "EscrowProtocolError",
    "EscrowTerms",
    "FundingNotice",
    "FundingRequest",
    "Login",
    "Mailbox",
    "PartyWallets",
    "PaymentData",
    "PaymentMachine",
    "PaymentNotice",
    "PaymentObserved",
    "PaymentState",
    "PaymentStatus",
    "Payout",
    "PayoutDone",
    "PayoutProposal",
    "PayoutRefusal",
    "PayoutRefused",
    "RpcClient",
    "RpcStats",
    "Sandbox",
    "SandboxError",
    "SendPreview",
    "SetupInfo",
    "SocksProxy",
    "State",
    "SyncInfo",
    "Tick",
    "Transfer",
    "TxDescription",
    "UserWallet",
    "WaitingMail",
    "WalletAnswerTooLarge",
    "WalletError",
    "WalletProcess",
    "WalletRpcError",
    "WalletStore",
    "WalletUnavailable",
    "check_description",
    "daemon_args",
    "decode_message",
    "duration_words",
    "earlier_transfer_to",
    "encode_message",
    "ensure_monero_installed",
    "monero_uri",
    "pace_from_blocks",
    "parse_daemon_address",
    "proxy_hint",
    "wallet_rpc_argv",
]
