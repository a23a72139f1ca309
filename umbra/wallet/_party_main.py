"""``python -m umbra.wallet._party_main``: run one escrow party in its own process.

Used by the crash tests (SIGKILL at every state, then restart) and usable by hand. It prints
``STATE <escrow> <name>`` on stdout after each committed state change and exits 0 once the
escrow is paid out. Its settings come as one JSON object on stdin, never on the command line:
they hold the database key and the wallet-rpc logins, and every local user can read a
process's command line.
"""

import json
import sys
from pathlib import Path

import trio

from umbra.store import Database

from ._escrow_driver import DriverOptions, EscrowParty
from ._escrow_machine import State
from ._escrow_messages import Payout
from ._escrow_ops import PartyWallets
from ._escrow_types import EscrowTerms
from ._rpc import Login, RpcClient
from ._state_store import WalletStore


def _print_state(escrow_id: str, state: State) -> None:
    print(f"STATE {escrow_id} {state.name}", flush=True)


async def _main(cfg: dict[str, object]) -> int:
    db_path = Path(str(cfg["db"]))
    key = bytes.fromhex(str(cfg["key"]))
    db = Database.open(db_path, key, create=not db_path.exists())
    try:
        login = Login(*str(cfg["escrow_login"]).split(":", 1))
        main_login = Login(*str(cfg["main_login"]).split(":", 1))
        wallets = PartyWallets(
            escrow_rpc=RpcClient(str(cfg["escrow_url"]), login=login),
            wallet_dir=Path(str(cfg["wallet_dir"])),
            ringdb_dir=Path(str(cfg["ringdb_dir"])),
            main_rpc=RpcClient(str(cfg["main_url"]), login=main_login),
        )
        options = DriverOptions(poll_interval=0.1, on_state=_print_state)
        party = EscrowParty(WalletStore(db), wallets, Path(str(cfg["mailbox"])), options)
        terms = EscrowTerms.from_wire(dict(cfg["terms"]))  # type: ignore[call-overload]
        role = str(cfg["role"])
        party.create_escrow(terms, role)  # type: ignore[arg-type]
        payout = Payout.from_wire(cfg["payout"])
        machine = await party.run_escrow(terms.escrow_id, agreed=payout)
        _print_state(terms.escrow_id, machine.state)
        return 0 if machine.state == State.S10_PAID_OUT else 1
    finally:
        db.close()


def main() -> None:
    cfg = json.loads(sys.stdin.read())
    sys.exit(trio.run(_main, cfg))


if __name__ == "__main__":
    main()
