"""`margincall calc --compare`: one position on every venue profile side by side, each by its own default formula,
built-in market and published taker rate; the table fits 80 columns and `--output-json` keeps exact values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D

import pytest

from conftest import run_cli
from margincall.calculator.compare import base_asset, compare_venues, comparison_to_json
from margincall.model.errors import MarginCallError

LONG_BTC = {"positions": [{"symbol": "BTC", "side": "long", "size": "1", "entry_price": "60000", "leverage": "20",
                           "margin_mode": "isolated"}]}  # fmt: skip


def _by_venue(template):
    return {r["venue"]: r for r in comparison_to_json(compare_venues(template))["venues"]}


def test_one_btc_long_on_every_venue_by_its_own_rule():
    rows = _by_venue(LONG_BTC)
    # Binance (2024-10-24 brackets): 60,000 falls in 50 k–600 k, MMR 0.5 %, cum 50; IM 3,000.
    # LP = (60,000 − (3,000 + 50)) / (1 × (1 − 0.005)) = 56,950 / 0.995 = 57,236.180904… → 57,236.2 (nearest 0.1).
    b = rows["binance-usdm"]
    assert D(b["maintenance_margin"]) == 250 and D(b["liquidation_price"]) == D("57236.2")
    assert abs(D(b["liquidation_price_unrounded"]) - D(56950) / D("0.995")) < D("1e-20")
    # Bybit, 2026 UTA form, tier 1 (MMR 0.5 %, MMD 0), taker 0.055 %: LP = (60,000 − 3,000) / 0.995 = 57,286.43…
    # → 57,286.5 (long up to 0.1); MM = 300 + 60,000 × (1 − 1/20) × 0.055 % = 300 + 31.35.
    y = rows["bybit-linear"]
    assert D(y["liquidation_price"]) == D("57286.5") and D(y["maintenance_margin"]) == D("331.35")
    assert y["taker_fee"] == "0.00055" and y["formula"] == "2026"
    # Hyperliquid BTC (40x max → MMR 1.25 %): MM 750; liq = 60,000 − (3,000 − 750) / 1 / (1 − 0.0125)
    # = 57,721.518987… → 57,722 (tick 1, up).
    h = rows["hyperliquid"]
    assert D(h["maintenance_margin"]) == 750 and D(h["liquidation_price"]) == 57722 and h["settle_asset"] == "USDC"
    # dYdX large-cap MMF 3 %: p' = (3,000 − 60,000) / (0.03 − 1) = 58,762.886597… → 58,763.
    assert D(rows["dydx"]["liquidation_price"]) == 58763
    # Every venue's bankruptcy price here is 60,000 × (1 − 1/20) = 57,000; distance to liquidation from the mark.
    assert {D(r["bankruptcy_price"]) for r in rows.values() if r["error"] is None} == {57000}
    assert abs(D(b["distance_to_liquidation_pct"]) - (60000 - D(56950) / D("0.995")) / 600) < D("1e-20")
    # No built-in BTC market on OKX, Bitunix or the generic venue: a reason, not a number.
    assert rows["okx"]["error"] == "no built-in BTC market (give --mmr for one tier)"


def test_one_tier_for_all_venues_compares_the_formulas_alone():
    # MMR 0.5 % everywhere: the generic solver and Binance/Hyperliquid/dYdX agree on (60,000 − 3,000) /
    # (1 − 0.005) = 57,286.432160…; OKX adds its 0.05 % liquidation fee to the rate: 57,000 / 0.9945.
    template = {**LONG_BTC, "instruments": {"BTC": {"mmr": "0.005", "maintenance_amount": "0"}}}
    rows = _by_venue(template)
    exact = D(57000) / D("0.995")
    for venue in ("generic", "binance-usdm", "hyperliquid", "dydx"):
        assert abs(D(rows[venue]["liquidation_price_unrounded"]) - exact) < D("1e-20"), venue
    assert abs(D(rows["okx"]["liquidation_price_unrounded"]) - D(57000) / D("0.9945")) < D("1e-20")
    assert all(r["tiers"] == "one tier given" for r in rows.values())


def test_contract_sizes_are_converted_from_the_base_asset():
    # 2.5 ETH on OKX's ETH-USDT-SWAP (0.1 ETH a contract) is 25 contracts: the same notional, 7,500 at 3,000.
    rows = _by_venue({"positions": [{**LONG_BTC["positions"][0], "symbol": "ETH", "size": "2.5", "entry_price": "3000",
                                     "leverage": "10"}]})  # fmt: skip
    assert D(rows["okx"]["initial_margin"]) == 750 and rows["okx"]["symbol"] == "ETH-USDT-SWAP"


@pytest.mark.parametrize(("symbol", "base"), [("BTCUSDT", "BTC"), ("ETH-USDT-SWAP", "ETH"), ("BTC-USD", "BTC"),
                                              ("BTC/USDT:USDT", "BTC"), ("SOL", "SOL")])  # fmt: skip
def test_base_asset(symbol, base):
    assert base_asset(symbol) == base


def test_instrument_flags_without_a_tier_are_refused():
    with pytest.raises(MarginCallError, match="apply with one tier given"):
        compare_venues({**LONG_BTC, "instruments": {"BTC": {"tick_size": "0.5"}}})


def test_cli_table_fits_80_columns_and_json_is_exact():
    args = ["calc", "--compare", "--side", "long", "--size", "1", "--entry", "60000", "--leverage", "20"]
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run([sys.executable, "-m", "margincall.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout and max(len(line) for line in proc.stdout.splitlines()) <= 80
    for venue in ("binance-usdm", "bybit-linear", "hyperliquid", "dydx"):
        assert venue in proc.stdout
    assert "57,236.20" in proc.stdout and "57,286.50" in proc.stdout
    data = json.loads(run_cli(*args, "--output-json").stdout)
    assert {r["venue"]: r["liquidation_price"] for r in data["venues"]}["binance-usdm"] == "57236.2"
    assert [s["venue"] for s in data["skipped"]] == ["binance-coinm", "bybit-inverse"]


def test_cli_refuses_flags_compare_would_ignore():
    proc = run_cli("calc", "--compare", "--venue", "okx", "--size", "1", "--entry", "60000")
    assert proc.returncode == 2 and "--venue: not used with --compare" in proc.stderr
