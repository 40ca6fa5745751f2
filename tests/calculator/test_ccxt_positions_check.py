"""`margincall calc --ccxt-positions`: ccxt's fetch_positions()/fetch_balance() JSON in, margincall's liquidation
price beside the venue's reported one, with the difference (fixtures: tests/fixtures/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D

import pytest

from conftest import run_cli
from margincall.calculator.ccxt_positions import check_ccxt_positions, check_to_json
from margincall.model.errors import MarginCallError
from support.paths import FIXTURES


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"), parse_float=str)


def _rows(check):
    return {r["venue_symbol"]: r for r in check_to_json(check)["positions"]}


def test_binance_cross_account_from_ccxt_reproduces_the_faq_example():
    # V1 (Binance FAQ): wallet 1,535,443.01 = info.assets[USDT].crossWalletBalance; BTCUSDT and ETHUSDT cross longs
    # with the 2020–21 brackets (instruments file). Published BTCUSDT LP 26,316.89 (the venue's number, to the
    # cent); margincall's exact 26,316.8933 → difference +0.0033. ETHUSDT's venue number is the FAQ formula worked
    # by hand (tests/fixtures/README.md): (1,535,443.01 − 71,200.811444 − 56,354.56848 + 135,365 − 3,683.979 ×
    # 1,456.84) / (3,683.979 × (10 % − 1)) = 1,153.256464239…; the fixture gives it to 8 places, 1,153.25646424.
    check = check_ccxt_positions(
        fixture("ccxt_binance_positions_v1.json"),
        fixture("ccxt_binance_balance_v1.json"),
        "binance-usdm",
        instruments=fixture("ccxt_binance_instruments_2021.json"),
    )
    rows = _rows(check)
    btc, eth = rows["BTCUSDT"], rows["ETHUSDT"]
    assert btc["liquidation_price"] == "26316.89" and btc["venue_liquidation_price"] == "26316.89"
    assert abs(D(btc["difference"]) - D("0.0033")) < D("0.00005")
    assert abs(D(eth["difference"])) < D("1e-8") and eth["liquidation_price"] == "1153.26"
    # The wallet is the cross wallet balance without PnL, and the zero-size SOLUSDT entry is skipped, not priced.
    (scenario,) = check_to_json(check)["scenarios"]
    assert scenario["wallet_balance"] == "1535443.01"
    assert check.skipped == ("SOL/USDT:USDT (no open position)",)


def test_bybit_isolated_v8_against_the_default_and_the_2024_form():
    # The venue's liqPrice 19,700 is V8 (help-centre form, formula 2024): 20,000 − (400 − 100) = 19,700.
    # Default (2026 UTA) form: 19,600 / 0.995 = 19,698.4924… → difference −1.50754 (−0.00765 %).
    positions = fixture("ccxt_bybit_positions_v8.json")
    default = _rows(check_ccxt_positions(positions, None, "bybit-linear"))["BTCUSDT"]
    assert abs(D(default["difference"]) - (D(19600) / D("0.995") - 19700)) < D("1e-20")
    assert abs(D(default["difference_pct"]) - D("-0.00765247")) < D("1e-8")
    legacy = _rows(check_ccxt_positions(positions, None, "bybit-linear", formula="2024"))["BTCUSDT"]
    assert D(legacy["difference"]) == 0 and legacy["liquidation_price"] == "19700"
    # The isolated margin is info.positionBalance (400), and the fee form gets Bybit's taker rate.
    (scenario,) = check_to_json(check_ccxt_positions(positions, None, "bybit-linear"))["scenarios"]
    assert scenario["positions"][0]["isolated_margin"] == "400" and scenario["taker_fee"] == "0.00055"


def test_okx_isolated_position_in_contracts():
    # 100 contracts × 0.1 ETH @ 2,000, margin 2,000 (info.margin), tier 1 MMR 0.4 %, fee 0.05 %. OKX liquidates at
    # (margin + UPL) / (10 × P × (0.4 % + 0.05 %)) = 1: P = (20,000 − 2,000) / (10 × 0.9955) = 1,808.1366147664…
    # (the fixture's liqPx is this, worked by hand).
    row = _rows(check_ccxt_positions(fixture("ccxt_okx_positions_isolated.json"), None, "okx"))["ETH-USDT-SWAP"]
    assert abs(D(row["liquidation_price_unrounded"]) - D(18000) / D("9.955")) < D("1e-20")
    assert abs(D(row["difference"])) < D("1e-10") and row["liquidation_price"] == "1808.14"


def test_hyperliquid_position_from_ccxts_documented_example():
    # ccxt's hyperliquid parsePosition example: ETH isolated 0.2259 @ 2,213.9, marginUsed 24.88097, maxLeverage 50
    # (MMR 1 / (2 × 50) = 1 %), positionValue 500.12001 (mark 500.12001 / 0.2259 = 2,213.9), liquidationPx
    # 2,125.00856238. Hyperliquid's rule: 2,213.9 − (24.88097 − 5.0012001) / 0.2259 / (1 − 0.01) = 2,125.0085628306…
    row = _rows(check_ccxt_positions(fixture("ccxt_hyperliquid_positions.json"), None, "hyperliquid"))["ETH"]
    expected = D("2213.9") - (D("24.88097") - D("500.12001") * D("0.01")) / D("0.2259") / D("0.99")
    assert abs(D(row["liquidation_price_unrounded"]) - expected) < D("1e-20")
    assert row["tiers"] == "position's max leverage" and row["mark_price"] == "2213.9"
    assert abs(D(row["difference"])) < D("1e-6")  # the venue's float against the exact value


@pytest.mark.parametrize(
    ("venue", "positions", "balance", "message"),
    [
        ("binance-usdm", "ccxt_binance_positions_v1.json", None, "cross positions need the account's fetch_balance"),
        ("okx", "ccxt_okx_positions_isolated.json", "ccxt_binance_balance_v1.json", "no cross position uses"),
        ("dydx", "ccxt_okx_positions_isolated.json", None, "supported for binance-usdm"),
    ],
)
def test_missing_or_unused_inputs_are_named(venue, positions, balance, message):
    with pytest.raises(MarginCallError, match=message):
        check_ccxt_positions(fixture(positions), None if balance is None else fixture(balance), venue)


def test_a_symbol_without_tiers_is_an_error_row_not_a_guess():
    raw = fixture("ccxt_bybit_positions_v8.json")
    raw[0]["info"]["symbol"] = "DOGEUSDT"
    (row,) = check_to_json(check_ccxt_positions(raw, None, "bybit-linear"))["positions"]
    assert row["liquidation_price"] is None and row["error"] == "no tiers for DOGEUSDT: give them in --instruments"


def test_cli_table_in_80_columns_and_json():
    args = ["calc", "--venue", "binance-usdm", "--ccxt-positions", str(FIXTURES / "ccxt_binance_positions_v1.json"),
            "--ccxt-balance", str(FIXTURES / "ccxt_binance_balance_v1.json"),
            "--instruments", str(FIXTURES / "ccxt_binance_instruments_2021.json")]  # fmt: skip
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "margincall.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout and max(len(line) for line in proc.stdout.splitlines()) <= 80
    assert "BTCUSDT long cross    26,316.89    26,316.89       0.0033" in proc.stdout
    out = run_cli(*args, "--output-json")
    assert json.loads(out.stdout)["positions"][0]["venue_liquidation_price"] == "26316.89"
    bad = run_cli("calc", "--ccxt-balance", str(FIXTURES / "ccxt_binance_balance_v1.json"))
    assert bad.returncode == 2 and "--ccxt-balance: used only with --ccxt-positions" in bad.stderr
