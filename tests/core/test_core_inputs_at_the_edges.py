"""Inputs through the core where one rule or one unit decides, computed by hand (and held to the ledger too): a
fill's fee, realized PnL and flip; the available balance exactly enough or one unit short when Σ IM does not end
(leverage 3: the core's integer bounds cannot decide and the reference's Decimal expression does); a withdrawal
of exactly the withdrawable and one unit more; a funding payment; and what the core refuses by design — an
averaged entry, a price or a funding rate finer than its scale, an event type it does not run — with a clear
error, leaving the state untouched."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from margincall.core.inputs import apply
from margincall.core.loader import load, reference_values
from margincall.core.ranges import CoreRangeError
from margincall.ledger import Ledger, Rejected

ONE = {"venue": "generic", "symbol": "ONE", "kind": "linear", "contract_size": "1", "tick_size": "0.00001",
       "lot_size": "0.001", "settle_asset": "USDT", "maker_fee": "0.0002", "taker_fee": "0.0005",
       "tiers": [{"floor": "0", "cap": "100000", "mmr": "0.01", "max_leverage": "50"}]}


def _ledger(wallet: str, positions: list[list[str]] | None = None, leverage: str | None = None,
            hedge: bool = False) -> Ledger:
    return Ledger.from_snapshot({
        "unit": "1e-8", "markets": {"ONE": ONE}, "marks": {"ONE": "10000"}, "accounts": {"a": hedge},
        "balances": [["wallet:a", "USDT", wallet]], "positions": positions or [],
        "leverage": [["a", "ONE", leverage]] if leverage else [], "modes": [], "reserved": [], "liquidating": [],
        "deposits": {}, "withdrawals": {}, "events_applied": 0, "last_ts": 0})


def _fill(side: str, size: str, price: str, **extra: Any) -> dict[str, Any]:
    return {"account": "a", "symbol": "ONE", "side": side, "size": size, "price": price, **extra}


def _both(led: Ledger, event_type: str, payload: dict[str, Any]) -> tuple[Any, str | None]:
    """(the core after the input, the refusal's code), the ledger's outcome checked equal."""
    core = load(led)
    try:
        core = apply(core, event_type, payload, 1)
        got = None
    except Rejected as e:
        got = e.code
    try:
        led.apply(event_type, payload, 1)
        want = None
    except Rejected as e:
        want = e.code
    assert got == want
    assert reference_values(core)["balances"] == led.balances
    return core, got


def test_open_increase_at_the_entry_then_flip() -> None:
    led = _ledger("100")
    core = load(led)
    # 0.01 at 8000: notional 80, fee 80 × 0.0005 = 0.04; IM 80 / 20 = 4 ≤ 100 − 0.04
    core = apply(core, "fill", _fill("buy", "0.01", "8000"), 1)
    # the same again at the entry: 0.02 at 8000, fees 0.08
    core = apply(core, "fill", _fill("buy", "0.01", "8000"), 2)
    # sell 0.03 at 8100: 0.02 closed, realized 0.02 × 100 = 2; 0.01 short opened at 8100; fee 243 × 0.0005 = 0.1215
    core = apply(core, "fill", _fill("sell", "0.03", "8100"), 3)
    back = reference_values(core)
    assert back["balances"] == {("wallet:a", "USDT"): D("101.7985"), ("fees", "USDT"): D("0.2015"),
                                ("clearing", "USDT"): D("-2")}
    assert back["positions"] == {("a", "ONE", "both"): (D("-0.01"), D("8100"), False, D("20"))}
    for ts, p in enumerate([_fill("buy", "0.01", "8000"), _fill("buy", "0.01", "8000"),
                            _fill("sell", "0.03", "8100")], 1):
        led.apply("fill", p, ts)
    assert back["balances"] == led.balances
    assert (core.events_applied, core.last_ts) == (3, 3)


@pytest.mark.parametrize(("wallet", "code"), [("3.33833334", None), ("3.33833333", "insufficient_margin")])
def test_the_available_balance_to_the_unit_when_im_does_not_end(wallet: str, code: str | None) -> None:
    # 0.001 at 10000 at leverage 3: IM 10 / 3 = 3.3333…, fee 0.005: enough from 3.33833334, not at 3.33833333
    _core, got = _both(_ledger(wallet, leverage="3"), "fill", _fill("buy", "0.001", "10000"))
    assert got == code


@pytest.mark.parametrize(("amount", "code"), [("96.66666666", None), ("96.66666667", "insufficient_balance")])
def test_a_withdrawal_of_exactly_the_withdrawable(amount: str, code: str | None) -> None:
    # 0.001 long at 10000, marked at 10000, leverage 3: IM 3.3333…, withdrawable 100 − 3.3333… = 96.6666…
    led = _ledger("100", [["a", "ONE", "both", "0.001", "10000", "cross", "3"]], leverage="3")
    _core, got = _both(led, "withdrawal", {"account": "a", "asset": "USDT", "amount": amount})
    assert got == code


def test_a_funding_payment_to_the_unit() -> None:
    # 0.01 long at mark 8000.00001 and rate 0.0001 pays 80.0000001 × 0.0001 = 0.00800000001 → 0.00800001 (up)
    led = _ledger("100", [["a", "ONE", "both", "0.01", "8000", "cross", "20"]])
    core, _ = _both(led, "funding", {"symbol": "ONE", "rate": "0.0001", "mark": "8000.00001"})
    assert reference_values(core)["balances"][("wallet:a", "USDT")] == D("99.99199999")


def test_refusals_for_the_ledgers_rules() -> None:
    hedge = _ledger("100", [["a", "ONE", "long", "0.01", "8000", "cross", "20"]], hedge=True)
    assert _both(hedge, "fill", _fill("sell", "0.02", "8000", position_side="long"))[1] == "reduce_exceeds_position"
    one_way = [["a", "ONE", "both", "0.01", "8000", "cross", "20"]]
    assert _both(_ledger("100", one_way), "fill", _fill("sell", "0.02", "8000", reduce_only=True))[1] == \
        "reduce_only_violation"
    # 13 at 8000 = 104,000 ≥ the last cap 100,000
    assert _both(_ledger("1e6"), "fill", _fill("buy", "13", "8000"))[1] == "position_too_large"
    assert _both(_ledger("1e6", leverage="60"), "fill", _fill("buy", "1", "8000"))[1] == "leverage_too_high"
    assert _both(_ledger("100"), "fill", _fill("buy", "0.0015", "8000"))[1] == "invalid_lot"
    # a reduction at a loss beyond the wallet: 0.01 × (8000 − 1000) = 70 > 60
    assert _both(_ledger("60", one_way), "fill", _fill("sell", "0.01", "1000"))[1] == "insufficient_balance"


@pytest.mark.parametrize(("event_type", "payload", "field", "message"), [
    ("fill", _fill("buy", "0.01", "8100"), "price", "averages"),
    ("fill", _fill("sell", "0.001", "8000.000001"), "price", "more digits than the core's scale 1e-5"),
    ("funding", {"symbol": "ONE", "rate": "0.000000001"}, "rate", "more digits than the core's scale 1e-8"),
    ("mark", {"symbol": "ONE", "price": "1"}, "type", "not run through the core"),
])
def test_what_the_core_refuses_by_design_leaves_no_trace(event_type: str, payload: dict[str, Any], field: str,
                                                         message: str) -> None:
    led = _ledger("100", [["a", "ONE", "both", "0.01", "8000", "cross", "20"]])
    core = load(led)
    before = reference_values(core)
    with pytest.raises(CoreRangeError, match=message) as e:
        apply(core, event_type, payload, 1)
    assert e.value.field == field
    assert reference_values(core) == before
    assert core.events_applied == 0


@pytest.mark.parametrize(("amount", "code"), [("96.66666666", None), ("96.66666667", "insufficient_balance")])
def test_a_transfer_of_exactly_the_withdrawable_and_the_funds_capital(amount: str, code: str | None) -> None:
    # a holds 0.001 long at 10000, leverage 3 (IM 3.3333…): it can pass 96.66666666 of its 100 to b, not a unit more
    snap = _ledger("100", [["a", "ONE", "both", "0.001", "10000", "cross", "3"]], leverage="3").snapshot()
    snap["accounts"]["b"] = False
    led = Ledger.from_snapshot(snap)
    core, got = _both(led, "transfer", {"from": "a", "to": "b", "asset": "USDT", "amount": amount})
    assert got == code
    if code is None:
        assert reference_values(core)["balances"][("wallet:b", "USDT")] == D("96.66666666")
    assert _both(led, "transfer", {"from": "a", "to": "a", "asset": "USDT", "amount": "1"})[1] == "invalid_field"
    core, _ = _both(led, "insurance_fund_deposit", {"asset": "USDT", "amount": "250.5"})
    back = reference_values(core)
    assert back["balances"][("insurance", "USDT")] == D("250.5")
    assert back["balances"][("external", "USDT")] == D("-250.5")
    assert back["deposits"] == {"USDT": D("250.5")}
