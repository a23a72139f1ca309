"""Carries out the escrow machine's wallet calls against monero-wallet-rpc.

Each call is written to be safe to repeat after a crash: creating a wallet removes a
half-made file first, paying the escrow looks for an earlier payment to the same address,
submitting accepts "already submitted" when the transaction is known, and the rest either
does not change the wallet (prepare, export, describe) or is harmless twice (import).
"""

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from ._errors import EscrowProtocolError, WalletError, WalletRpcError
from ._escrow_types import (
    BuildTxset,
    CreateWallet,
    Described,
    DescribeTxset,
    EscrowEvent,
    Exchanged,
    ExchangeKeys,
    Exported,
    ExportInfo,
    FundingObserved,
    FundingSent,
    Imported,
    ImportInfo,
    Made,
    MakeMultisig,
    PayFunding,
    Prepared,
    PrepareMultisig,
    Signed,
    SignFailed,
    SignTxset,
    Submitted,
    SubmitTx,
    TxDescription,
    TxsetBuilt,
    WalletCreated,
    WalletKeys,
    WalletOp,
    WatchFunding,
)
from ._multisig import enable_multisig
from ._rpc import RpcClient
from ._wallet import earlier_transfer_to

NO_WALLET_CODE = -13
# "not enough money" / "tx not possible" (the amounts fit, the fee on top does not)
FEE_SHORT_CODES = (-17, -16)
MAX_FEE_GUESS = 10**11


@dataclass
class PartyWallets:
    """Where one party's wallets are.

    Args:
        escrow_rpc: a wallet-rpc process used only for this party's escrow wallets.
        wallet_dir: that process's ``--wallet-dir`` (the CLI needs the files).
        ringdb_dir: its ``--shared-ringdb-dir``.
        main_rpc: the user's own wallet (the buyer pays the escrow from it).
    """

    escrow_rpc: RpcClient
    wallet_dir: Path
    ringdb_dir: Path
    main_rpc: RpcClient | None = None


@dataclass(frozen=True)
class SpareWallet:
    """A multisig-enabled wallet made ahead of time and left open, ready for the next escrow.

    Creating a wallet costs several seconds in Monero 0.18 (each load generates an RSA-4096
    TLS key for its unused messaging client); a spare moves that cost out of the escrow set-up.
    """

    name: str
    password: str
    keys: WalletKeys


class EscrowOps:
    """Runs `WalletOp` actions; returns the event the machine expects back."""

    def __init__(self, wallets: PartyWallets) -> None:
        self.w = wallets
        self.rpc = wallets.escrow_rpc
        self._open: str | None = None
        self.spare: SpareWallet | None = None
        # One open wallet per wallet-rpc: whoever uses it (each escrow's driver, the spare
        # wallet maker) holds this lock from "open the right wallet" to the end of its call.
        self.lock = trio.Lock()

    async def make_wallet(self, name: str, password: str) -> WalletKeys:
        """Create a wallet with multisig turned on, and leave it open."""
        rpc = self.rpc
        self._open = None
        if not await self._reuse_earlier_attempt(name, password):
            await rpc.call(
                "create_wallet", {"filename": name, "password": password, "language": "English"}
            )
        spend = await rpc.call("query_key", {"key_type": "spend_key"})
        view = await rpc.call("query_key", {"key_type": "view_key"})
        address = await rpc.call("get_address")
        await rpc.call("close_wallet")
        await enable_multisig(self.w.wallet_dir / name, password, self.w.ringdb_dir)
        await self.ensure_open(name, password)
        return WalletKeys(str(address["address"]), str(spend["key"]), str(view["key"]))

    async def _reuse_earlier_attempt(self, name: str, password: str) -> bool:
        """Open the wallet an earlier, interrupted attempt made; start over if it is unusable.

        On a loaded machine ``create_wallet`` can outlast our timeout while wallet-rpc goes
        on and finishes it. Deleting and recreating it on every retry never converges (each
        attempt is as slow as the last), so a wallet file that opens with our password is
        used as it is; the multisig flag is set again below either way.
        """
        keys_file = self.w.wallet_dir / f"{name}.keys"
        if not keys_file.exists():
            return False
        with contextlib.suppress(WalletRpcError):
            await self.rpc.call("close_wallet")
        try:
            await self.rpc.call("open_wallet", {"filename": name, "password": password})
            return True
        except WalletRpcError:
            with contextlib.suppress(WalletRpcError):
                await self.rpc.call("close_wallet")
            for path in (keys_file, self.w.wallet_dir / name):
                path.unlink(missing_ok=True)
            return False

    async def ensure_open(self, name: str, password: str, address: str = "") -> None:
        """Open ``name`` unless we know it is the open wallet (avoids 2-8 s switches).

        A wallet-rpc process has ONE open wallet, and anything else that talks to it (another
        escrow, a previous run of this node whose last call was still being served) may have
        switched it. With ``address`` (the escrow's multisig address, once known) the open
        wallet is checked before the call, so a payout step never runs on the wrong wallet
        (that once showed up as "Failed to authenticate ciphertext" on import).

        Raises:
            WalletError: the wallet file opened but is not the one with ``address``.
        """
        if self._open == name:
            try:
                if not address:
                    await self.rpc.call("get_height")
                    return
                if str((await self.rpc.call("get_address"))["address"]) == address:
                    return
            except WalletRpcError:
                pass
            self._open = None
        await self.rpc.call("open_wallet", {"filename": name, "password": password})
        self._open = name
        if address and str((await self.rpc.call("get_address"))["address"]) != address:
            self._open = None
            raise WalletError(f"the wallet file {name} does not hold this escrow's address")

    def forget_open(self) -> None:
        self._open = None

    async def run(self, op: WalletOp, password: str) -> EscrowEvent:
        rpc = self.rpc
        match op:
            case CreateWallet():
                return await self._create(op)
            case PrepareMultisig():
                r = await rpc.call("prepare_multisig")
                return Prepared(str(r["multisig_info"]))
            case MakeMultisig():
                r = await rpc.call(
                    "make_multisig",
                    {"multisig_info": list(op.infos), "threshold": 2, "password": password},
                )
                await rpc.call("store")
                return Made(str(r["multisig_info"]))
            case ExchangeKeys():
                r = await rpc.call(
                    "exchange_multisig_keys",
                    {"multisig_info": list(op.infos), "password": password},
                )
                await rpc.call("store")
                status = await rpc.call("is_multisig")
                return Exchanged(
                    op.round,
                    str(r.get("multisig_info", "")),
                    str(r.get("address", "")),
                    bool(status.get("ready")),
                )
            case PayFunding():
                return await self._pay_funding(op)
            case WatchFunding():
                return await self._observe_funding()
            case ExportInfo():
                # A wallet just reopened after a restart may not have scanned the funding
                # yet; info exported without those outputs is useless to the co-signer.
                await rpc.call("refresh")
                r = await rpc.call("export_multisig_info")
                return Exported(op.seq, str(r["info"]))
            case ImportInfo():
                await rpc.call("import_multisig_info", {"info": list(op.infos)})
                await rpc.call("refresh")
                return Imported(op.seq)
            case BuildTxset():
                return TxsetBuilt(op.seq, await self._build_txset(op))
            case DescribeTxset():
                r = await rpc.call("describe_transfer", {"multisig_txset": op.txset})
                return Described(op.seq, parse_description(r))
            case SignTxset():
                try:
                    r = await rpc.call("sign_multisig", {"tx_data_hex": op.txset})
                except WalletRpcError as exc:
                    return SignFailed(op.seq, exc.message)
                return Signed(
                    op.seq, str(r["tx_data_hex"]), tuple(str(t) for t in r["tx_hash_list"])
                )
            case SubmitTx():
                return await self._submit(op)
        raise AssertionError(op)

    async def rebuild(
        self,
        name: str,
        password: str,
        keys: WalletKeys,
        peer_rounds: list[tuple[str, ...]],
    ) -> None:
        """Rebuild an escrow wallet that got ahead of the store (a crash mid key exchange).

        The wallet is recreated from its original keys, multisig is turned on, and the key
        exchange is replayed with the peers' messages we had committed (``peer_rounds[i]`` is
        round i's). Peers never saw anything from the lost step (we commit before sending),
        and the exchanged keys depend only on the base keys and the peers' messages, so the
        rebuilt wallet continues the same exchange.
        """
        rpc = self.rpc
        with contextlib.suppress(WalletRpcError):
            await rpc.call("close_wallet")
        self._open = None
        for path in (self.w.wallet_dir / f"{name}.keys", self.w.wallet_dir / name):
            path.unlink(missing_ok=True)
        await rpc.call(
            "generate_from_keys",
            {
                "filename": name,
                "address": keys.address,
                "spendkey": keys.spend_key,
                "viewkey": keys.view_key,
                "password": password,
                "restore_height": 0,
            },
        )
        await rpc.call("close_wallet")
        await enable_multisig(self.w.wallet_dir / name, password, self.w.ringdb_dir)
        await self.ensure_open(name, password)
        await rpc.call("prepare_multisig")
        for rnd, infos in enumerate(peer_rounds):
            if rnd == 0:
                await rpc.call(
                    "make_multisig",
                    {"multisig_info": list(infos), "threshold": 2, "password": password},
                )
            else:
                await rpc.call(
                    "exchange_multisig_keys", {"multisig_info": list(infos), "password": password}
                )
        await rpc.call("store")

    async def _create(self, op: CreateWallet) -> EscrowEvent:
        spare = self.spare
        if spare is not None:
            await self.ensure_open(spare.name, spare.password)
            # Taken now, so a second escrow starting at once cannot take it too; the store
            # forgets it in the same commit as this escrow's WalletCreated step.
            self.spare = None
            return WalletCreated(spare.keys, spare.name, spare.password)
        keys = await self.make_wallet(op.name, op.password)
        return WalletCreated(keys, op.name, op.password)

    async def _pay_funding(self, op: PayFunding) -> EscrowEvent:
        main = self.w.main_rpc
        if main is None:
            raise WalletError("the buyer has no wallet to pay the escrow from")
        earlier = await earlier_transfer_to(main, op.address, op.amount)
        if earlier is not None:
            return FundingSent(earlier)
        r = await main.call(
            "transfer", {"destinations": [{"address": op.address, "amount": op.amount}]}
        )
        return FundingSent(str(r["tx_hash"]))

    async def _observe_funding(self) -> EscrowEvent:
        rpc = self.rpc
        await rpc.call("refresh")
        r = await rpc.call("get_transfers", {"in": True, "pool": True})
        total, confirmations = 0, None
        for t in [*r.get("in", []), *r.get("pool", [])]:
            total += int(t["amount"])
            conf = int(t.get("confirmations", 0)) if t.get("type") == "in" else 0
            confirmations = conf if confirmations is None else min(confirmations, conf)
        return FundingObserved(total, confirmations or 0)

    async def _build_txset(self, op: BuildTxset) -> str:
        rpc = self.rpc
        payout = op.payout
        shares = [
            (addr, amount)
            for addr, amount in (
                (op.seller_address, payout.to_seller),
                (op.buyer_address, payout.to_buyer),
            )
            if amount > 0
        ]
        if len(shares) == 1:
            r = await rpc.call("sweep_all", {"address": shares[0][0], "account_index": 0})
            return str(r["multisig_txset"])
        # A split: the co-signer's share pays the fee. Build with a fee guess, learn the real
        # fee, build again with the co-signer's amount reduced by exactly that fee: nothing
        # stays behind as change, so the co-signer receives its share minus the fee, no more
        # lost (a guess that was too high would otherwise stay in the escrow as dust).
        payer = op.seller_address if payout.cosigner == "seller" else op.buyer_address
        fee, txset = 0, ""
        for _ in range(10):
            dests = [
                {"address": a, "amount": amount - fee if a == payer else amount}
                for a, amount in shares
            ]
            try:
                r = await rpc.call("transfer", {"destinations": dests, "do_not_relay": True})
            except WalletRpcError as exc:
                if exc.code not in FEE_SHORT_CODES or fee > MAX_FEE_GUESS:
                    raise
                fee = max(fee * 2, 10**9)
                continue
            txset, new_fee = str(r["multisig_txset"]), int(r["fee"])
            if new_fee == fee:
                return txset
            fee = new_fee
        if not txset:
            raise WalletError("could not build the split payout: the fee keeps growing")
        return txset

    async def _submit(self, op: SubmitTx) -> EscrowEvent:
        try:
            r = await self.rpc.call("submit_multisig", {"tx_data_hex": op.tx_data})
            return Submitted(op.seq, tuple(str(t) for t in r["tx_hash_list"]))
        except WalletRpcError:
            # Submitted before a crash? Then the wallet knows the transaction.
            for txid in op.txids:
                with contextlib.suppress(WalletRpcError):
                    await self.rpc.call("get_transfer_by_txid", {"txid": txid})
                    return Submitted(op.seq, op.txids)
            raise


def parse_description(result: dict[str, Any]) -> TxDescription:
    """Turn ``describe_transfer``'s answer into a `TxDescription` (exactly one transaction)."""
    desc = result.get("desc")
    if not isinstance(desc, list) or len(desc) != 1:
        raise EscrowProtocolError("the transaction set must hold exactly one transaction")
    d = desc[0]
    recipients = tuple((str(x["address"]), int(x["amount"])) for x in d.get("recipients", []))
    return TxDescription(
        amount_in=int(d["amount_in"]),
        recipients=recipients,
        fee=int(d["fee"]),
        change_address=str(d.get("change_address", "")),
        change_amount=int(d.get("change_amount", 0)),
    )
