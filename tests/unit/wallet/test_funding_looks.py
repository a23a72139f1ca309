"""Funding looks give way to other escrows' set-up rounds (they share one wallet-rpc).

Each look at an escrow's funding switches the party's escrow wallet-rpc to that escrow's
wallet: a wallet load, seconds on a small machine. With several orders at once, escrows that
wait for funding looked every 0.1 s and held up the others' multisig rounds. Virtual time
(trio's MockClock): no wall-clock assertion.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from umbra.store import Database
from umbra.wallet import (
    DriverOptions,
    EscrowMachine,
    EscrowParty,
    EscrowTerms,
    PartyWallets,
    RpcClient,
    State,
    WalletStore,
)
from umbra.wallet._escrow_driver import _Run

KEY = bytes(range(32))
TERMS = EscrowTerms("e1", 2_000, "4" + "B" * 94, "4" + "A" * 94)


@pytest.fixture
def party(tmp_path: Path) -> Iterator[EscrowParty]:
    db = Database.open(tmp_path / "profile.db", KEY, create=True)
    unused = RpcClient("http://127.0.0.1:9")  # no wallet call is made here
    wallets = PartyWallets(escrow_rpc=unused, wallet_dir=tmp_path, ringdb_dir=tmp_path)
    options = DriverOptions(poll_interval=0.1, busy_funding_interval=5.0)
    try:
        yield EscrowParty(WalletStore(db), wallets, tmp_path / "mail", options)
    finally:
        db.close()


def _machine(state: State) -> EscrowMachine:
    m = EscrowMachine.create(TERMS, "seller", wallet_name="w", wallet_password="p")
    m.data.state = state
    return m


def _wait(party: EscrowParty, *, other_leaves_setup_at: float | None = None) -> float:
    """Virtual seconds a funding look of an escrow in S6 waits."""
    run = _Run(party, _machine(State.S6_AWAITING_FUNDING), mailbox=None)  # type: ignore[arg-type]

    async def main() -> float:
        async with trio.open_nursery() as nursery:
            if other_leaves_setup_at is not None:

                async def leave() -> None:
                    await trio.sleep(other_leaves_setup_at)
                    party._runs["other"].data.state = State.S6_AWAITING_FUNDING

                nursery.start_soon(leave)
            start = trio.current_time()
            await run._before_funding_look()
            return trio.current_time() - start

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_funding_look_waits_while_another_escrow_is_in_its_set_up(party: EscrowParty) -> None:
    party._runs["other"] = _machine(State.S7_FUNDED)  # no set-up under way: the usual pace
    assert _wait(party) == pytest.approx(0.1)
    party._runs["other"] = _machine(State.S2_PREPARED)
    assert _wait(party) == pytest.approx(5.0)
    party._runs["other"] = _machine(State.S3_MADE)  # its set-up ends at 0.95 s: look then
    assert _wait(party, other_leaves_setup_at=0.95) == pytest.approx(1.0)
