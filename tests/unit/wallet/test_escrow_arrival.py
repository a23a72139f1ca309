"""Every arrival order of the escrow messages ends in the same paid-out escrow (issue 15, item 8).

Three escrow machines against the well-behaved `fake_wallet`; each message and each wallet
answer is delivered after a delay Hypothesis chooses, each party's escrow starts when
Hypothesis says (messages to a party whose escrow has not started wait in its inbox, as they
do in a node), and the co-signer's side agrees the payout at a chosen moment. Whatever the
order, no message may be lost: all three machines must end paid out with the same
transaction, and nothing may wait forever.
"""

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umbra.wallet import (
    AddressAnnounce,
    EscrowData,
    EscrowMachine,
    EscrowProtocolError,
    Payout,
    PayoutDone,
    State,
    decode_message,
    encode_message,
)
from umbra.wallet._escrow_types import (
    EscrowEvent,
    MessageReceived,
    Notify,
    PayoutExpected,
    ProposePayout,
    Send,
    Start,
)

from .test_escrow_machine import ROLES, TERMS, TXID, fake_wallet

PAYOUTS = (
    Payout("release", "buyer", "seller", 2_000, 0),
    Payout("refund", "seller", "buyer", 0, 2_000),
    Payout("dispute", "arbiter", "seller", 1_500, 500),
)
# Short delays (a few steps), and now and then a message held back until everything else
# that can move has moved: overtaken by a whole set-up or payout.
DELAYS = st.integers(0, 3)
HOLD_ONE_IN = 40
HELD_S = 100_000


@dataclass(order=True)
class Item:
    due: int
    n: int  # ties: first scheduled, first delivered
    to: str = field(compare=False)
    event: EscrowEvent = field(compare=False)


class World:
    def __init__(self, payout: Payout, draw: st.DataObject) -> None:
        self.payout = payout
        self.draw = draw
        self.machines = {
            r: EscrowMachine.create(TERMS, r, wallet_name=f"w-{r}", wallet_password="pw")  # type: ignore[arg-type]
            for r in ROLES
        }
        self.started: set[str] = set()
        self.items: list[Item] = []
        self.now = 0
        self.n = 0
        self.proposed = False
        self.rejected: list[str] = []

    def schedule(self, to: str, event: EscrowEvent) -> None:
        self.n += 1
        delay = self.draw.draw(DELAYS, label="delay")
        if self.draw.draw(st.integers(1, HOLD_ONE_IN), label="hold") == HOLD_ONE_IN:
            delay += HELD_S
        self.items.append(Item(self.now + delay, self.n, to, event))

    def next_item(self) -> Item | None:
        """The earliest item that can be delivered (an unstarted escrow reads no inbox)."""
        ready = [
            i
            for i in self.items
            if i.to in self.started or not isinstance(i.event, MessageReceived)
        ]
        if not ready:
            return None
        item = min(ready)
        self.items.remove(item)
        self.now = max(self.now, item.due)
        return item

    def deliver(self, item: Item) -> None:
        role, event = item.to, item.event
        if isinstance(event, Start):
            self.started.add(role)
        # Through the stored form at every step, as the driver reloads it after a crash.
        m = self.machines[role] = EscrowMachine(
            EscrowData.from_wire(self.machines[role].data.to_wire())
        )
        try:
            actions = m.handle(event)
        except EscrowProtocolError as exc:  # the driver records it and acks the message
            self.rejected.append(f"{role}: {exc}")
            return
        for action in actions:
            if isinstance(action, Send):
                wire = decode_message(encode_message(action.message))
                self.schedule(action.to, MessageReceived(wire))
            elif not isinstance(action, Notify):
                self.schedule(role, fake_wallet(m, action))
        proposer = self.machines[self.payout.proposer]
        if proposer.state == State.S7_FUNDED and not self.proposed:
            self.proposed = True
            self.schedule(self.payout.proposer, ProposePayout(self.payout))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payout=st.sampled_from(PAYOUTS), data=st.data())
def test_every_arrival_order_ends_in_the_same_paid_out_escrow(
    payout: Payout, data: st.DataObject
) -> None:
    world = World(payout, data)
    for role in ROLES:
        world.schedule(role, Start())
    world.schedule(payout.cosigner, PayoutExpected(payout))
    for _ in range(3000):
        item = world.next_item()
        if item is None:
            break
        world.deliver(item)
    states = {r: m.state for r, m in world.machines.items()}
    assert states == dict.fromkeys(ROLES, State.S10_PAID_OUT), (states, world.rejected)
    assert {m.data.txids for m in world.machines.values()} == {(TXID,)}
    assert world.items == []


class Scripted(World):
    """No delays, except the buyer's address to the arbiter: it comes after everything."""

    def __init__(self, payout: Payout) -> None:
        super().__init__(payout, None)  # type: ignore[arg-type]

    def schedule(self, to: str, event: EscrowEvent) -> None:
        self.n += 1
        late = (
            to == "arbiter"
            and isinstance(event, MessageReceived)
            and isinstance(event.message, AddressAnnounce)
            and event.message.sender == "buyer"
        )
        self.items.append(Item(self.now + (HELD_S if late else 0), self.n, to, event))


def test_a_payout_done_that_overtakes_an_address_is_used_once_the_address_comes() -> None:
    """A release: the arbiter (outside the payout) still misses the buyer's address when the
    seller's "done" arrives. It is kept, not refused, and the arbiter ends paid out."""
    payout = PAYOUTS[0]
    world = Scripted(payout)
    for role in ROLES:
        world.schedule(role, Start())
    world.schedule(payout.cosigner, PayoutExpected(payout))
    kept_done = False
    while (item := world.next_item()) is not None:
        world.deliver(item)
        arbiter = world.machines["arbiter"].data
        kept_done = kept_done or any(
            isinstance(decode_message(raw), PayoutDone) for raw in arbiter.deferred
        )
    assert kept_done  # the case happened: "done" came while the arbiter was in S5
    assert world.rejected == []
    assert {r: m.state for r, m in world.machines.items()} == dict.fromkeys(
        ROLES, State.S10_PAID_OUT
    )
    assert world.machines["arbiter"].data.txids == (TXID,)
