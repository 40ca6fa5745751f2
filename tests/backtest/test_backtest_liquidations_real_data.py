"""Backtest liquidations on real Binance XRP/USDT data (tests/fixtures/backtest/, see its README) match the
Binance rule worked by hand: MM = notional × mmr − cum (bracket 1 of xrpusdt_instruments.json: mmr 1 %, cum 0),
liquidation when equity ≤ MM at the mark. Isolated long, equity = margin + Q(P − E):
margin + Q(P − E) = 0.01·Q·P  ⇔  P = (Q·E − margin) / (0.99·Q). Isolated short: P = (margin + Q·E) / (1.01·Q).
The mark path is the 8h mark candles (open, adverse extreme, …): the liquidation time is the start of the first
candle whose adverse extreme reaches P, the liquidation price P itself (the mark crossing it; fed ≤ 1e-10 past)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest

from margincall.backtest import run_backtest
from margincall.backtest.io import BacktestInputError, read_candles, read_funding, read_instruments, read_trades
from support.paths import FIXTURES

FIX = FIXTURES / "backtest"
MARK8H = FIX / "XRP_USDT_USDT-8h-mark.feather"
FUNDING = FIX / "XRP_USDT_USDT-8h-funding_rate.feather"
INSTRUMENTS = read_instruments(FIX / "xrpusdt_instruments.json")
TOL = D("1e-9")


def run(trades: list[dict[str, str]], *, funding: bool = False, marks: bool = True):
    c = read_candles(MARK8H)
    return run_backtest(pd.DataFrame(trades), {"XRPUSDT": c}, marks={"XRPUSDT": c} if marks else None,
                        funding={"XRPUSDT": read_funding(FUNDING)} if funding else None, instruments=INSTRUMENTS)


def trade(tid: str, side: str, lev: str, when: str = "2021-11-18T00:00:00Z", **kw: str) -> dict[str, str]:
    return {"id": tid, "symbol": "XRPUSDT", "side": side, "open_time": when, "size": "1000", "leverage": lev,
            "margin_mode": "isolated", **kw}


@pytest.mark.parametrize(("lev", "when", "price"), [
    # 1000 XRP long at the 18 Nov 00:00 open 1.0959: notional 1,095.9 (bracket 1), margin 1,095.9 / L.
    # 10x: margin 109.59; P = (1095.9 − 109.59) / 990 = 0.99627272…; the first 8h low ≤ it is 26 Nov 08:00 (0.8836;
    #      the 26 Nov 00:00 low is 1.0000).
    ("10", "2021-11-26T08:00:00.000Z", D("986.31") / 990),
    # 5x: margin 219.18; P = 876.72 / 990 = 0.88557575…; 26 Nov 08:00 (low 0.8836 ≤ 0.88558).
    ("5", "2021-11-26T08:00:00.000Z", D("876.72") / 990),
    # 3x: margin 365.3; P = 730.6 / 990 = 0.73797979…; no low reaches it until 4 Dec 00:00 (low 0.5764; the lowest
    #      before is 0.8779 on 28 Nov).
    ("3", "2021-12-04T00:00:00.000Z", D("730.6") / 990),
])
def test_isolated_long_liquidated_where_the_binance_rule_says(lev: str, when: str, price: D) -> None:
    r = run([trade("L", "long", lev)]).trades.iloc[0]
    assert r["liquidated"] and r["liquidation_time"] == when
    assert abs(D(r["liquidation_price"]) - price) <= TOL
    assert r["funding"] == "0"
    # the whole margin is lost; the opening fee is 0.05 % × 1,095.9 = 0.54795
    assert D(r["fees"]) >= D("0.54795")


@pytest.mark.parametrize(("lev", "when", "price"), [
    # 1000 XRP short at the 4 Dec 08:00 open 0.7497: notional 749.7.
    # 20x: margin 37.485; P = (37.485 + 749.7) / 1010 = 0.77939108…; the same candle's high 0.8066 reaches it
    #      (the candle starting at the open is replayed after it).
    ("20", "2021-12-04T08:00:00.000Z", D("787.185") / 1010),
    # 10x: margin 74.97; P = 824.67 / 1010 = 0.81650495…; highs 0.8066 (08:00) then 0.8574 (4 Dec 16:00).
    ("10", "2021-12-04T16:00:00.000Z", D("824.67") / 1010),
])
def test_isolated_short_liquidated_where_the_binance_rule_says(lev: str, when: str, price: D) -> None:
    r = run([trade("S", "short", lev, "2021-12-04T08:00:00Z")]).trades.iloc[0]
    assert r["liquidated"] and r["liquidation_time"] == when
    assert abs(D(r["liquidation_price"]) - price) <= TOL


def test_funding_paid_from_the_isolated_margin_moves_the_liquidation() -> None:
    # 10x long as above with the real funding file (stamped 00:00:00.017, 08:00:00.007 …: each comes after the 8h
    # candle ending at the full hour and before the next is replayed; the rates vary, despite the data README's
    # "0.0001 throughout"). Each payment = rate × 1000 × the mark then (the open of the 8h mark candle), rounded up to
    # 1e-8 (the payer's side), taken from the isolated margin. The 25 payments from 18 Nov 00:00 to 26 Nov 00:00:
    # 0.0001×1.0959 + 0.0001×1.1075 + 0.0001×1.0564 + 0.0001×1.0411 + 0.0001×1.042 + 0.0001×1.0891
    # + 0.00013046×1.0903 + 0.0001×1.0857 + 0.0001×1.0656 + 0.00013862×1.0975 + 0.0001×1.0804 + 0.00019881×1.0787
    # + 0.00013991×1.0582 + 0.0001×1.0434 + 0.0001×1.0577 + 0.0001×1.0365 + 0.0001×1.0367 + 0.00017402×1.0472
    # + 0.00016775×1.0671 + 0.00033523×1.0397 + 0.0001×1.0287 + 0.00020066×1.0329 + 0.00034381×1.0333
    # + 0.00032096×1.053 + 0.00058316×1.0448, each × 1000 and rounded up to 8 decimals (0.13046 × 1.0903 =
    # 0.142240538 → 0.14224054), sum to 4.36311058.
    # Margin 109.59 − 4.36311058; P = (986.31 + 4.36311058) / 990 = 990.67311058 / 990 = 1.00067990…: the 26 Nov
    # 00:00 candle (open 1.0448, low 1.0000) reaches it — 8 hours before the funding-free liquidation (26 Nov 08:00
    # at 0.99627…). Before that last payment (0.58316 × 1.0448 = 0.609285…) P was 0.99906…, below every earlier low.
    r = run([trade("F", "long", "10")], funding=True).trades.iloc[0]
    assert D(r["funding"]) == D("-4.36311058")
    assert r["liquidated"] and r["liquidation_time"] == "2021-11-26T00:00:00.000Z"
    assert abs(D(r["liquidation_price"]) - (D("986.31") + D("4.36311058")) / 990) <= TOL
    off = run([trade("F", "long", "10")]).trades.iloc[0]
    assert off["liquidation_time"] == "2021-11-26T08:00:00.000Z" and off["funding"] == "0"


def test_cross_account_two_positions_share_one_wallet() -> None:
    # Account x, wallet 200, cross. Trade A: long 1000 @ 1.0959 (18 Nov 00:00), fee 0.0005 × 1095.9 = 0.54795 →
    # wallet 199.45205; its liquidation P = (1095.9 − 199.45205) / 990 = 0.9055; the lows until 19 Nov 00:00 (1.0907,
    # 1.0450, 1.0145) stay above. Closed 19 Nov 00:00 at that candle's open 1.0411: PnL 1000 × (1.0411 − 1.0959)
    # = −54.8, fee 0.52055 → wallet 144.1315.
    # Trade B: long 1000 @ 1.0397 (24 Nov 08:00 open), fee 0.51985 → wallet 143.61165; cross P (Binance, one
    # position: (WB − Q·E) / (Q·mmr − Q)) = (1039.7 − 143.61165) / 990 = 896.08835 / 990 = 0.90513974…; lows from
    # 24 Nov 08:00: 1.0050 … 1.0000, then 0.8836 on 26 Nov 08:00.
    common = {"account": "x", "wallet": "200", "margin_mode": "cross"}
    res = run([
        {**trade("A", "long", "10"), **common, "close_time": "2021-11-19T00:00:00Z"},
        {**trade("B", "long", "10", "2021-11-24T08:00:00Z"), **common},
    ]).trades.set_index("id")
    a, b = res.loc["A"], res.loc["B"]
    assert not a["liquidated"] and D(a["realized_pnl"]) == D("-54.8") and D(a["fees"]) == D("0.54795") + D("0.52055")
    assert D(a["exit_price"]) == D("1.0411")
    assert b["liquidated"] and b["liquidation_time"] == "2021-11-26T08:00:00.000Z"
    assert abs(D(b["liquidation_price"]) - D("896.08835") / 990) <= TOL


def test_trade_candles_stand_in_for_marks_and_the_output_says_so() -> None:
    res = run([trade("L", "long", "10")], marks=False)
    assert res.mark_source == "trade"
    assert res.trades.iloc[0]["liquidation_time"] == "2021-11-26T08:00:00.000Z"


def test_cli_json_csv_html_on_the_shipped_fixture(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", "backtest", "--trades", str(FIX / "trades.csv"),
         "--candles", str(MARK8H), "--mark", str(MARK8H), "--instruments", str(FIX / "xrpusdt_instruments.json"),
         "--json", "--csv", str(tmp_path / "t.csv"), "--html", str(tmp_path / "r.html")],
        capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    by = {t["id"]: t for t in doc["trades"]}
    assert doc["summary"]["mark_source"] == "mark"
    assert set(by["long10"]) >= {"id", "liquidated", "liquidation_time", "liquidation_price", "exit_price",
                                 "realized_pnl", "fees", "funding"}
    # long10 and short20 as in the tests above; long3 (P = 0.73798) is closed on 10 Dec after 4 Dec's low 0.5764:
    # liquidated first, so its close never happens
    assert by["long10"]["liquidation_time"] == "2021-11-26T08:00:00.000Z"
    assert by["short20"]["liquidation_time"] == "2021-12-04T08:00:00.000Z"
    assert by["long3"]["liquidated"] and by["long3"]["liquidation_time"] == "2021-12-04T00:00:00.000Z"
    assert len(pd.read_csv(tmp_path / "t.csv")) == 3
    page = (tmp_path / "r.html").read_text()
    assert "<svg" in page and "http" not in page.replace("http://www.w3.org", "")


def test_freqtrade_result_file_is_read_as_trades() -> None:
    # freqtrade's result: the 10x trade is liquidated on 26 Nov (as above) before its 30 Nov exit; the 3x trade exits
    # on 19 Nov at its close_rate 1.0411: PnL 1000 × (1.0411 − 1.0959) = −54.8.
    df = read_trades(FIX / "freqtrade_result.json")
    res = run(df.to_dict("records")).trades.set_index("id")
    first, second = res.iloc[0], res.iloc[1]
    assert first["liquidated"] and first["liquidation_time"] == "2021-11-26T08:00:00.000Z"
    assert not second["liquidated"] and D(second["realized_pnl"]) == D("-54.8")


def test_bad_trade_input_names_the_field() -> None:
    with pytest.raises(BacktestInputError) as e:
        run([trade("L", "sideways", "10")])
    assert e.value.field == "side"
    with pytest.raises(BacktestInputError) as e:
        run([{**trade("L", "long", "10"), "colour": "red"}])
    assert e.value.field == "colour"
