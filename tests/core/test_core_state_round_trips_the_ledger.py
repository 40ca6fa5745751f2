"""Loading a ledger into the core and converting back gives the ledger's numbers exactly: every balance (wallets,
isolated margins, the insurance fund), every position's size, entry, mode and leverage, the marks and the
account settings. Nothing of the state is dropped: what the core cannot hold is refused
(test_core_status_at_the_edges)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings

from margincall.core.loader import load, reference_values
from margincall.model.enums import MarginMode
from support.core_books import ledger_of, snapshots


@settings(max_examples=200, deadline=None)
@given(snap=snapshots())
def test_load_then_back_equals_the_ledger(snap) -> None:  # type: ignore[no-untyped-def]
    led = ledger_of(snap)
    back = reference_values(load(led))
    assert back["balances"] == led.balances
    assert back["positions"] == {
        (k.account, k.symbol, k.position_side.value): (p.size, p.entry_price, p.is_isolated, p.leverage)
        for k, p in led.positions.items()}
    assert back["marks"] == led.marks
    assert back["leverage"] == led.leverage
    assert back["isolated"] == {k for k, m in led.modes.items() if m is MarginMode.ISOLATED}
    assert back["deposits"] == {a: v for a, v in led.deposits.items() if v != Decimal(0)}
