"""`explain` walks the log back from a liquidation and names the formula behind every number."""

from __future__ import annotations

from decimal import Decimal as D

from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.executor import MarketExecutor
from margincall.risk.explain import explain, liquidation_ids


def test_explain_seed_liquidation_chain():
    e = RiskEngine(EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0))))
    log = []

    def do(t, p, ts):
        for a in e.process(t, p, ts):
            log.append({"seq": len(log) + 1, "ts": a.ts, "type": a.type, "payload": a.payload,
                        "result": a.result.to_dict()})

    do("market_listed", {"venue": "generic", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0",
                         "tiers": [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]}, 1)
    do("account_opened", {"account": "t"}, 1)
    do("account_opened", {"account": "other"}, 1)
    do("deposit", {"account": "t", "asset": "USDT", "amount": "1000"}, 1)
    do("leverage_set", {"account": "t", "symbol": "BTCUSDT", "leverage": "10"}, 1)
    do("fill", {"account": "t", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"}, 2)
    for i, px in enumerate(["9500", "9220", "9180"]):
        do("mark", {"symbol": "BTCUSDT", "price": px}, 3 + i)
    assert liquidation_ids(log, "t") == ["L1"]
    steps = explain(log, "t")
    kinds = [s.type for s in steps]
    # the account's events, each mark that triggered an engine event for it, then the waterfall
    assert kinds == ["account_opened", "deposit", "leverage_set", "fill", "mark", "margin_call", "mark",
                     "margin_call", "liquidation_started", "liquidation", "bankruptcy_settlement",
                     "liquidation_finished", "margin_call"]
    crossing = steps[6]
    assert dict((n.name, n.value) for n in crossing.numbers)["price"] == "9180"
    started = {n.name: n for n in steps[8].numbers}
    assert D(started["equity"].value) == 180 and D(started["maintenance_margin"].value) == D("183.60")
    assert "math.margin.maintenance_margin" in started["maintenance_margin"].formula
    liq = {n.name: n for n in steps[9].numbers}
    assert D(liq["bankruptcy_price"].value) == 9000 and "docs/venues.md §3.5" in liq["bankruptcy_price"].formula
