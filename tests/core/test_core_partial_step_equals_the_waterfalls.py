"""One partial-liquidation step through the core (``core.partial``) equals the reference, for every marked
position of a random book over the venues' markets and their own partial rules (Binance and Bybit one tier down,
OKX two tiers from tier 3, dYdX in full; Hyperliquid's steps in time are refused by the core): the step's size and
tiers (``TierStepDown.step``), the executor's fill for the step alone, whether the waterfall takes it (equity above
zero and above the step's cost, ``Waterfall._partial``), and the ``partial_liquidation`` event the ledger books —
fee, realized PnL, isolated margin released — or its refusal of a step that would leave a cross wallet below zero.
"""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from margincall.core.loader import load
from margincall.core.partial import partial_steps
from margincall.core.prices import as_prices
from margincall.core.ranges import CoreRangeError
from margincall.core.tick import statuses
from margincall.ledger import Rejected
from margincall.math.contracts import notional_of
from margincall.math.liquidation import market_fill_price, partial_step_cost_fee_plus_slippage
from margincall.risk.events import register
from margincall.risk.partial import partial_rule
from margincall.risk.status import status, watches_for
from support.core_books import ledger_of, snapshots

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000")) // 2


def _units(x: str | None) -> int:
    return 0 if x is None else int(Decimal(x).scaleb(8))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snap=snapshots(), slippage=st.sampled_from(["0", "0.001", "0.0137"]), impact=st.sampled_from(["0", "0.0005"]))
def test_a_partial_step_gives_the_references_integers(snap, slippage, impact) -> None:  # type: ignore[no-untyped-def]
    led = ledger_of(snap)
    core = load(led)
    p = core.positions
    rows, keys = [], []
    for r in range(len(p.size)):
        symbol = core.markets.symbols[int(p.market[r])]
        if symbol not in snap["marks"] or partial_rule(led.markets[symbol].venue).core_form() is None:
            continue
        rows.append(r)
        keys.append(next(k for k in led.positions if k.account == core.accounts[int(p.account[r])]
                         and k.symbol == symbol and ("both", "long", "short").index(k.position_side.value)
                         == int(p.side[r])))
    assume(rows)
    arr = np.array(rows, np.int64)
    equity = statuses(core, p.watch[arr].astype(np.int64)).equity
    rules = [partial_rule(led.markets[k.symbol].venue) for k in keys]
    got = partial_steps(core, arr, rules, equity, Decimal(slippage), Decimal(impact))
    fills = as_prices(got.fill)
    for i, key in enumerate(keys):
        pos = led.positions[key]
        market = led.markets[key.symbol]
        inst = market.instrument
        mark = led.price_for(key.symbol)
        sd = -inst.lot_size.normalize().as_tuple().exponent  # type: ignore[operator]
        step = rules[i].step(market, abs(pos.size), mark, 0, None)
        assert int(got.tier_before[i]) == step.tier_before, key
        if step.size is None:
            assert int(got.size[i]) == 0, key
            event("in full by the rule")
            continue
        assert Decimal(int(got.size[i])).scaleb(-max(sd, 0)) == step.size, key
        assert int(got.tier_after[i]) == step.tier_after, key
        qty = step.size * inst.contract_size
        fill = market_fill_price(pos.sign, mark, notional_of(inst.kind, qty, mark), Decimal(slippage), Decimal(impact))
        assert fills[i] == fill, key
        watch = watches_for(led, key)
        eq = status(led, watch).equity
        cost = partial_step_cost_fee_plus_slippage(inst.kind, pos.sign, qty, mark, fill, market.liquidation_fee)
        assert bool(got.takes[i]) == (eq > 0 and eq - cost > 0), key
        if not got.takes[i]:
            event("in full: the step costs the equity")
            continue
        fresh = register(ledger_of(snap))
        payload = {"account": key.account, "scope": watch.scope, "what": watch.what, "liquidation_id": "L1",
                   "symbol": key.symbol, "position_side": key.position_side.value, "size": str(step.size),
                   "price": str(fill), "mark": str(mark), "fee_rate": str(market.liquidation_fee),
                   "reason": step.reason, "tier_before": step.tier_before + 1, "tier_after": step.tier_after + 1}
        wallet_after = (int(core.wallet[int(p.account[rows[i]]), int(core.markets.asset[int(p.market[rows[i]])])])
                        + int(got.realized[i]) - int(got.fee[i]))
        try:
            d = fresh.apply("partial_liquidation", payload, 1).details
        except Rejected as exc:
            assert exc.code == "insufficient_balance" and watch.scope == "cross" and wallet_after < 0, key
            event("refused: the cross wallet would go below zero")
            continue
        assert not (watch.scope == "cross" and wallet_after < 0), key
        assert (int(got.fee[i]), int(got.realized[i]), int(got.released[i])) == (
            _units(d["fee"]), _units(d["realized_pnl"]), _units(d.get("margin_released"))), key
        event(f"step taken ({watch.scope})")


def test_a_rule_in_time_is_refused() -> None:
    snap = {"unit": "1e-8", "markets": {"BTC": {"venue": "hyperliquid", "symbol": "BTC"}}, "marks": {"BTC": "60000"},
            "accounts": {"a": False}, "balances": [["wallet:a", "USDC", "3000"]],
            "positions": [["a", "BTC", "both", "1", "60000", "cross", "10"]], "reserved": [], "leverage": [],
            "modes": [], "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0, "last_ts": 0}
    core = load(ledger_of(snap))
    with pytest.raises(CoreRangeError, match="steps in time"):
        partial_steps(core, np.array([0], np.int64), [partial_rule("hyperliquid")], np.array([0], np.int64),
                      Decimal(0), Decimal(0))


def test_a_cross_step_that_would_leave_the_wallet_below_zero_is_the_ledgers_refusal() -> None:
    """A cross account with 100 USDT, long 10 BTC from 60,000 at a mark of 59,000 (−10,000) and short 100 ETH from
    3,000 at 2,800 (+20,000): equity 10,100, far above any step's cost, so the waterfall would take a BTC step —
    but the step's realized loss alone (the closed part × −1,000) is more than the 100 in the wallet. The core's
    wallet after the step is below zero exactly when the ledger refuses it."""
    snap = {"unit": "1e-8", "markets": {"BTCUSDT": {"venue": "binance-usdm", "symbol": "BTCUSDT"},
                                        "ETHUSDT": {"venue": "binance-usdm", "symbol": "ETHUSDT"}},
            "marks": {"BTCUSDT": "59000", "ETHUSDT": "2800"}, "accounts": {"a": False},
            "balances": [["wallet:a", "USDT", "100"]],
            "positions": [["a", "BTCUSDT", "both", "10", "60000", "cross", "20"],
                          ["a", "ETHUSDT", "both", "-100", "3000", "cross", "20"]], "reserved": [], "leverage": [],
            "modes": [], "liquidating": [], "deposits": {}, "withdrawals": {}, "events_applied": 0, "last_ts": 0}
    led = register(ledger_of(snap))
    core = load(led)
    btc = 0  # positions sorted by (account, symbol)
    eq = statuses(core, core.positions.watch[[btc]].astype(np.int64)).equity
    assert int(eq[0]) == 10_100 * 10**8
    got = partial_steps(core, np.array([btc], np.int64), [partial_rule("binance-usdm")], eq, Decimal(0), Decimal(0))
    assert int(got.size[0]) > 0 and bool(got.takes[0])
    assert 100 * 10**8 + int(got.realized[0]) - int(got.fee[0]) < 0
    step = Decimal(int(got.size[0])).scaleb(-3)
    with pytest.raises(Rejected, match="below zero"):
        led.apply("partial_liquidation", {"account": "a", "scope": "cross", "what": "USDT", "liquidation_id": "L1",
                                          "symbol": "BTCUSDT", "size": str(step), "price": "59000", "mark": "59000",
                                          "fee_rate": str(led.markets["BTCUSDT"].liquidation_fee), "reason": "step",
                                          "tier_before": int(got.tier_before[0]) + 1,
                                          "tier_after": int(got.tier_after[0]) + 1}, 1)
