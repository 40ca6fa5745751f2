"""A cross account holding two symbols at once: the symbols' candles merged by time, each timestamp's corners fed
as one multi-symbol ``marks`` tick, each position at its own adverse extreme (a long's low with a short's high).

Real data: the Binance XRP/USDT 8h mark candles (tests/fixtures/backtest/). The second symbol, XRP2USDT, is not a
real market: a copy of the same candles with every price doubled (exactly, in decimal), so both paths are real and
move together; the short in it is then a partial hedge whose adverse extreme (the high) comes with the long's (the
low) in the same candle."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd

from margincall.backtest import run_backtest
from margincall.backtest.io import read_candles, read_instruments
from support.paths import FIXTURES

FIX = FIXTURES / "backtest"
XRP = read_instruments(FIX / "xrpusdt_instruments.json")["XRPUSDT"]


def doubled(c: pd.DataFrame) -> pd.DataFrame:
    out = c.copy()
    for col in ("open", "high", "low", "close"):
        out[col] = [float(D(repr(x)) * 2) for x in c[col]]
    return out


def test_cross_long_and_short_in_two_symbols_liquidated_together_at_their_adverse_extremes() -> None:
    # Account x, cross, wallet 150, 20x. Long 1000 XRPUSDT at the 18 Nov 00:00 open 1.0959 (fee 0.0005 × 1,095.9
    # = 0.54795); short 250 XRP2USDT at its open 2.1918 (fee 0.0005 × 547.95 = 0.273975). Wallet after fees
    # 150 − 0.821925 = 149.178075; IM 1,095.9 / 20 + 547.95 / 20 = 82.1925 fits.
    # Both positions sit in bracket 1 (1 %, cum 0). At marks A (XRPUSDT), B = 2·A' (XRP2USDT):
    # equity − MM = 149.178075 + 1000(A − 1.0959) − 250(B − 2.1918) − 0.01(1000·A + 250·B).
    # At each 8h candle's adverse corner A = its low, B = 2 × its high. 26 Nov 00:00 (low 1.0000, high 1.0479,
    # B high 2.0958): 149.178075 − 95.9 + 24.0 − (10 + 5.2395) = 62.038575 > 0 (the least of all candles before).
    # 26 Nov 08:00 (open 1.0144 / 2.0288: 149.178075 − 81.5 + 40.75 − 15.216 = 93.212 > 0; low 0.8836, high 1.0146,
    # B 2.0292): 149.178075 − 212.3 + 40.65 − (8.836 + 5.073) = −36.380925 ≤ 0: the account is liquidated at that
    # corner, each position at its own mark there: XRPUSDT 0.8836, XRP2USDT 2.0292.
    # Had both symbols been fed at their lows (B at 2 × 0.8836 = 1.7672), equity − MM would be 149.178075 − 212.3
    # + 106.15 − (8.836 + 4.418) = 29.774 > 0: the short's adverse extreme is its high.
    a = read_candles(FIX / "XRP_USDT_USDT-8h-mark.feather")
    b = doubled(a)
    common = {"open_time": "2021-11-18T00:00:00Z", "leverage": "20", "margin_mode": "cross", "account": "x",
              "wallet": "150"}
    trades = pd.DataFrame([
        {"id": "A", "symbol": "XRPUSDT", "side": "long", "size": "1000", **common},
        {"id": "B", "symbol": "XRP2USDT", "side": "short", "size": "250", **common},
    ])
    res = run_backtest(trades, {"XRPUSDT": a, "XRP2USDT": b}, marks={"XRPUSDT": a, "XRP2USDT": b},
                       instruments={"XRPUSDT": XRP, "XRP2USDT": XRP}).trades.set_index("id")
    for tid, price in (("A", "0.8836"), ("B", "2.0292")):
        r = res.loc[tid]
        assert r["liquidated"] and r["liquidation_time"] == "2021-11-26T08:00:00.000Z"
        assert D(r["liquidation_price"]) == D(price)


def test_a_cross_account_closing_one_symbol_leaves_the_other_replayed_alone() -> None:
    # The same account, the short closed on 19 Nov 00:00 at B's open 2.0822 (8h candle open 1.0411 × 2): realized
    # 250 × (2.1918 − 2.0822) = 27.4, fees 0.273975 + 0.0005 × 520.55 = 0.534250. Wallet 149.178075 + 27.4
    # − 0.260275 = 176.3178; the long alone: P = (1,095.9 − 176.3178) / 990 = 0.92887656…; the first 8h low at or
    # below it is 26 Nov 08:00 (0.8836), liquidated at P.
    a = read_candles(FIX / "XRP_USDT_USDT-8h-mark.feather")
    b = doubled(a)
    common = {"open_time": "2021-11-18T00:00:00Z", "leverage": "20", "margin_mode": "cross", "account": "x",
              "wallet": "150"}
    trades = pd.DataFrame([
        {"id": "A", "symbol": "XRPUSDT", "side": "long", "size": "1000", **common},
        {"id": "B", "symbol": "XRP2USDT", "side": "short", "size": "250", "close_time": "2021-11-19T00:00:00Z",
         **common},
    ])
    res = run_backtest(trades, {"XRPUSDT": a, "XRP2USDT": b}, marks={"XRPUSDT": a, "XRP2USDT": b},
                       instruments={"XRPUSDT": XRP, "XRP2USDT": XRP}).trades.set_index("id")
    rb, ra = res.loc["B"], res.loc["A"]
    assert not rb["liquidated"] and D(rb["realized_pnl"]) == D("27.4") and D(rb["fees"]) == D("0.53425")
    assert ra["liquidated"] and ra["liquidation_time"] == "2021-11-26T08:00:00.000Z"
    assert abs(D(ra["liquidation_price"]) - (D("1095.9") - D("176.3178")) / 990) <= D("1e-9")
