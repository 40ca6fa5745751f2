"""Finer candles, when given, are replayed inside a coarser candle that could liquidate: the liquidation's time and
price are those of the finer path. Real Binance XRP/USDT perpetual trade candles, 1h and 5m (tests/fixtures/backtest/,
see its README), the trade candles standing in for marks; xrpusdt_instruments.json's bracket 1 (mmr 1 %, cum 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pytest

from margincall.backtest import run_backtest
from margincall.backtest.io import BacktestInputError, read_candles, read_instruments
from support.paths import FIXTURES

FIX = FIXTURES / "backtest"
H1 = FIX / "XRP_USDT_USDT-1h-futures.feather"
M5 = FIX / "XRP_USDT_USDT-5m-futures.feather"
INSTRUMENTS = FIX / "xrpusdt_instruments.json"

# 1000 XRP long, 40x isolated, at 1.0954 on 18 Nov 2021 00:00: notional 1,095.4 (bracket 1), margin 1,095.4 / 40
# = 27.385; liquidation when margin + Q(P − E) = 0.01·Q·P ⇔ P = (1,095.4 − 27.385) / 990 = 1,068.015 / 990
# = 1.07880303…
P = D("1068.015") / 990
LONG = {"id": "L", "symbol": "XRPUSDT", "side": "long", "open_time": "2021-11-18T00:00:00Z", "open_price": "1.0954",
        "size": "1000", "leverage": "40", "margin_mode": "isolated"}


def test_liquidation_time_is_the_five_minute_candle_inside_the_hour() -> None:
    h1, m5 = read_candles(H1), read_candles(M5)
    inst = read_instruments(INSTRUMENTS)
    # 1h only: the hourly lows from 00:00 are 1.09058, 1.09780, 1.12403, 1.12358, 1.11061, 1.10911, 1.10507, 1.09682,
    # 1.10224, then 1.07727 at 09:00 (open 1.10622 > P): liquidated at the start of the 09:00 candle, at P.
    coarse = run_backtest(pd.DataFrame([LONG]), {"XRPUSDT": h1}, instruments=inst).trades.iloc[0]
    assert coarse["liquidated"] and coarse["liquidation_time"] == "2021-11-18T09:00:00.000Z"
    assert abs(D(coarse["liquidation_price"]) - P) <= D("1e-9")
    # 1h + 5m: no hourly low reaches P before 09:00, so only the 09:00 hour is opened up. Its 5m lows: 09:00 1.1032,
    # 09:05 1.0976, 09:10 1.0830, 09:15 1.0866, 09:20 1.0814, 09:25 1.0824, 09:30 1.0790 (> 1.07880), then 09:35
    # 1.0780 ≤ P (open 1.0845 > P): liquidated at the start of the 09:35 candle, at P.
    fine = run_backtest(pd.DataFrame([LONG]), {"XRPUSDT": h1}, instruments=inst,
                        fine_candles={"XRPUSDT": m5}).trades.iloc[0]
    assert fine["liquidated"] and fine["liquidation_time"] == "2021-11-18T09:35:00.000Z"
    assert abs(D(fine["liquidation_price"]) - P) <= D("1e-9")


def test_cli_fine_candles(tmp_path: Path) -> None:
    trades = tmp_path / "t.json"
    trades.write_text(json.dumps([LONG]))
    out = subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", "backtest", "--trades", str(trades), "--candles", str(H1),
         "--fine-candles", str(M5), "--instruments", str(INSTRUMENTS), "--json"],
        capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["trades"][0]["liquidation_time"] == "2021-11-18T09:35:00.000Z"


def test_finer_candles_must_divide_the_coarse_timeframe() -> None:
    with pytest.raises(BacktestInputError) as e:
        run_backtest(pd.DataFrame([LONG]), {"XRPUSDT": read_candles(M5)},
                     fine_candles={"XRPUSDT": read_candles(H1)})
    assert e.value.field == "fine_candles[XRPUSDT]"
