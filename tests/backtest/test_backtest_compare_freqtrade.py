"""margincall's liquidations beside a real freqtrade 2026.9 backtest (tests/fixtures/freqtrade/, see the fixtures'
README): 16 trades of the LiquidationProbe strategy on Binance XRP/USDT:USDT 5m candles, 18–21 Nov 2021, 50x
isolated, stakes of 100 and 1,000 USDT; freqtrade's own XRP tier ladder (tier 1: 0–40,000 USDT, mmr 0.5 %, cum 0;
tier 2: 40,000–80,000, mmr 0.6 %, cum 40) on both sides; margincall's path is the same 5m trade candles.

Binance's isolated liquidation price, WB = stake (= the initial margin Q·E/50), s = +1 long / −1 short:
    P = (WB + cum − s·Q·E) / (Q·mmr − s·Q)
freqtrade takes (mmr, cum) from the tier holding the *stake*, the venue from the tier holding the notional Q·E, and
freqtrade then moves P 5 % of the way to the entry: P_ft = P + s·0.05·|E − P|.

Worked by hand (E, Q and the stake from the result file):
* #2 long, E 1.0875, Q 4,597.7, stake 99.999975, notional 4,999.99875 (tier 1 either way):
  P = (99.999975 − 4,999.99875) / (22.9885 − 4,597.7) = −4,899.998775 / −4,574.7115 = 1.0711055;
  P_ft = 1.0711055 + 0.05 × (1.0875 − 1.0711055) = 1.0711055 + 0.0008197 = 1.0719252 → freqtrade exits at its
  price rounded to the 0.0001 tick, 1.0719, in the 13:15 candle (its earlier lows stayed above 1.0719, else it
  would have liquidated earlier; the trade's lowest rate 1.0700 is in that candle). margincall liquidates in the same
  candle (1.0700 ≤ 1.0711055) at 1.0711055: 8 ticks apart → differs, reason buffer.
* #3 short, E 1.0445, Q 4,786.9, stake 99.998341: P = (99.998341 + 4,999.91705) / (23.9345 + 4,786.9)
  = 5,099.915391 / 4,810.8345 = 1.0600896; P_ft = 1.0600896 − 0.05 × 0.0155896 = 1.0593101 → freqtrade liquidated
  at 1.0593 (19:35). The trade's highest rate was 1.0597 < 1.0600896: margincall never liquidates → differs, buffer.
* #4 long, E 1.0346, Q 48,327.8, stake 999.9988376, notional 49,999.94: freqtrade uses tier 1 (stake 1,000 <
  40,000): P = (999.9988376 − 49,999.94188) / (241.639 − 48,327.8) = 1.0190030, P_ft = 1.0197829 → 1.0198 at 03:40.
  The venue uses tier 2: P = (999.9988376 + 40 − 49,999.94188) / (289.9668 − 48,327.8) = −48,959.94304 /
  −48,037.8332 = 1.0191954; the 03:40 candle holds the trade's low 1.0179 → same candle, 6 ticks apart → differs,
  reasons buffer and tier_by_stake.
* #5 short, E 1.0444, stake 99.9992112: P = 1.0599880, P_ft = 1.0592087; its stop (−99 % / 50 = 1.98 %) is
  1.0444 × 1.0198 = 1.0650. In the 08:20 candle (high 1.0661) both are crossed and freqtrade takes the stop
  ("stop_loss" at 1.065): margincall liquidates in that candle at 1.0599880 → differs, reason stop_first.
* #10 long, E 1.1004, stop 1.1004 × 0.9802 = 1.0786: P = 1.0838110, P_ft = 1.0846410; the 15:00 candle (low 1.0774)
  crosses both; freqtrade exits at the stop → margincall liquidates at 1.0838110 in that candle → stop_first.
* #11 short, E 1.0712: P = 1.0871880, P_ft = 1.0863887 → 1.0864 at 18:20 (high 1.0901): same candle, 8 ticks
  apart → buffer.
* #12 long, E 1.0962, Q 45,612.1, notional 49,999.98 (tier 2 for the venue): P_ft = 1.0805007 (tier 1) → 1.0805 at
  02:30; the venue's P = (999.9996804 + 40 − 49,999.98402) / (273.6726 − 45,612.1) = 1.0798778, the 02:30 low
  1.0783 → same candle → buffer and tier_by_stake.
* The other 9 trades left by ROI or at the end: their lowest (long) / highest (short) rates in the result stay
  beyond both prices (e.g. #0 long, stake 1,000: low 1.0919 vs venue 1.0759), so neither liquidates → the same.
So 16 trades, freqtrade liquidated 5 (#2 #3 #4 #11 #12), margincall 6 (#2 #4 #5 #10 #11 #12), 7 differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from margincall.backtest import run_backtest
from margincall.backtest.compare import compare_freqtrade, comparison_summary, freqtrade_liquidation_price
from margincall.backtest.io import (
    BacktestInputError,
    read_candles,
    read_freqtrade_result,
    read_instruments,
    read_trades,
)
from margincall.model.tiers import TierSpec, TierTable
from support.paths import FIXTURES

FIX = FIXTURES / "freqtrade"
RESULT = FIX / "backtest-result-LiquidationProbe.zip"
CANDLES = FIX / "XRP_USDT_USDT-5m-futures.feather"
INSTRUMENTS = FIX / "xrpusdt_instruments_freqtrade.json"
ID = "XRP/USDT:USDT#{}"
# id → (freqtrade liquidated, margincall liquidated, reasons), from the module docstring
EXPECTED = {
    2: (True, True, ("buffer",)),
    3: (True, False, ("buffer",)),
    4: (True, True, ("buffer", "tier_by_stake")),
    5: (False, True, ("stop_first",)),
    10: (False, True, ("stop_first",)),
    11: (True, True, ("buffer",)),
    12: (True, True, ("buffer", "tier_by_stake")),
}
VENUE_PRICE = {2: D("1.0711055"), 4: D("1.0191954"), 5: D("1.0599880"), 10: D("1.0838110"), 11: D("1.0871880"),
               12: D("1.0798778")}


@pytest.fixture(scope="module")
def rows():
    bt = run_backtest(read_trades(RESULT), {"XRPUSDT": read_candles(CANDLES)},
                      instruments=read_instruments(INSTRUMENTS))
    return compare_freqtrade(read_freqtrade_result(RESULT), bt)


def test_the_differing_trades_and_their_reasons_are_the_hand_worked_ones(rows) -> None:
    differ = {int(c.id.split("#")[1]): c for c in rows if c.differs}
    assert set(differ) == set(EXPECTED)
    for n, (ft, mc, reasons) in EXPECTED.items():
        c = differ[n]
        assert (c.freqtrade_liquidated, c.margincall_liquidated, c.reasons) == (ft, mc, reasons), n
    s = comparison_summary(rows)
    assert (s["trades"], s["freqtrade_liquidated"], s["margincall_liquidated"], s["differ"]) == (16, 5, 6, 7)
    assert s["by_reason"] == {"buffer": 5, "tier_by_stake": 2, "stop_first": 2}


def test_margincall_liquidates_at_the_venue_price_in_the_hand_worked_candle(rows) -> None:
    by = {int(c.id.split("#")[1]): c for c in rows}
    for n, price in VENUE_PRICE.items():
        c = by[n]
        assert c.margincall_price is not None and abs(c.margincall_price - price) < D("1e-6"), n
        # same candle as freqtrade's exit (liquidation or stop) in every hand-worked case
        assert c.margincall_time == c.freqtrade_time, n


def test_freqtrades_modelled_price_is_the_one_it_exited_at(rows) -> None:
    # freqtrade's liquidation exits are its buffered price on the 0.0001 tick (1.0719, 1.0593, 1.0198, 1.0864, 1.0805)
    for c in rows:
        if c.freqtrade_liquidated:
            assert c.freqtrade_price == c.freqtrade_liquidation_price.quantize(D("0.0001")), c.id


def test_freqtrade_price_by_stake_and_buffer_by_hand() -> None:
    # #4 of the docstring: tier 1 by the stake 999.9988376; raw 1.0190030, buffered 1.0197829
    tiers = TierTable.build([TierSpec("0", "40000", "0.005", "100"), TierSpec("40000", "80000", "0.006", "75")])
    p = freqtrade_liquidation_price(tiers, is_short=False, open_rate=D("1.0346"), amount=D("48327.8"),
                                    stake=D("999.9988376"))
    assert (p.mmr, p.cum) == (D("0.005"), D("0"))
    assert abs(p.raw - D("1.0190030")) < D("1e-7") and abs(p.buffered - D("1.0197829")) < D("1e-7")
    # a 1,000 USDT short at 1.0 with Q = 50,000 (stake tier 1): (1,000 + 50,000) / (250 + 50,000) = 1.0149254;
    # buffered 1.0149254 − 0.05 × 0.0149254 = 1.0141791
    s = freqtrade_liquidation_price(tiers, is_short=True, open_rate=D("1"), amount=D("50000"), stake=D("1000"))
    assert abs(s.raw - D("51000") / D("50250")) < D("1e-12")
    assert abs(s.buffered - (s.raw - D("0.05") * (s.raw - 1))) < D("1e-12")


def test_cli_compare_json_and_refusals(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "margincall.cli.main", "backtest", "--compare-freqtrade", str(RESULT),
           "--candles", str(CANDLES), "--instruments", str(INSTRUMENTS)]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["comparison"]["differ"] == 7
    assert {d["id"] for d in data["differences"]} == {ID.format(n) for n in EXPECTED}
    first = next(d for d in data["differences"] if d["id"] == ID.format(3))
    assert first["freqtrade_time"] == "2021-11-18T19:35:00.000Z" and first["margincall_liquidated"] is False
    table = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"})
    assert "7 differ" in table.stdout and "stop_first" in table.stdout
    bad = subprocess.run([*cmd, "--freqtrade-buffer", "x"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--freqtrade-buffer" in bad.stderr + bad.stdout
    other = tmp_path / "t.csv"
    other.write_text("id,symbol,side,open_time,size,leverage,margin_mode\n")
    diff = subprocess.run([*cmd, "--trades", str(other)], capture_output=True, text=True)
    assert diff.returncode != 0 and "different files" in diff.stderr + diff.stdout
    listed = tmp_path / "t.json"
    listed.write_text("[]")
    with pytest.raises(BacktestInputError, match="not a freqtrade backtest result"):
        read_freqtrade_result(listed)


def test_freqtrade_exit_is_replayed_to_the_end_of_its_candle() -> None:
    # freqtrade stamps #5's stop exit 08:20 (the start of the 5m candle it happened in, at 1.065 inside that candle);
    # the result's timeframe is 5m, so margincall holds the position through the candle: close at 08:25
    df = read_trades(RESULT)
    row = df[df["id"] == ID.format(5)].iloc[0]
    assert row["close_time"] == "2021-11-19T08:25:00+00:00" and row["open_time"] == "2021-11-19 06:05:00+00:00"
