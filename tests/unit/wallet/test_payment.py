"""Direct-payment machine: events in, notices out; the clock comes with the events."""

from hypothesis import given
from hypothesis import strategies as st

from umbra.wallet._payment import (
    PaymentData,
    PaymentMachine,
    PaymentObserved,
    PaymentState,
    Tick,
)


def machine(amount: int = 1_000, confirmations: int = 10) -> PaymentMachine:
    return PaymentMachine(PaymentData("o1", "addr", 3, amount, 500, confirmations))


def test_seen_then_paid() -> None:
    m = machine()
    assert [n.kind for n in m.handle(PaymentObserved(10, 1_000, 0, 0))] == ["seen"]
    assert m.state == PaymentState.P1_SEEN
    assert m.handle(Tick(600)) == []  # seen in time: no expiry while confirming
    assert [n.kind for n in m.handle(PaymentObserved(700, 1_000, 1_000, 10))] == ["paid"]
    assert PaymentState(m.state) == PaymentState.P3_PAID


def test_underpaid_then_topped_up_and_overpaid() -> None:
    m = machine()
    notes = m.handle(PaymentObserved(10, 400, 0, 0))
    assert [(n.kind, n.amount) for n in notes] == [("underpaid", 600)]
    assert m.state == PaymentState.P2_UNDERPAID
    notes = m.handle(PaymentObserved(20, 1_300, 1_300, 12))
    assert [(n.kind, n.amount) for n in notes] == [("paid", 1_300), ("overpaid", 300)]


def test_expiry_and_late_coins() -> None:
    m = machine()
    assert m.handle(Tick(499)) == []
    assert [n.kind for n in m.handle(Tick(500))] == ["expired"]
    assert [(n.kind, n.amount) for n in m.handle(PaymentObserved(900, 1_000, 0, 0))] == [
        ("late", 1_000)
    ]
    assert m.handle(PaymentObserved(950, 1_000, 1_000, 10)) == []  # the same coins again
    assert [(n.kind, n.amount) for n in m.handle(PaymentObserved(990, 1_500, 0, 0))] == [
        ("late", 500)
    ]
    assert m.state == PaymentState.P4_EXPIRED


def test_round_trip_and_idempotent_notices() -> None:
    m = machine()
    m.handle(PaymentObserved(10, 1_000, 0, 0))
    m2 = PaymentMachine(PaymentData.from_wire(m.data.to_wire()))
    assert m2.handle(PaymentObserved(11, 1_000, 0, 1)) == []  # "seen" only once


@given(
    st.lists(
        st.one_of(
            st.builds(Tick, st.integers(0, 1_000)),
            st.builds(
                PaymentObserved,
                st.integers(0, 1_000),
                st.integers(0, 2_000),
                st.integers(0, 2_000),
                st.integers(0, 20),
            ),
        ),
        max_size=30,
    )
)
def test_paid_is_final_and_table_holds(events: list[object]) -> None:
    m = machine()
    paid = False
    for e in events:
        m.handle(e)  # type: ignore[arg-type]
        paid = paid or m.state == PaymentState.P3_PAID
        if paid:
            assert m.state == PaymentState.P3_PAID
