"""The escrow bridge puts the escrow's warnings (a payout refused) on the order's timeline."""

from pathlib import Path

from umbra.market._trade_escrow import EscrowBridge
from umbra.wallet import EscrowParty, PartyWallets, RpcClient, WalletStore

from .test_trade_driver import Party, _listing, _pump, clock, parties  # noqa: F401 (fixtures)


def test_an_escrow_refusal_is_shown_on_the_order_timeline(
    parties: dict[str, Party],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    cid = _listing(parties)
    arbiter = parties["arbiter"].profile.identity.signing_public
    order_id, _ = parties["buyer"].service.place_order(
        cid, shipping_option=0, address="x", arbiter=arbiter
    )
    _pump(parties)
    parties["seller"].service.accept(order_id)
    _pump(parties)
    buyer = parties["buyer"]
    unused = RpcClient("http://127.0.0.1:9")  # no wallet call is made here
    wallets = PartyWallets(escrow_rpc=unused, wallet_dir=tmp_path, ringdb_dir=tmp_path)
    party = EscrowParty(WalletStore(buyer.profile.db), wallets, tmp_path / "mail")
    bridge = EscrowBridge(party)
    bridge.attach(buyer.driver)
    text = "refused a dispute by the arbiter (seller 1999, buyer 1): differs in kind"
    assert party.options.on_notice is not None
    party.options.on_notice(order_id, "warning", text)  # as the escrow driver calls it
    entries = [e for e in buyer.service.order(order_id).timeline if e.kind == "escrow"]
    assert [(e.state, e.detail) for e in entries][-1] == ("S3_escrow_setup", text)
