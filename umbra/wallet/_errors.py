"""Errors of the wallet layer, split by who is at fault.

- `WalletUnavailable`: monerod or monero-wallet-rpc is down, slow or restarting. Nothing was
  lost; the caller retries later (the escrow driver does so by itself).
- `WalletAnswerTooLarge`: an answer over the size limit (or compressed); not read. A kind of
  `WalletUnavailable`, so callers retry it the same way.
- `WalletRpcError`: the wallet answered with an error (bad address, not enough money, ...).
- `EscrowProtocolError`: a peer sent a message that is malformed or not allowed now.
- `PayoutRefused`: a proposed payout transaction does not match what was agreed.
- `SandboxError`: the local private chain could not be started or used.
"""

from umbra.core import UmbraError


class WalletError(UmbraError):
    """Base of every wallet-layer error."""


class WalletUnavailable(WalletError):
    """The wallet or node could not be reached in time. Retry later; no state was lost."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(
            f"{what} is not reachable ({detail}); Umbra will retry, check that it is running"
        )
        self.what = what
        self.detail = detail


class WalletAnswerTooLarge(WalletUnavailable):
    """monero-wallet-rpc or monerod sent an answer Umbra will not read (too big, compressed)."""

    def __init__(self, what: str, method: str, detail: str) -> None:
        WalletError.__init__(
            self,
            f"{what} answered {method} with {detail}; Umbra stopped reading it "
            f"(check that this address really is {what})",
        )
        self.what = what
        self.detail = detail


class WalletRpcError(WalletError):
    """The wallet (or node) refused a call. ``code`` is Monero's error code."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"the wallet refused {method}: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


class EscrowProtocolError(WalletError):
    """A peer's escrow message is malformed or not allowed in the current state."""


class PayoutRefused(WalletError):
    """A payout transaction set differs from the agreed payout; it was not signed."""


class SandboxError(WalletError):
    """The local regtest sandbox could not be started, found or used."""
