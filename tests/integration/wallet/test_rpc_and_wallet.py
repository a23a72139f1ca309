"""The RPC client against real servers (digest login with two WWW-Authenticate headers,
down server) and the user wallet: add funds, balance, history, send with a fee preview,
and direct-payment detection from the pool."""

from pathlib import Path

import pytest
import trio

from umbra.core import PICONERO_PER_XMR
from umbra.wallet import (
    Login,
    PaymentData,
    PaymentMachine,
    PaymentObserved,
    PaymentState,
    RpcClient,
    UserWallet,
    WalletRpcError,
    WalletUnavailable,
)
from umbra.wallet._processes import free_port

from .conftest import Chain

pytestmark = pytest.mark.monero


def test_digest_login_and_errors(chain: Chain) -> None:
    proc = chain.sandbox.wallet("seller")

    async def main() -> None:
        async with proc.client() as good:
            assert "version" in await good.call("get_version")
            assert "version" in await good.call("get_version")  # nonce reuse on keep-alive
            # Many calls at once on one client (a node accepting five orders in one second):
            # they share one digest challenge, and none may come back as a refused login.
            answers: list[dict[str, object]] = []

            async def one() -> None:
                answers.append(await good.call("get_version"))

            async with trio.open_nursery() as nursery:
                for _ in range(24):
                    nursery.start_soon(one)
            assert len(answers) == 24 and all("version" in a for a in answers)
        bad = RpcClient(proc.url, login=Login(proc.user, "wrong"))
        async with bad:
            with pytest.raises(WalletRpcError):
                await bad.call("get_version")
        down = RpcClient(f"http://127.0.0.1:{free_port()}", what="test wallet")
        async with down:
            with pytest.raises(WalletUnavailable, match="retry"):
                await down.call("get_version")

    trio.run(main)


def test_user_wallet_add_funds_send_and_detect_payment(chain: Chain, tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            chain.sandbox.wallet("seller").client() as seller_rpc,
            chain.sandbox.wallet("buyer").client() as buyer_rpc,
        ):
            seller, buyer = UserWallet(seller_rpc), UserWallet(buyer_rpc)
            amount = PICONERO_PER_XMR // 4
            req = await seller.funding_request(amount=amount, label="order o-1")
            assert req.uri == f"monero:{req.address}?tx_amount=0.25"
            assert req.qr_png.startswith(b"\x89PNG")
            await buyer_rpc.call("refresh")
            before = await buyer.balance()
            assert before.unlocked >= amount
            preview = await buyer.preview_send(req.address, amount)
            assert 0 < preview.fee < 10**10
            txid = await buyer.send(preview)
            payment = PaymentMachine(
                PaymentData("o-1", req.address, req.subaddress_index, amount, 10**12, 10)
            )
            kinds: list[str] = []
            for _ in range(40):
                history = await seller.history(subaddress_index=req.subaddress_index)
                got = [t for t in history if t.txid == txid]
                received = sum(t.amount for t in got)
                confs = min((t.confirmations for t in got), default=0)
                confirmed = received if confs >= 10 else 0
                kinds += [
                    n.kind for n in payment.handle(PaymentObserved(0, received, confirmed, confs))
                ]
                if payment.state == PaymentState.P3_PAID:
                    break
                if kinds:
                    await chain.sandbox.mine(1)
                await seller_rpc.call("refresh")
            assert kinds == ["seen", "paid"]
            after = await buyer.balance()
            assert after.total <= before.total - amount - preview.fee
            assert any(t.txid == txid and t.direction == "out" for t in await buyer.history())

    trio.run(main)
