"""Risk-engine scenarios with hand-computed numbers (the computation is in each test's comments)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from margincall.ledger import PositionKey
from margincall.risk.engine import Applied, EngineConfig, RiskEngine
from margincall.risk.executor import MarketExecutor, TakeoverExecutor

FLAT_2PCT = [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]
NO_SLIP = MarketExecutor(slippage=D(0), impact_per_million=D(0))


def engine(executor: Any = NO_SLIP, **listing: Any) -> RiskEngine:
    e = RiskEngine(EngineConfig(executor=executor))
    base = {"venue": "generic", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0", "tiers": FLAT_2PCT}
    e.process("market_listed", {**base, "symbol": "BTCUSDT", **listing}, 1)
    e.process("market_listed", {**base, "symbol": "ETHUSDT", "lot_size": "0.01"}, 1)
    return e


def open_account(e: RiskEngine, acct: str, usdt: str, **settings: str) -> None:
    e.process("account_opened", {"account": acct}, 1)
    e.process("deposit", {"account": acct, "asset": "USDT", "amount": usdt}, 1)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        if settings:
            e.process("leverage_set", {"account": acct, "symbol": symbol, **settings}, 1)


def trade(e: RiskEngine, acct: str, symbol: str, side: str, size: str, price: str) -> None:
    e.process("fill", {"account": acct, "symbol": symbol, "side": side, "size": size, "price": price},
              e.ledger.last_ts)


def tick(e: RiskEngine, symbol: str, price: str, ts: int | None = None) -> list[Applied]:
    return e.process("mark", {"symbol": symbol, "price": price}, e.ledger.last_ts + 1 if ts is None else ts)[1:]


def types(events: list[Applied]) -> list[str]:
    return [a.type for a in events]


def test_seed_example_margin_call_then_liquidation():
    # $1,000 at 10x = a $10,000 BTC long (1 BTC at 10,000), MMR 2 %. Equity = P − 9,000, MM = 0.02·P.
    # Warning at MM/equity ≥ 80 %: 0.02P ≥ 0.8(P − 9000) ⇔ P ≤ 9,230.77; reduce-only at 90 %: P ≤ 9,212.90;
    # liquidation at equity ≤ MM: P ≤ 9,000/0.98 = 9,183.67.
    e = engine(liquidation_fee="0.01")
    open_account(e, "t", "1000", leverage="10")
    open_account(e, "mm", "100000")
    e.process("insurance_fund_deposit", {"asset": "USDT", "amount": "500"}, 1)
    trade(e, "t", "BTCUSDT", "buy", "1", "10000")
    trade(e, "mm", "BTCUSDT", "sell", "1", "10000")
    assert tick(e, "BTCUSDT", "9250") == []  # 185 / 250 = 74 %: healthy
    (call,) = tick(e, "BTCUSDT", "9220")  # 184.4 / 220 = 83.8 %: the margin call comes first
    assert call.type == "margin_call" and call.payload["band"] == "warning"
    assert D(call.payload["equity"]) == 220 and D(call.payload["maintenance_margin"]) == D("184.4")
    # the liquidation mark is 9,000 / 0.98; deposit to healthy (ratio < 75 %): 184.4/0.75 − 220 = 25.8666…7
    assert abs(D(call.payload["liquidation_marks"]["BTCUSDT"]) - D(9000) / D("0.98")) < D("1e-20")
    assert D(call.payload["deposit_to_healthy"]) == D("25.86666667")
    assert [a.payload["band"] for a in tick(e, "BTCUSDT", "9200")] == ["reduce_only"]  # 184/200 = 92 %
    # at 9,180: equity 180 ≤ MM 183.6 → liquidated in full (one tier); the fund takes over at the mark
    events = tick(e, "BTCUSDT", "9180")
    assert types(events) == ["margin_call", "liquidation_started", "liquidation", "bankruptcy_settlement",
                             "liquidation_finished", "margin_call"]
    liq = events[2].result.details
    assert D(liq["bankruptcy_price"]) == 9000  # 9,180 − 180/1
    settle = events[3].result.details
    # the remaining equity 180 goes to the fund: the 1 % fee on 9,180 = 91.80, the rest 88.20 as surplus
    assert D(settle["liquidation_fee"]) == D("91.80") and D(settle["surplus"]) == D("88.20")
    assert PositionKey("t", "BTCUSDT") not in e.ledger.positions
    assert e.ledger.wallet("t", "USDT") == 0
    assert e.ledger.book_balance("insurance", "USDT") == D(680)
    assert events[-1].payload["band"] == "healthy"
    assert e.ledger.conservation_error() is None


def test_isolated_long_and_short_cross_their_liquidation_prices():
    # Long 1 BTC at 10,000, 10x isolated: margin 1,000; liq when 1000 + (P − 10000) = 0.02P → P = 9,183.67.
    # Short 1 BTC at 10,000, 10x isolated: 1000 − (P − 10000) = 0.02P → P = 11,000/1.02 = 10,784.31.
    e = engine()
    open_account(e, "l", "5000", leverage="10", margin_mode="isolated")
    open_account(e, "s", "5000", leverage="10", margin_mode="isolated")
    e.process("insurance_fund_deposit", {"asset": "USDT", "amount": "1000"}, 1)
    trade(e, "l", "BTCUSDT", "buy", "1", "10000")
    trade(e, "s", "BTCUSDT", "sell", "1", "10000")
    assert e.ledger.wallet("l", "USDT") == 4000
    assert "liquidation_started" not in types(tick(e, "BTCUSDT", "9184"))
    ev = tick(e, "BTCUSDT", "9183")
    started = [a for a in ev if a.type == "liquidation_started"]
    assert [a.payload["account"] for a in started] == ["l"] and started[0].payload["scope"] == "isolated"
    # isolated close at 9,183: equity 183 → fund; the wallet keeps its 4,000 untouched
    assert e.ledger.wallet("l", "USDT") == 4000
    assert "liquidation_started" not in types(tick(e, "BTCUSDT", "10784", 4))
    ev = tick(e, "BTCUSDT", "10785", 5)
    assert [a.payload["account"] for a in ev if a.type == "liquidation_started"] == ["s"]
    # fund: 1,000 + 183 + (1000 − 785 = 215)
    assert e.ledger.book_balance("insurance", "USDT") == D(1000 + 183 + 215)
    assert e.ledger.conservation_error() is None


def test_cross_account_with_two_symbols_liquidated_by_a_move_in_one():
    # Wallet 2,000; long 1 BTC at 10,000 and long 10 ETH at 1,000 (cross). MM = 0.02·(P_btc + 10·P_eth).
    # With ETH at 1,000: equity = 2000 + (P − 10000) ≥ 0.02(P + 10000) ⇔ 0.98P ≥ 8200 ⇔ P ≥ 8,367.35.
    e = engine()
    open_account(e, "x", "2000", leverage="20")
    open_account(e, "mm", "100000")
    e.process("insurance_fund_deposit", {"asset": "USDT", "amount": "1000"}, 1)
    trade(e, "x", "BTCUSDT", "buy", "1", "10000")
    trade(e, "x", "ETHUSDT", "buy", "10", "1000")
    e.process("mark", {"symbol": "ETHUSDT", "price": "1000"}, 2)
    ev = tick(e, "BTCUSDT", "8368")
    assert "liquidation_started" not in types(ev)
    ev = tick(e, "BTCUSDT", "8367", 4)
    assert "liquidation_started" in types(ev)
    closed = {a.payload["symbol"] for a in ev if a.type == "liquidation"}
    assert closed == {"BTCUSDT", "ETHUSDT"}  # the whole cross account
    # equity at 8,367: 2000 − 1633 = 367 → fund; no positions left
    assert e.ledger.positions_of("x") == [] and e.ledger.wallet("x", "USDT") == 0
    assert e.ledger.book_balance("insurance", "USDT") == D(1367)
    assert e.ledger.conservation_error() is None


def test_partial_liquidation_steps_one_tier_down_and_stops_once_healthy():
    # Tiers: 0–100,000 at 1 %; 100,000+ at 5 % (cum = 100,000 × 4 % = 4,000). A 20 BTC long at 10,000
    # (notional 200,000), wallet 15,000: MM = 0.05N − 4000. At P = 9,620: N = 192,400, equity = 15,000 − 7,600
    # = 7,400 ≤ MM = 5,620?  no. At P = 9,450: N = 189,000, equity 4,000 ≤ MM 5,450 → liquidate.
    # Step down to tier 1: keep < 100,000/9,450 = 10.582 BTC → keep 10.582 (lot 0.001; 10.582·9450 = 99,999.9
    # < 100,000), close 9.418 at the mark (no slippage, no fee): equity stays 4,000, MM = 1 % × 99,999.9 = 1,000
    # → healthy again: liquidation stops with the position partly open.
    tiers = [{"floor": "0", "cap": "100000", "mmr": "0.01", "max_leverage": "50"},
             {"floor": "100000", "cap": None, "mmr": "0.05", "max_leverage": "20"}]
    e = engine(tiers=tiers)
    open_account(e, "p", "15000", leverage="20")
    open_account(e, "mm", "1000000")
    trade(e, "p", "BTCUSDT", "buy", "20", "10000")
    trade(e, "mm", "BTCUSDT", "sell", "20", "10000")
    assert "liquidation_started" not in types(tick(e, "BTCUSDT", "9620"))
    ev = tick(e, "BTCUSDT", "9450", 4)
    assert types(ev)[:3] == ["margin_call", "liquidation_started", "partial_liquidation"]
    part = next(a for a in ev if a.type == "partial_liquidation")
    assert D(part.payload["size"]) == D("9.418") and part.payload["tier_before"] == 2
    assert part.payload["tier_after"] == 1
    assert "liquidation" not in types(ev)
    finished = next(a for a in ev if a.type == "liquidation_finished")
    assert finished.payload["outcome"] == "restored"
    assert e.ledger.positions[PositionKey("p", "BTCUSDT")].size == D("10.582")
    assert e.ledger.liquidating == set()  # the wallet is held to ≥ 0 again once the liquidation is over
    assert e.ledger.wallet("p", "USDT") == D(15000) - D("9.418") * 550  # realized −550 per BTC closed
    assert e.ledger.conservation_error() is None


def test_gap_through_the_bankruptcy_price_is_paid_by_the_insurance_fund():
    # Long 1 BTC at 10,000 with 1,000 (10x cross). The mark gaps to 8,500: equity = −500 (bankruptcy at 9,000).
    # The fund (2,000) takes over at 8,500 and pays the 500 deficit → wallet 0, fund 1,500.
    e = engine()
    open_account(e, "g", "1000", leverage="10")
    open_account(e, "mm", "100000")
    e.process("insurance_fund_deposit", {"asset": "USDT", "amount": "2000"}, 1)
    trade(e, "g", "BTCUSDT", "buy", "1", "10000")
    trade(e, "mm", "BTCUSDT", "sell", "1", "10000")
    ev = tick(e, "BTCUSDT", "8500")
    settle = next(a for a in ev if a.type == "bankruptcy_settlement").result.details
    assert D(settle["insurance_paid"]) == 500 and D(settle["venue_absorbed"]) == 0
    assert next(a for a in ev if a.type == "liquidation").payload["bankruptcy_price"] == "9000"
    assert e.ledger.wallet("g", "USDT") == 0
    assert e.ledger.book_balance("insurance", "USDT") == 1500
    assert "adl" not in types(ev)
    assert e.ledger.conservation_error() is None


def test_empty_insurance_fund_leads_to_adl_of_the_top_ranked_opposite_position():
    # Bankrupt long 1 BTC at 10,000 with 1,000; mark gaps to 8,500 → equity −500, bankruptcy price 9,000 and
    # the fund is empty. Opposite shorts: s1 short 1 at 10,000 (profit 1,500 on wallet 5,000), s2 short 1 at
    # 9,000 (profit 500 on wallet 5,000). Bybit/BitMEX ranking PnL% × effective leverage:
    # s1: (1500/10000) × (8500/6500) = 0.196; s2: (500/9000) × (8500/5500) = 0.0859 → s1 first.
    # s1 is reduced by 1 BTC at the bankruptcy price 9,000: it realizes 1,000 instead of 1,500 at the mark.
    e = engine(venue="bybit-linear")
    open_account(e, "b", "1000", leverage="10")
    open_account(e, "s1", "5000", leverage="10")
    open_account(e, "s2", "5000", leverage="10")
    trade(e, "b", "BTCUSDT", "buy", "1", "10000")
    trade(e, "s1", "BTCUSDT", "sell", "1", "10000")
    trade(e, "s2", "BTCUSDT", "sell", "1", "9000")
    ev = tick(e, "BTCUSDT", "8500")
    adl = [a for a in ev if a.type == "adl"]
    assert [(a.payload["account"], a.payload["size"], a.payload["rank"]) for a in adl] == [("s1", "1", 1)]
    assert D(adl[0].payload["price"]) == 9000
    assert D(adl[0].result.details["realized_pnl"]) == 1000
    liq = next(a for a in ev if a.type == "liquidation")
    assert liq.payload["mode"] == "adl" and D(liq.payload["close_price"]) == 9000
    assert e.ledger.wallet("b", "USDT") == 0 and e.ledger.wallet("s1", "USDT") == 6000
    assert PositionKey("s1", "BTCUSDT") not in e.ledger.positions
    assert e.ledger.positions[PositionKey("s2", "BTCUSDT")].size == -1
    assert e.ledger.book_balance("insurance", "USDT") == 0
    assert e.ledger.conservation_error() is None


def test_orders_are_cancelled_when_liquidation_starts_and_reduce_only_band_refuses_new_risk():
    # wallet 1,100, long 1 BTC at 10,000 (10x): equity P − 8,900, MM 0.02P; reduce-only (≥ 90 %) for
    # P ≤ 8,010/0.88 = 9,102.27. After selling 0.1 at 9,100 (realized −90): equity 0.9P − 7,990, MM 0.018P →
    # liquidation for P ≤ 7,990/0.882 = 9,058.96.
    e = engine()
    open_account(e, "o", "1100", leverage="10")
    open_account(e, "mm", "100000")
    trade(e, "o", "BTCUSDT", "buy", "1", "10000")
    e.process("order_margin_reserved", {"account": "o", "order_id": "x1", "asset": "USDT", "amount": "5"}, 2)
    assert [a.payload["band"] for a in tick(e, "BTCUSDT", "9100")] == ["reduce_only"]
    import pytest

    from margincall.ledger import Rejected

    with pytest.raises(Rejected) as err:
        trade(e, "o", "BTCUSDT", "buy", "0.1", "9100")
    assert err.value.code == "reduce_only_band"
    trade(e, "o", "BTCUSDT", "sell", "0.1", "9100")  # reducing is allowed
    assert "liquidation_started" not in types(tick(e, "BTCUSDT", "9059", 4))
    ev = tick(e, "BTCUSDT", "9058", 5)
    started = next(a for a in ev if a.type == "liquidation_started")
    assert started.result.details["orders_cancelled"] == [{"order_id": "x1", "asset": "USDT", "amount": "5"}]


def test_takeover_executor_books_the_whole_equity_for_the_fund():
    # taken over at the bankruptcy price 9,000 and carried at the mark 9,180: the fund books 180, the account 0
    e = engine(executor=TakeoverExecutor())
    open_account(e, "t", "1000", leverage="10")
    open_account(e, "mm", "100000")
    trade(e, "t", "BTCUSDT", "buy", "1", "10000")
    ev = tick(e, "BTCUSDT", "9180")
    liq = next(a for a in ev if a.type == "liquidation")
    assert D(liq.payload["price"]) == 9180 and D(liq.payload["bankruptcy_price"]) == 9000
    assert e.ledger.book_balance("insurance", "USDT") == 180 and e.ledger.wallet("t", "USDT") == 0
    assert e.ledger.conservation_error() is None


def test_a_bankrupt_account_takes_no_partial_steps_and_is_deleveraged_at_its_bankruptcy_price():
    # Whale: 10 BTC long at 60,000 (10x cross), wallet 62,000 − 300 fee (0.05 % × 600,000) = 61,700. The mark
    # gaps to 52,000: equity 61,700 − 80,000 = −18,300 < 0, so no partial step (its fee would only deepen the
    # deficit); the fund is empty → ADL at the bankruptcy price 52,000 + 18,300 / 10 = 53,830 against the shorts
    # in profit there: "small" (0.01 short at 60,000) and "mm" (9.99 short at 60,000) — 10 BTC in all.
    tiers = [{"floor": "0", "cap": "50000", "mmr": "0.01", "max_leverage": "50"},
             {"floor": "50000", "cap": "600000", "mmr": "0.02", "max_leverage": "25"},
             {"floor": "600000", "cap": "5000000", "mmr": "0.05", "max_leverage": "10"}]
    e = engine(tiers=tiers, taker_fee="0.0005", liquidation_fee="0.0125")
    for a, usdt in (("whale", "62000"), ("small", "400"), ("mm", "1000000")):
        open_account(e, a, usdt, leverage="10")
    trade(e, "whale", "BTCUSDT", "buy", "10", "60000")
    trade(e, "small", "BTCUSDT", "sell", "0.01", "60000")
    trade(e, "mm", "BTCUSDT", "sell", "9.99", "60000")
    ev = tick(e, "BTCUSDT", "52000")
    assert "partial_liquidation" not in types(ev)
    adl = [(a.payload["account"], D(a.payload["size"]), D(a.payload["price"])) for a in ev if a.type == "adl"]
    assert sorted(adl) == [("mm", D("9.99"), D(53830)), ("small", D("0.01"), D(53830))]
    # small: 0.01 × (60,000 − 53,830) = 61.70 realized, after its 0.30 opening fee: 400 − 0.30 + 61.70
    assert e.ledger.wallet("small", "USDT") == D("461.40")
    assert e.ledger.wallet("whale", "USDT") == 0
    assert e.ledger.conservation_error() is None


def test_inverse_coin_margined_long_is_liquidated_at_its_coin_equity():
    # COIN-M style: 100 contracts × $100 = $10,000 long at 50,000, 10x cross, margin in BTC: IM = 10,000 / 50,000
    # / 10 = 0.02 BTC. Equity(P) = 0.02 + 10,000·(1/50,000 − 1/P) = 0.22 − 10,000/P; MM = 1 % × 10,000/P = 100/P.
    # Liquidation where 0.22 − 10,000/P = 100/P → P = 10,100/0.22 = 45,909.09; bankruptcy 10,000/0.22 = 45,454.55.
    e = RiskEngine(EngineConfig(executor=NO_SLIP))
    e.process("market_listed", {"venue": "generic", "symbol": "BTCUSD", "kind": "inverse", "contract_size": "100",
                                "lot_size": "1", "settle_asset": "BTC", "maker_fee": "0", "taker_fee": "0",
                                "tiers": [{"floor": "0", "cap": None, "mmr": "0.01", "max_leverage": "50"}]}, 1)
    e.process("account_opened", {"account": "c"}, 1)
    e.process("deposit", {"account": "c", "asset": "BTC", "amount": "0.02"}, 1)
    e.process("leverage_set", {"account": "c", "symbol": "BTCUSD", "leverage": "10"}, 1)
    e.process("fill", {"account": "c", "symbol": "BTCUSD", "side": "buy", "size": "100", "price": "50000"}, 1)
    assert "liquidation_started" not in types(tick(e, "BTCUSD", "45910"))
    ev = tick(e, "BTCUSD", "45900")
    assert "liquidation_started" in types(ev)
    liq = next(a for a in ev if a.type == "liquidation")
    # the account's whole equity E = 0.22 − 10,000/45,900 is this position's share: 1/P_bk = 1/45,900 + E/10,000
    # = 0.22/10,000, i.e. P_bk = 10,000/0.22 = 45,454.5454…
    assert abs(D(liq.payload["bankruptcy_price"]) - D(10000) / D("0.22")) < D("1e-6")
    # the wallet realizes 10,000·(1/50,000 − 1/45,900) = −0.01786492…, floored to −0.01786493: 0.00213507 BTC
    # is left, and goes to the insurance fund as the surplus above bankruptcy
    assert e.ledger.wallet("c", "BTC") == 0
    assert e.ledger.book_balance("insurance", "BTC") == D("0.00213507")
    assert e.ledger.conservation_error() is None


def test_hyperliquid_liquidates_20_percent_then_waits_30_seconds_for_the_rest():
    # docs/venues.md §7: positions above 100,000 USDC notional are liquidated 20 % first, then, after a 30 s cooldown,
    # in full. 20 BTC long at 10,000 (200,000), 10x isolated: margin 20,000; MM 1 % of notional. Liquidation where
    # 20,000 + 20(P − 10,000) = 0.2P → P = 9,090.91. At 9,090: equity 1,800 ≤ MM 1,818.
    e = engine(venue="hyperliquid", settle_asset="USDT")
    open_account(e, "h", "20000", leverage="10", margin_mode="isolated")
    open_account(e, "mm", "1000000")
    trade(e, "h", "BTCUSDT", "buy", "20", "10000")
    trade(e, "mm", "BTCUSDT", "sell", "20", "10000")
    ev = tick(e, "BTCUSDT", "9090", 1_000_000)
    part = [a for a in ev if a.type == "partial_liquidation"]
    assert [D(a.payload["size"]) for a in part] == [D(4)] and "liquidation" not in types(ev)
    # 16 BTC left with margin 16,000: equity 16,000 − 16·910 = 1,440 ≤ MM 1,454.40, but in the cooldown
    key = PositionKey("h", "BTCUSDT")
    assert e.ledger.positions[key].size == 16 and e.ledger.isolated_margin(key) == 16000
    assert "liquidation" not in types(tick(e, "BTCUSDT", "9090", 1_010_000))  # 10 s later: still waiting
    ev = tick(e, "BTCUSDT", "9090", 1_031_000)  # 31 s after the first step: the whole remainder
    assert [D(a.payload["size"]) for a in ev if a.type == "liquidation"] == [D(16)]
    assert key not in e.ledger.positions
    assert e.ledger.conservation_error() is None


def test_funding_can_push_an_isolated_position_into_liquidation():
    # 1 BTC long at 10,000, 10x isolated (margin 1,000). At 9,190: equity 190 > MM 183.80. Funding +0.1 %: the
    # long pays 9,190 × 0.001 = 9.19 from its margin → equity 180.81 ≤ 183.80 → liquidated on the funding event.
    e = engine()
    open_account(e, "f", "1000", leverage="10", margin_mode="isolated")
    open_account(e, "mm", "100000")
    trade(e, "f", "BTCUSDT", "buy", "1", "10000")
    trade(e, "mm", "BTCUSDT", "sell", "1", "10000")
    assert "liquidation_started" not in types(tick(e, "BTCUSDT", "9190"))
    out = e.process("funding", {"symbol": "BTCUSDT", "rate": "0.001"}, e.ledger.last_ts)
    assert D(out[0].result.details["paid"]) >= D("9.19")
    assert "liquidation_started" in [a.type for a in out]
    assert PositionKey("f", "BTCUSDT") not in e.ledger.positions
    assert e.ledger.conservation_error() is None


def test_hedge_mode_cross_account_liquidates_both_legs():
    # Hedge mode: long 1 BTC and short 0.5 BTC at 10,000, wallet 800, cross 20x. Equity = 800 + 0.5(P − 10,000);
    # MM = 2 % × 1.5 × P = 0.03P (both legs count). Liquidation where 0.47P = 4,200 → P = 8,936.17.
    e = engine()
    e.process("account_opened", {"account": "hg", "position_mode": "hedge"}, 1)
    e.process("deposit", {"account": "hg", "asset": "USDT", "amount": "800"}, 1)
    e.process("leverage_set", {"account": "hg", "symbol": "BTCUSDT", "leverage": "20"}, 1)
    for side, size, leg in (("buy", "1", "long"), ("sell", "0.5", "short")):
        e.process("fill", {"account": "hg", "symbol": "BTCUSDT", "side": side, "size": size, "price": "10000",
                           "position_side": leg}, 1)
    assert "liquidation_started" not in types(tick(e, "BTCUSDT", "8937"))
    ev = tick(e, "BTCUSDT", "8936")
    legs = sorted((a.payload["position_side"], D(a.payload["size"])) for a in ev if a.type == "liquidation")
    assert legs == [("long", D(1)), ("short", D("0.5"))]
    # equity 800 − 532 = 268 goes to the fund; the account ends flat at zero
    assert e.ledger.positions_of("hg") == [] and e.ledger.wallet("hg", "USDT") == 0
    assert e.ledger.book_balance("insurance", "USDT") == 268
    assert e.ledger.conservation_error() is None


def test_a_bad_fill_in_the_reduce_only_band_gets_the_ledgers_error_not_a_crash():
    e = engine()
    open_account(e, "o", "1100", leverage="10")
    trade(e, "o", "BTCUSDT", "buy", "1", "10000")
    tick(e, "BTCUSDT", "9100")  # reduce-only band
    import pytest

    from margincall.ledger import Rejected

    for size, code in (("abc", "invalid_number"), ("NaN", "invalid_number"), (None, "missing_field")):
        with pytest.raises(Rejected) as err:
            e.process("fill", {"account": "o", "symbol": "BTCUSDT", "side": "sell", "size": size, "price": "9100"},
                      e.ledger.last_ts)
        assert err.value.code == code


def test_okx_steps_down_two_whole_position_tiers_at_once():
    # OKX ETH-USDT-SWAP (2021-06 tiers by contracts, the whole position at its tier's rate; docs/venues.md §5):
    # tier 2 is (3,000, 6,000] contracts at 0.5 %, tier 4 (12,000, 24,000] at 1.5 %. A 20,000-contract (2,000 ETH)
    # long at 2,000, cross, wallet 210,000: equity = 210,000 + 2,000(P − 2,000), MM = 1.5 % × 2,000 × P = 30P →
    # liquidation where 1,970P = 3,790,000, P = 1,923.86. At 1,923: equity 56,000 ≤ MM 57,690.
    # OKX reduces two tiers (tier 4 → tier 2): keep 5,999 contracts, close 14,001 at the mark (no slippage, no fee):
    # equity stays 56,000, MM = 0.5 % × 599.9 × 1,923 = 5,768.04 → healthy, the liquidation stops there.
    # (Whole-position tiers are outside the float book: this market is screened by holding.)
    e = RiskEngine(EngineConfig(executor=NO_SLIP))
    e.process("market_listed", {"venue": "okx", "symbol": "ETH-USDT-SWAP", "maker_fee": "0", "taker_fee": "0",
                                "liquidation_fee": "0"}, 1)
    open_account_okx = [("account_opened", {"account": "o"}),
                        ("deposit", {"account": "o", "asset": "USDT", "amount": "210000"}),
                        ("leverage_set", {"account": "o", "symbol": "ETH-USDT-SWAP", "leverage": "20"}),
                        ("fill", {"account": "o", "symbol": "ETH-USDT-SWAP", "side": "buy", "size": "20000",
                                  "price": "2000"})]
    for t, p in open_account_okx:
        e.process(t, p, 1)
    assert "liquidation_started" not in types(tick(e, "ETH-USDT-SWAP", "1924"))
    ev = tick(e, "ETH-USDT-SWAP", "1923")
    part = [a for a in ev if a.type == "partial_liquidation"]
    assert [(D(a.payload["size"]), a.payload["tier_before"], a.payload["tier_after"]) for a in part] == [
        (D(14001), 4, 2)]
    assert "liquidation" not in types(ev)
    assert next(a for a in ev if a.type == "liquidation_finished").payload["outcome"] == "restored"
    assert e.ledger.positions[PositionKey("o", "ETH-USDT-SWAP")].size == 5999
    # realized 1,400.1 ETH × (1,923 − 2,000) = −107,807.70
    assert e.ledger.wallet("o", "USDT") == D("102192.30")
    assert e.ledger.conservation_error() is None


def test_a_loss_no_counterparty_takes_is_the_venues_and_is_socialized():
    # t: 1 BTC long at 10,000 on 1,000 USDT (bankruptcy at 9,000). mm sold it to t, then bought back from s at
    # 8,500: the only short left is s's, entered at 8,500. No insurance fund. A gap to 8,000: t's equity
    # 1,000 − 2,000 < 0. Closing at the mark would cost the fund 9,000 − 8,000 = 1,000 it does not have, so ADL:
    # s's short is not in profit at the bankruptcy price (8,500 − 9,000 < 0), so nobody takes it and the whole BTC
    # closes against the venue at 9,000 while worth 8,000: the venue loses (9,000 − 8,000) × 1 = 1,000 — a loss,
    # positive. With last_resort = "socialize" it is charged to the accounts in profit at the mark: s alone
    # (8,500 − 8,000 = 500 of profit), so s pays the whole 1,000 (its wallet can).
    e = RiskEngine(EngineConfig(executor=NO_SLIP, last_resort="socialize"))
    base = {"venue": "generic", "maker_fee": "0", "taker_fee": "0", "liquidation_fee": "0", "tiers": FLAT_2PCT}
    e.process("market_listed", {**base, "symbol": "BTCUSDT"}, 1)
    open_account(e, "t", "1000")
    for acct in ("mm", "s"):
        open_account(e, acct, "100000")
    e.process("leverage_set", {"account": "t", "symbol": "BTCUSDT", "leverage": "10"}, 1)
    trade(e, "t", "BTCUSDT", "buy", "1", "10000")
    trade(e, "mm", "BTCUSDT", "sell", "1", "10000")
    trade(e, "mm", "BTCUSDT", "buy", "1", "8500")
    trade(e, "s", "BTCUSDT", "sell", "1", "8500")
    tick(e, "BTCUSDT", "10000")
    events = tick(e, "BTCUSDT", "8000")
    assert "adl" not in types(events)
    (venue,) = [a for a in events if a.type == "liquidation" and a.payload.get("counterparty") == "venue"]
    assert D(venue.payload["venue_loss"]) == 1000 and D(venue.payload["close_price"]) == 9000
    (social,) = [a for a in events if a.type == "socialized_loss"]
    assert D(social.payload["loss"]) == 1000
    assert [(s["account"], D(s["amount"])) for s in social.payload["shares"]] == [("s", D(1000))]
