"""ccxt Position export and trader helpers (max size, distance), with hand-computed values."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest

from margincall.calculator import calculate
from margincall.math.sizing import distance_to_liquidation_pct, max_position_size
from margincall.model import ContractKind, LeverageTooHigh
from margincall.venues.tables import BINANCE_USDM_BTCUSDT_2024, OKX_ETH_USDT_SWAP_2021
from support.paths import ROOT

D = Decimal


def test_ccxt_position_shape_for_bybit_v8():
    # V8 (formula 2024): 1 BTC @ 20,000, 50x isolated: IM 400, MM 100, LP 19,700; collateral = margin 400 + PnL 0;
    # ccxt marginRatio = MM / collateral = 100 / 400 = 0.25.
    (pos,) = calculate(
        {
            "venue": "bybit-linear",
            "formula": "2024",
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "1",
                    "entry_price": "20000",
                    "leverage": "50",
                    "margin_mode": "isolated",
                }
            ],
        },
        output="ccxt",
    )
    assert pos["liquidationPrice"] == 19700.0
    assert pos["initialMargin"] == 400.0 and pos["maintenanceMargin"] == 100.0
    assert pos["collateral"] == 400.0 and pos["marginRatio"] == 0.25
    assert pos["marginMode"] == "isolated" and pos["isolated"] is True and pos["hedged"] is False
    assert pos["maintenanceMarginPercentage"] == 0.005 and pos["initialMarginPercentage"] == 0.02
    for key in ("symbol", "side", "contracts", "entryPrice", "markPrice", "notional", "leverage", "unrealizedPnl"):
        assert key in pos


def test_max_position_size_limited_by_margin_then_by_tier():
    # 1,000 USDT at 10x and price 20,000: notional 10,000 → 0.5 BTC (tier 1 allows 125x).
    assert max_position_size(
        ContractKind.LINEAR, BINANCE_USDM_BTCUSDT_2024, D(1000), D(10), D(20000), lot_size=D("0.001")
    ) == D("0.5")
    # 10,000,000 USDT at 50x: margin allows 500 M notional, but 50x is allowed only up to tier 4's cap
    # of 12,000,000 → 600 BTC at 20,000.
    assert max_position_size(ContractKind.LINEAR, BINANCE_USDM_BTCUSDT_2024, D(10000000), D(50), D(20000)) == 600
    # With a 0.05 % opening fee: 1,000 / (0.1 + 0.0005) = 9,950.248… notional → 0.497 BTC after lot rounding.
    assert max_position_size(
        ContractKind.LINEAR,
        BINANCE_USDM_BTCUSDT_2024,
        D(1000),
        D(10),
        D(20000),
        lot_size=D("0.001"),
        fee_rate=D("0.0005"),
    ) == D("0.497")
    with pytest.raises(LeverageTooHigh):
        max_position_size(ContractKind.LINEAR, BINANCE_USDM_BTCUSDT_2024, D(1000), D(200), D(20000))


def test_max_position_size_inverse_and_contract_tiers():
    # Inverse: 1 BTC at 20x and 50,000 USD/BTC → 20 BTC notional = 1,000,000 USD = 10,000 contracts of 100 USD.
    assert (
        max_position_size(ContractKind.INVERSE, BINANCE_USDM_BTCUSDT_2024, D(1), D(20), D(50000), contract_size=D(100))
        == 10000
    )
    # OKX tiers by contracts: 100x is allowed up to tier 2's cap of 6,000 contracts.
    assert (
        max_position_size(
            ContractKind.LINEAR, OKX_ETH_USDT_SWAP_2021, D(10**9), D(100), D(2000), contract_size=D("0.1")
        )
        == 6000
    )


def test_distance_to_liquidation():
    # Long at mark 10,000 with LP 9,200: 8 % away; short at 10,000 with LP 10,500: 5 %; past LP: negative.
    assert distance_to_liquidation_pct(D(10000), D(9200), 1) == 8
    assert distance_to_liquidation_pct(D(10000), D(10500), -1) == 5
    assert distance_to_liquidation_pct(D(9000), D(9200), 1) < 0


def _calc_table(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", "calc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_calc_table_rounds_for_display_and_json_stays_exact():
    # 0.333 BTC long @ 30,000, 7x on bybit-linear formula 2024 (tier 1: MMR 0.5 %), target LP 25,000:
    # IM = 9,990 / 7 = 1,427.142857…; MM = 9,990 × 0.5 % = 49.95;
    # LP = 30,000 − (1,427.142857… − 49.95) / 0.333 = 25,864.285714… → 25,864.3 (long: up to the 0.1 tick);
    # distance = 4,135.714285… / 30,000 = 13.7857… %; ratio = 49.95 / 1,427.142857… = 3.5 % exactly;
    # margin to add: (1,377.192857… + m) / 0.333 = 5,000 → m = 287.807142….
    args = ("--venue", "bybit-linear", "--formula", "2024", "--side", "long", "--size", "0.333", "--entry", "30000",
            "--leverage", "7")
    out = _calc_table(*args, "--target-liq", "25000")
    for shown in (
        "9,990.00 USDT",
        "1,427.14 USDT",
        "49.95 USDT",
        "25,864.3 ",
        "25,864.28571 ",
        "13.79 %",
        "3.50 % (MM / equity)",
        "287.81 USDT",
    ):
        assert shown in out, (shown, out)
    assert not re.search(r"\d\.\d{9,}", out), out  # no 28-digit ratios or amounts on screen
    exact = json.loads(_calc_table(*args, "--target-liq", "25000", "--output-json"))["positions"][0]
    assert exact["initial_margin"] == "1427.142857142857142857142857"
    assert D(exact["distance_to_liquidation_pct"]) == (D(30000) - D(exact["liquidation_price_unrounded"])) / 300


def test_calc_table_coin_settled_shows_eight_places():
    # Inverse, 5,000 USD of BTCUSD @ 7,890.08, 50x: notional 5,000 / 7,890.08 = 0.633707… BTC → 0.63370714;
    # IM = 0.633707… / 50 = 0.0126741… → 0.01267414 BTC.
    out = _calc_table(
        "--venue", "bybit-inverse", "--symbol", "BTCUSD", "--kind", "inverse", "--contract-size", "1",
        "--tick-size", "0.5", "--mmr", "0.005", "--side", "long", "--size", "5000", "--entry", "7890.08",
        "--leverage", "50",
    )  # fmt: skip
    assert "0.63370714 BTC" in out and "0.01267414 BTC" in out, out
    assert not re.search(r"\d\.\d{9,}", out), out


def test_readme_seed_table_is_the_real_output():
    # The README's seed example block must be what the command prints (it once showed a made-up 9,200).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ margincall calc --mmr 0.02 --side long --size 1 --entry 10000 --leverage 10\n", 1)[1]
    shown = [line.strip() for line in block.split("```", 1)[0].splitlines() if line.strip()]
    out = _calc_table("--mmr", "0.02", "--side", "long", "--size", "1", "--entry", "10000", "--leverage", "10")
    assert [line.strip() for line in out.splitlines() if line.strip()] == shown
    # Hand check of the key row: 1,000 + (P − 10,000) = 0.02·P → P = 9,000 / 0.98 = 9,183.673… → 9,183.68 (up).
    assert any("9,183.68" in line for line in shown)
