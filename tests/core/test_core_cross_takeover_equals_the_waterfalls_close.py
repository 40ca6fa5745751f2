"""The core's takeover close of cross watches (``core.cross_takeover``) gives the integers of the reference, for
every marked cross watch of a random book closed one after another in a random order at the reference executor's
fills (random slippage and impact) against a fund of random size: the legs in the waterfall's order, the
takeover-or-ADL decision and its ``expected_fund_result`` exactly (``Waterfall._full``), each leg's bankruptcy
price as the event writes it, each ``liquidation`` event's realized PnL, and the ``bankruptcy_settlement``: the
fee asked (``liquidation_fee_of_closes``) and paid, the surplus, what the fund pays and what the venue absorbs —
and the fund after each close. The equity the bankruptcy prices share is the core's own status pass."""

from __future__ import annotations

import os
from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from margincall.core.cross_takeover import cross_takeovers
from margincall.core.loader import load
from margincall.core.prices import as_prices, executor_fills
from margincall.core.tick import statuses
from margincall.ledger.types import INSURANCE
from margincall.math.liquidation import (
    ClosingLeg,
    bankruptcy_prices_sharing_equity_pro_rata_to_notional,
    liquidation_fee_of_closes,
    market_fill_price,
    takeover_fund_result_after_closing_at_fills,
)
from margincall.risk.events import register
from margincall.risk.status import WatchId, status
from support.core_books import ledger_of, snapshots

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000")) // 2


def _units(x: Decimal | str | None) -> int:
    return 0 if x is None else int(Decimal(x).scaleb(8))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snap=snapshots(), fund=st.one_of(st.just(0), st.integers(0, 10**9), st.integers(0, 10**16)),
       slippage=st.sampled_from(["0", "0.001", "0.002", "0.0137"]), impact=st.sampled_from(["0", "0.0005", "0.01"]),
       data=st.data())
def test_cross_takeovers_give_the_references_integers(snap, fund, slippage, impact, data) -> None:  # type: ignore[no-untyped-def]
    balances = [b for b in snap["balances"] if b[0] != "insurance"]
    balances += [["insurance", asset, str(Decimal(fund).scaleb(-8))] for asset in ("USDT", "USDC") if fund]
    led = register(ledger_of({**snap, "balances": balances}))
    core = load(led)
    wt = core.watches
    marked = [w for w in range(len(wt.isolated)) if not wt.isolated[w] and wt.ptr[w + 1] > wt.ptr[w]
              and all(core.markets.has_mark[core.positions.market[p]] for p in wt.positions[wt.ptr[w]:wt.ptr[w + 1]])]
    assume(marked)
    order = np.array(data.draw(st.permutations(marked)), np.int64)
    eq = statuses(core, order).equity
    legs_all = np.concatenate([wt.positions[wt.ptr[w]:wt.ptr[w + 1]] for w in order]).astype(np.int64)
    fills_all = executor_fills(core, legs_all, Decimal(slippage), Decimal(impact))
    got = cross_takeovers(core, order, fills_all, eq)
    written = as_prices(fills_all)
    bankrupt = as_prices(got.bankruptcy)
    for i, w in enumerate(order):
        acct, asset = core.accounts[int(wt.account[w])], core.assets[int(wt.asset[w])]
        watch = WatchId.cross(acct, asset)
        st_ = status(led, watch)
        lo, hi = int(got.leg_ptr[i]), int(got.leg_ptr[i + 1])
        keys = [p.key for p in st_.positions]
        assert [(core.markets.symbols[int(core.positions.market[r])], int(core.positions.side[r]))
                for r in got.legs[lo:hi]] == [(k.symbol, ("both", "long", "short").index(k.position_side.value))
                                              for k in keys]
        legs = [ClosingLeg(led.markets[k.symbol].instrument.kind, p.sign,
                           abs(p.size) * led.markets[k.symbol].instrument.contract_size, led.price_for(k.symbol))
                for k, p in zip(keys, st_.positions, strict=True)]
        fills = [market_fill_price(leg.sign, leg.mark, leg.qty * leg.mark, Decimal(slippage), Decimal(impact))
                 for leg in legs]
        assert written[lo:hi] == fills
        assert bankrupt[lo:hi] == bankruptcy_prices_sharing_equity_pro_rata_to_notional(legs, st_.equity)
        fund_result = takeover_fund_result_after_closing_at_fills(st_.equity, legs, fills)
        assert got.fund_result(i) == fund_result
        fund_before = led.book_balance(INSURANCE, asset)
        assert bool(got.takeover[i]) == (fund_before + fund_result >= 0)
        if not got.takeover[i]:
            event("ADL: the fund cannot take it over")
            continue
        base = {"account": acct, "scope": "cross", "what": asset, "liquidation_id": f"L{i}"}
        led.apply("liquidation_started", {**base, "equity": str(st_.equity),
                                          "maintenance_margin": str(st_.maintenance_margin)}, 1)
        for j, (k, leg, fill) in enumerate(zip(keys, legs, fills, strict=True)):
            res = led.apply("liquidation", {
                **base, "symbol": k.symbol, "position_side": k.position_side.value, "size": str(leg.qty / led.markets[
                    k.symbol].instrument.contract_size), "close_price": str(fill), "price": str(fill),
                "mark": str(leg.mark), "fee_rate": str(led.markets[k.symbol].liquidation_fee), "mode": "takeover",
                "expected_fund_result": str(fund_result)}, 1)
            assert int(got.realized[lo + j]) == _units(res.details["realized_pnl"]), k
        asked = liquidation_fee_of_closes(legs, fills, [led.markets[k.symbol].liquidation_fee for k in keys],
                                          led.unit)
        assert int(got.fee_asked[i]) == _units(asked)
        assert int(got.residual[i]) == _units(led.book_balance(f"wallet:{acct}", asset))
        d = led.apply("bankruptcy_settlement", {**base, "asset": asset, "liquidation_fee": str(asked)}, 1).details
        assert (int(got.fee_paid[i]), int(got.surplus[i]), int(got.insurance_paid[i]), int(got.venue_absorbed[i])) \
            == (_units(d["liquidation_fee"]), _units(d["surplus"]), _units(d["insurance_paid"]),
                _units(d["venue_absorbed"]))
        event("surplus" if got.surplus[i] else "fund pays" if got.insurance_paid[i] else
              "venue absorbs" if got.venue_absorbed[i] else "exactly at bankruptcy")
        event(f"legs: {min(hi - lo, 3)}+")
    for a, asset in enumerate(core.assets):
        assert int(got.fund_after[a]) == _units(led.book_balance(INSURANCE, asset))
