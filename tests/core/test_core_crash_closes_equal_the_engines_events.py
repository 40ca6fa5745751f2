"""A crash tick through the core's compiled steps equals the Decimal engine's waterfall, watch for watch: a random
book, every symbol marked at once (one ``marks`` event: a crash, a rally or a small move per symbol), the venues'
partial steps off (``FullOnly``) and an insurance fund that covers every deficit, so that every liquidation is a
takeover and no close depends on the order of the others. Then:

* the watches the core finds liquidatable (``core.tick``) are exactly those the engine starts liquidating, with
  the same equity and MM in ``liquidation_started``;
* every ``liquidation`` event of the engine has the core's fill, bankruptcy price and fund result, and its
  realized PnL (``core.prices``, ``core.takeover``, ``core.cross_takeover``);
* an isolated close settles as the core says (fee, surplus, fund pays), a cross watch's ``bankruptcy_settlement``
  too (fee asked and paid, surplus, fund pays, venue absorbs).

The engine runs its own screening (the float index, confirmed exactly); the core takes the same marks.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from margincall.core.cross_takeover import cross_takeovers
from margincall.core.loader import load
from margincall.core.prices import as_prices, bankruptcy_prices, executor_fills
from margincall.core.takeover import takeovers
from margincall.core.tick import tick
from margincall.ledger import Ledger
from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.executor import MarketExecutor
from margincall.venues.partial import FullOnly
from support.core_books import MARKETS, SPECS, moves, snapshots

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000")) // 4
FUND = "10000000000"  # 1e10 of each asset: every deficit of a random book is covered


def _units(x: Any) -> int:
    return 0 if x is None else int(Decimal(str(x)).scaleb(8))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snap=snapshots(), slippage=st.sampled_from(["0", "0.001", "0.0137"]),
       impact=st.sampled_from(["0", "0.0005"]), data=st.data())
def test_a_crash_through_the_core_equals_the_engines_waterfall(snap, slippage, impact, data) -> None:  # type: ignore[no-untyped-def]
    marks = {s: data.draw(moves(s)) for s in sorted(MARKETS)}
    balances = [b for b in snap["balances"] if b[0] != "insurance"] + [["insurance", a, FUND] for a in ("USDT", "USDC")]
    led = Ledger.from_snapshot({**snap, "marks": {}, "balances": balances})
    venues = {spec.venue for spec in SPECS.values()}
    config = EngineConfig(executor=MarketExecutor(Decimal(slippage), Decimal(impact)),
                          partial_rules={v: FullOnly() for v in venues})
    engine = RiskEngine(config, led)
    core = load(engine.ledger)
    applied = engine.process("marks", {"marks": [{"symbol": s, "price": str(p)} for s, p in marks.items()]}, 1)

    res = tick(core, marks)
    wt = core.watches
    name: dict[int, tuple[str, str, str]] = {}
    for w in res.watches:
        acct = core.accounts[int(wt.account[w])]
        if wt.isolated[w]:
            r = int(wt.position[w])
            sym = core.markets.symbols[int(core.positions.market[r])]
            name[int(w)] = ("isolated", acct, f"{sym}:{('both', 'long', 'short')[int(core.positions.side[r])]}")
        else:
            name[int(w)] = ("cross", acct, core.assets[int(wt.asset[w])])
    by_watch: dict[tuple[str, str, str], list[Any]] = {}
    for a in applied:
        if "scope" in a.payload and a.type != "margin_call":
            by_watch.setdefault((a.payload["scope"], a.payload["account"], a.payload["what"]), []).append(a)
    liq = np.flatnonzero(res.liquidatable)
    assert {name[int(res.watches[i])] for i in liq} == set(by_watch)
    assume(len(liq))
    iso = [i for i in liq if wt.isolated[res.watches[i]]]
    crs = [i for i in liq if not wt.isolated[res.watches[i]]]
    s, m = Decimal(slippage), Decimal(impact)
    rows = wt.position[res.watches[iso]].astype(np.int64)
    fills = executor_fills(core, rows, s, m)
    iso_bp = as_prices(bankruptcy_prices(core, rows, res.equity[iso]))
    iso_got = takeovers(core, rows, fills)
    cross_ws = res.watches[crs].astype(np.int64)
    legs = (np.concatenate([wt.positions[wt.ptr[w]:wt.ptr[w + 1]] for w in cross_ws]) if crs
            else np.zeros(0, np.int64)).astype(np.int64)
    cross_fills = executor_fills(core, legs, s, m)
    cross_got = cross_takeovers(core, cross_ws, cross_fills, res.equity[crs])
    for i in liq:  # every liquidation started with the core's equity and MM
        started = by_watch[name[int(res.watches[i])]][0]
        assert started.type == "liquidation_started"
        assert Decimal(started.payload["equity"]) == res.equity_decimal(int(i))
        assert Decimal(started.payload["maintenance_margin"]) == res.mm_decimal(int(i))
    for j, i in enumerate(iso):
        evs = by_watch[name[int(res.watches[i])]]
        [close] = [a for a in evs if a.type == "liquidation"]
        assert close.payload["mode"] == "takeover"
        assert close.payload["close_price"] == str(as_prices(fills[j:j + 1])[0])
        assert close.payload["bankruptcy_price"] == str(iso_bp[j])
        assert Decimal(close.payload["expected_fund_result"]) == iso_got.fund_result(j)
        d = close.result.details
        assert (_units(d["realized_pnl"]), _units(d["liquidation_fee"]), _units(d["surplus"]),
                _units(d["insurance_paid"])) == (int(iso_got.realized[j]), int(iso_got.fee_paid[j]),
                                                 int(iso_got.surplus[j]), int(iso_got.insurance_paid[j]))
        event("isolated")
    written = as_prices(cross_fills)
    cross_bp = as_prices(cross_got.bankruptcy)
    for j, i in enumerate(crs):
        evs = by_watch[name[int(res.watches[i])]]
        closes = [a for a in evs if a.type == "liquidation"]
        lo, hi = int(cross_got.leg_ptr[j]), int(cross_got.leg_ptr[j + 1])
        assert len(closes) == hi - lo
        for n, close in enumerate(closes):
            assert close.payload["mode"] == "takeover"
            assert close.payload["close_price"] == str(written[lo + n])
            assert close.payload["bankruptcy_price"] == str(cross_bp[lo + n])
            assert Decimal(close.payload["expected_fund_result"]) == cross_got.fund_result(j)
            assert _units(close.result.details["realized_pnl"]) == int(cross_got.realized[lo + n])
        [settle] = [a for a in evs if a.type == "bankruptcy_settlement"]
        d = settle.result.details
        assert _units(settle.payload["liquidation_fee"]) == int(cross_got.fee_asked[j])
        assert (_units(d["liquidation_fee"]), _units(d["surplus"]), _units(d["insurance_paid"]),
                _units(d["venue_absorbed"])) == (int(cross_got.fee_paid[j]), int(cross_got.surplus[j]),
                                                 int(cross_got.insurance_paid[j]), int(cross_got.venue_absorbed[j]))
        event(f"cross, {min(hi - lo, 3)}+ legs")
