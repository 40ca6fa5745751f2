"""The core's takeover close of isolated positions (``core.takeover``) gives the integers of the reference: the
waterfall's takeover-or-ADL decision (``Waterfall._full``: ``fund + takeover_fund_result_after_closing_at_fills ≥
0``) and the ``liquidation`` event the ledger books (``risk.events._liquidation`` and ``_settle``): realized PnL,
margin released, the liquidation fee asked and paid, the surplus, what the fund pays and what the venue absorbs,
and the fund after each close — for every isolated position of a random book, closed one after another at the
reference executor's fill (random slippage and impact), against a fund of random size (often too small).

Within the core's ranges every product the reference forms fits its 28-digit context, so equality is to the unit,
not within a tolerance. (The venue never absorbs part of an isolated takeover: the fund takes a position over only
when it holds the whole deficit, so ``venue_absorbed`` is pinned at zero here.)
"""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from margincall.core.loader import load
from margincall.core.ranges import CoreRangeError
from margincall.core.takeover import takeovers
from margincall.ledger.types import INSURANCE
from margincall.math.contracts import notional_of
from margincall.math.liquidation import (
    ClosingLeg,
    liquidation_fee_rounded_up,
    nominal_liquidation_fee,
    price_in_event,
    takeover_fund_result_after_closing_at_fills,
)
from margincall.risk.events import register
from margincall.risk.executor import MarketExecutor
from margincall.risk.status import WatchId, status
from support.core_books import ledger_of, snapshots

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000")) // 2


def _units(x: Decimal | str | None) -> int:
    return 0 if x is None else int(Decimal(x).scaleb(8))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(snap=snapshots(), fund=st.one_of(st.just(0), st.integers(0, 10**9), st.integers(0, 10**16)),
       slippage=st.sampled_from(["0", "0.001", "0.002", "0.0137"]), impact=st.sampled_from(["0", "0.0005", "0.01"]),
       data=st.data())
def test_isolated_takeovers_give_the_references_integers(snap, fund, slippage, impact, data) -> None:  # type: ignore[no-untyped-def]
    balances = [b for b in snap["balances"] if b[0] != "insurance"]  # a fund of the drawn size in each asset
    balances += [["insurance", asset, str(Decimal(fund).scaleb(-8))] for asset in ("USDT", "USDC") if fund]
    led = register(ledger_of({**snap, "balances": balances}))
    keys = sorted((k for k, p in led.positions.items() if p.is_isolated and k.symbol in snap["marks"]),
                  key=lambda k: (k.account, k.symbol, k.position_side.value))
    assume(keys)
    keys = data.draw(st.permutations(keys))
    core = load(led)
    executor = MarketExecutor(Decimal(slippage), Decimal(impact))
    rows, fills = [], []
    pos_index = {(core.accounts[int(core.positions.account[r])], core.markets.symbols[int(core.positions.market[r])],
                  int(core.positions.side[r])): r for r in range(len(core.positions.size))}
    sides = {"both": 0, "long": 1, "short": 2}
    for key in keys:
        pos = led.positions[key]
        inst = led.markets[key.symbol].instrument
        mark = led.price_for(key.symbol)
        fill = price_in_event(executor.fill_price(pos.sign, mark, notional_of(inst.kind, abs(pos.size)
                                                                              * inst.contract_size, mark), None))
        rows.append(pos_index[(key.account, key.symbol, sides[key.position_side.value])])
        fills.append(fill)
    got = takeovers(core, np.array(rows, np.int64), np.array([int(f.scaleb(10)) for f in fills], np.int64))
    taken = 0
    for i, key in enumerate(keys):
        pos = led.positions[key]
        inst = led.markets[key.symbol].instrument
        asset = inst.settle_asset
        st_ = status(led, WatchId.isolated(key))
        leg = ClosingLeg(inst.kind, pos.sign, abs(pos.size) * inst.contract_size, led.price_for(key.symbol))
        fund_result = takeover_fund_result_after_closing_at_fills(st_.equity, [leg], [fills[i]])
        fund_before = led.book_balance(INSURANCE, asset)
        assert got.fund_result(i) == fund_result, key
        assert bool(got.takeover[i]) == (fund_before + fund_result >= 0), key
        if not got.takeover[i]:
            event("ADL: the fund cannot take it over")
            continue
        taken += 1
        res = led.apply("liquidation", {
            "account": key.account, "scope": "isolated", "what": f"{key.symbol}:{key.position_side.value}",
            "liquidation_id": f"L{i}", "symbol": key.symbol, "position_side": key.position_side.value,
            "size": str(abs(pos.size)), "close_price": str(fills[i]), "price": str(fills[i]),
            "mark": str(leg.mark), "fee_rate": str(led.markets[key.symbol].liquidation_fee), "mode": "takeover",
            "expected_fund_result": str(fund_result)}, 1)
        d = res.details
        assert int(got.realized[i]) == _units(d["realized_pnl"]), key
        assert int(core.positions.isolated_margin[rows[i]]) == _units(d["margin_released"]), key
        asked = liquidation_fee_rounded_up(nominal_liquidation_fee(inst.kind, leg.qty, fills[i],
                                                                   led.markets[key.symbol].liquidation_fee), led.unit)
        assert int(got.fee_asked[i]) == _units(asked), key
        assert int(got.fee_paid[i]) == _units(d["liquidation_fee"]), key
        assert int(got.surplus[i]) == _units(d["surplus"]), key
        assert int(got.insurance_paid[i]) == _units(d["insurance_paid"]), key
        assert int(got.venue_absorbed[i]) == _units(d["venue_absorbed"]), key
        event("surplus" if got.surplus[i] else "fund pays" if got.insurance_paid[i] else "exactly at bankruptcy")
    for a, asset in enumerate(core.assets):
        assert int(got.fund_after[a]) == _units(led.book_balance(INSURANCE, asset))
    event(f"taken over: {min(taken, 3)}+")


def test_a_hand_computed_takeover() -> None:
    """BTCUSDT (lot 0.001: prices at 1e-5), long 0.5 BTC from 60,000 with 3,000 USDT isolated, closed at
    53,999.9999999999 (the executor's fill, 10 decimals), liquidation fee 0.5 % (Binance's default here:
    the market's own rate is read from the core), fund 100 USDT:
    realized = floor(0.5 × (53999.9999999999 − 60000)) = floor(−3000.00000000005) = −3000.00000001;
    residual = 3000 − 3000.00000001 = −0.00000001: the fund pays 1e-8, no fee.
    Then the fund's takeover condition: 100 + 3000 − 3000.00000000005 ≥ 0, so it is a takeover."""
    snap = {"unit": "1e-8", "markets": {"BTCUSDT": {"venue": "binance-usdm", "symbol": "BTCUSDT"}},
            "marks": {"BTCUSDT": "54000"}, "accounts": {"a": False},
            "balances": [["isolated:a:BTCUSDT:both", "USDT", "3000"], ["insurance", "USDT", "100"]],
            "positions": [["a", "BTCUSDT", "both", "0.5", "60000", "isolated", "10"]], "reserved": [],
            "leverage": [], "modes": [], "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0,
            "last_ts": 0}
    core = load(ledger_of(snap))
    got = takeovers(core, np.array([0], np.int64), np.array([539999999999999], np.int64))
    assert bool(got.takeover[0])
    assert int(got.realized[0]) == -300000000001
    assert (int(got.fee_paid[0]), int(got.surplus[0]), int(got.insurance_paid[0]), int(got.venue_absorbed[0])) \
        == (0, 0, 1, 0)
    assert got.fund_result(0) == Decimal("-0.00000000005")
    assert int(got.fund_after[core.assets.index("USDT")]) == 100 * 10**8 - 1


def test_refusals_name_the_field() -> None:
    snap = {"unit": "1e-8", "markets": {"BTCUSDT": {"venue": "binance-usdm", "symbol": "BTCUSDT"}},
            "marks": {}, "accounts": {"a": False},
            "balances": [["wallet:a", "USDT", "3000"]],
            "positions": [["a", "BTCUSDT", "both", "0.5", "60000", "cross", "10"]], "reserved": [],
            "leverage": [], "modes": [], "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0,
            "last_ts": 0}
    core = load(ledger_of(snap))
    with pytest.raises(CoreRangeError, match="isolated positions only"):
        takeovers(core, np.array([0], np.int64), np.array([59000 * 10**10], np.int64))
    with pytest.raises(CoreRangeError, match="2 prices for 1 positions"):
        takeovers(core, np.array([0], np.int64), np.array([59000 * 10**10, 1], np.int64))
