"""docs/venues.md §11's worked examples besides liquidation prices — mark price, funding, fillable price,
collateral, the OKX 2020 margin-ratio check — through `margincall calc --json -` and the Python API
(``calc_both`` checks the two agree), each to its published value with the arithmetic in the comment."""

from __future__ import annotations

import json

import pytest

from margincall.calculator import calculate
from margincall.model.errors import MarginCallError
from support.cli import D, calc_both, run_cli


def test_v14_binance_mark_price_1_from_the_funding_basis():
    # V14: funding rate 0.03 %, 4 h of the 8 h interval until funding, index 10,000:
    # basis 0.03 % × 4/8 = 0.015 %; mark = 10,000 × 1.00015 = 10,001.5 (exact).
    (res,) = calc_both(
        {
            "venue": "binance-usdm",
            "mark_price": {"index": "10000", "funding_rate": "0.0003", "hours_until_funding": "4"},
        }
    )
    assert set(res) == {"venue", "mark_price"}  # no positions asked, none answered
    m = res["mark_price"]
    assert D(m["price_1"]) == D("10001.5") and D(m["funding_interval_hours"]) == 8
    assert m["mark_price"] is None and m["price_2"] is None  # the median needs basis_ma and last_price


def test_v14_median_mark_with_price_2_and_last():
    # Today's mark: median(Price 1, Price 2, last). With V14's Price 1 = 10,001.5, basis MA +3 → Price 2 = 10,003,
    # last 10,002: median(10,001.5, 10,003, 10,002) = 10,002.
    (res,) = calc_both(
        {
            "venue": "bybit-linear",
            "mark_price": {
                "index": "10000",
                "funding_rate": "0.0003",
                "hours_until_funding": "4",
                "funding_interval_hours": "8",
                "basis_ma": "3",
                "last_price": "10002",
            },
        }
    )
    m = res["mark_price"]
    assert (D(m["price_1"]), D(m["price_2"]), D(m["mark_price"])) == (D("10001.5"), 10003, 10002)


def test_v21_dydx_fillable_price():
    # V21: A deposits 100, long 500 ABC @ 1, MMF 3 %; at 0.801 equity 100 − 500 × 0.199 = 0.50, total MMR
    # 500 × 0.801 × 3 % = 12.015. Fillable = 0.801 × (1 − 1.5 × 3 % × 1 × (1 − 0.5/12.015))
    # = 0.801 × (1 − 0.045 × 0.958385…) = 0.766455 (published 0.76645, tolerance 0.005) → $0.77 on a 0.01 tick
    # (a sell closing a long rounds up). SMMR 1.5 and BA 1 are dYdX's (the profile's defaults).
    (res,) = calc_both(
        {
            "venue": "dydx",
            "fillable_price": {
                "side": "long",
                "oracle_price": "0.801",
                "mmf": "0.03",
                "equity": "0.50",
                "total_mmr": "12.015",
                "tick_size": "0.01",
            },
        }
    )
    f = res["fillable_price"]
    assert abs(D(f["fillable_price"]) - D("0.76645")) <= D("0.005")
    assert D(f["fillable_price"]) == D("0.801") * (1 - D("0.045") * (1 - D("0.50") / D("12.015")))
    assert D(f["fillable_price_rounded"]) == D("0.77")
    assert (D(f["spread_to_mmr"]), D(f["bankruptcy_adjustment"])) == (D("1.5"), 1)
    # Bankruptcy 1 − 100/500 = 0.80; the insurance fund pays (0.80 − 0.77) × 500 = 15.
    assert (D("0.80") - D(f["fillable_price_rounded"])) * 500 == 15


def test_v23_dydx_funding_cap_and_impact_notional():
    # V23: BTC-USD IMF 5 %, MMF 3 %: 8-hour cap 600 % × (5 % − 3 %) = 12 %; impact notional 500 / 5 % = 10,000.
    # At IMF 10 %: 500 / 10 % = 5,000 USDC (the published impact notional).
    (res,) = calc_both({"venue": "dydx", "funding": {"imr": "0.05", "mmr": "0.03"}})
    f = res["funding"]
    assert (D(f["cap"]), f["cap_period"], D(f["impact_notional"])) == (D("0.12"), "per 8 h, ±", 10000)
    assert D(f["interval_hours"]) == 1 and f["funding_rate_8h"] is None
    (res,) = calc_both({"venue": "dydx", "funding": {"imr": "0.10"}})
    assert D(res["funding"]["impact_notional"]) == 5000 and res["funding"]["cap"] is None


def test_v24_binance_funding_cap_and_impact_margin_notional():
    # V24: ADAUSDT 75x, IMR 1.3 %, MMR 0.65 %: cap ±0.75 × (1.3 % − 0.65 %) = ±0.4875 %;
    # BNBUSDT 20x, IMR 5 %: IMN = 200 / 5 % = 4,000 USDT.
    (ada,) = calc_both({"venue": "binance-usdm", "funding": {"imr": "0.013", "mmr": "0.0065"}})
    assert D(ada["funding"]["cap"]) == D("0.004875") and ada["funding"]["cap_period"] == "per funding, ±"
    (bnb,) = calc_both({"venue": "binance-usdm", "funding": {"imr": "0.05"}})
    assert D(bnb["funding"]["impact_notional"]) == 4000 and D(bnb["funding"]["interval_hours"]) == 8


def test_v25_okx_legacy_margin_ratio_check():
    # V25: fixed margin 1,000 (1 BTC = 10,000 contracts × 0.0001 @ 10,000, 10x); at 9,010 UPL = −990, position
    # value 9,010: ratio (1,000 − 990) / 9,010 = 0.111 % (published 0.11 %, tolerance 0.005 %) < 1.5 % + 0.075 %
    # = 1.575 % → liquidation.
    (res,) = calc_both(
        {
            "venue": "okx",
            "margin_ratio_check": {
                "margin": "1000",
                "unrealized_pnl": "-990",
                "position_value": "9010",
                "mmr": "0.015",
                "liquidation_fee_rate": "0.00075",
            },
        }
    )
    m = res["margin_ratio_check"]
    assert abs(D(m["margin_ratio"]) * 100 - D("0.11")) <= D("0.005")
    assert D(m["margin_ratio"]) == D(10) / D(9010)
    assert D(m["threshold"]) == D("0.01575") and m["liquidated"] is True and m["published"] == "2020"


def test_v26_hyperliquid_funding_from_impact_prices():
    # V26: impact bid 10,100 (and ask 10,100), oracle 10,000, I = 0.01 %: premium (10,100 − 10,000) / 10,000 = 1 %;
    # F = 1 % + clamp(0.01 % − 1 %, ±0.05 %) = 1 % − 0.05 % = 0.95 % in 8-hour terms, paid hourly (an eighth).
    (res,) = calc_both(
        {"venue": "hyperliquid", "funding": {"impact_bid": "10100", "impact_ask": "10100", "index": "10000"}}
    )
    f = res["funding"]
    assert (D(f["premium_index"]), D(f["interest_rate"]), D(f["funding_rate_8h"])) == (
        D("0.01"),
        D("0.0001"),
        D("0.0095"),
    )
    assert D(f["interval_hours"]) == 1
    # The same from the premium index given directly.
    (res,) = calc_both({"venue": "hyperliquid", "funding": {"premium_index": "0.01"}})
    assert D(res["funding"]["funding_rate_8h"]) == D("0.0095")


def test_v29_drift_size_discounted_collateral_weight():
    # V29: 2,000 SOL, initial weight 0.80, IMF factor 0.003: min(0.80, 1.1 / (1 + 0.003 × √2,000))
    # = min(0.80, 1.1 / 1.134164) = min(0.80, 0.96987) = 0.80; at a price of 100: 2,000 × 100 × 0.80 = 160,000.
    # 200,000 SOL: 1.1 / (1 + 0.003 × 447.21360) = 1.1 / 2.3416408 = 0.469756… < 0.80.
    assets = [{"asset": "SOL", "amount": "2000", "price": "100", "weight": "0.80", "imf_factor": "0.003"}]
    (res,) = calc_both({"venue": "generic", "collateral": {"assets": assets}})
    c = res["collateral"]
    assert D(c["assets"][0]["weight"]) == D("0.80") and D(c["total"]) == 160000
    big = [{**assets[0], "amount": "200000"}]
    (res,) = calc_both({"venue": "generic", "collateral": {"assets": big}})
    assert abs(D(res["collateral"]["assets"][0]["weight"]) - D("0.469756")) < D("0.000001")


def test_v30_bitunix_multi_asset_margin():
    # V30: 0.1 BTC at index 10,000, discount 0.9 → 900; 1,000 USDT, discount 1 → 1,000; margin 1,900 USDT.
    assets = [
        {"asset": "BTC", "amount": "0.1", "price": "10000", "weight": "0.9"},
        {"asset": "USDT", "amount": "1000", "price": "1", "weight": "1"},
    ]
    (res,) = calc_both({"venue": "bitunix", "collateral": {"assets": assets}})
    c = res["collateral"]
    assert [D(a["value"]) for a in c["assets"]] == [900, 1000] and D(c["total"]) == 1900


def test_sections_answer_beside_positions():
    # V13's position (Bybit, 60,000 × (1 − 1/50) = 58,800 bankruptcy) with V14's mark in the same scenario.
    (res,) = calc_both(
        {
            "venue": "bybit-linear",
            "formula": "2024",
            "instruments": {"BTCUSDT": {"mmr": "0.005", "maintenance_amount": "0", "tick_size": "0.1"}},
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "1",
                    "entry_price": "60000",
                    "leverage": "50",
                    "margin_mode": "isolated",
                }
            ],
            "mark_price": {"index": "10000", "funding_rate": "0.0003", "hours_until_funding": "4"},
        }
    )
    assert D(res["positions"][0]["bankruptcy_price"]) == 58800 and D(res["mark_price"]["price_1"]) == D("10001.5")


@pytest.mark.parametrize(
    ("scenario", "field", "code"),
    [
        # A venue without the rule is refused, with the venues that have one.
        ({"venue": "okx", "mark_price": {"index": "1", "funding_rate": "0", "hours_until_funding": "1"}},
         "mark_price", "no_venue_rule"),
        ({"venue": "binance-usdm", "fillable_price": {"side": "long", "oracle_price": "1", "mmf": "0.03",
                                                      "equity": "1", "total_mmr": "2"}}, "fillable_price",
         "no_venue_rule"),
        ({"venue": "okx", "funding": {"premium_index": "0.01"}}, "funding", "no_venue_rule"),
        ({"venue": "dydx", "funding": {"premium_index": "0.01"}}, "funding.premium_index", "no_venue_rule"),
        ({"venue": "bybit-linear", "funding": {"imr": "0.02"}}, "funding.imr", "no_venue_rule"),
        ({"venue": "binance-usdm", "collateral": {"assets": [{"asset": "BTC", "amount": "1", "price": "1",
                                                               "weight": "1"}]}}, "collateral", "no_venue_rule"),
        ({"venue": "bitunix", "collateral": {"assets": [{"asset": "SOL", "amount": "1", "price": "1", "weight": "1",
                                                          "imf_factor": "0.003"}]}},
         "collateral.assets[0].imf_factor", "no_venue_rule"),
        ({"venue": "binance-usdm", "margin_ratio_check": {"margin": "1", "unrealized_pnl": "0", "position_value": "1",
                                                          "mmr": "0.01", "liquidation_fee_rate": "0"}},
         "margin_ratio_check", "no_venue_rule"),
        # Missing and bad fields are named.
        ({"venue": "binance-usdm", "mark_price": {"index": "10000", "funding_rate": "0.0003"}},
         "mark_price.hours_until_funding", "invalid_input"),
        ({"venue": "binance-usdm", "mark_price": {"index": "10000", "funding_rate": "0.0003",
                                                  "hours_until_funding": "9"}},
         "mark_price.hours_until_funding", "invalid_number"),
        ({"venue": "binance-usdm", "mark_price": {"index": "0", "funding_rate": "0", "hours_until_funding": "1"}},
         "mark_price.index", "invalid_number"),
        ({"venue": "binance-usdm", "mark_price": {"index": "1", "funding_rate": "0", "hours_until_funding": "1",
                                                  "basis_ma": "1"}}, "mark_price.last_price", "missing_input"),
        ({"venue": "hyperliquid", "funding": {"impact_bid": "10100", "index": "10000"}}, "funding.impact_ask",
         "missing_input"),
        ({"venue": "binance-usdm", "funding": {"mmr": "0.0065"}}, "funding.imr", "missing_input"),
        ({"venue": "binance-usdm", "funding": {"imr": "0.01", "mmr": "0.02"}}, "funding.mmr", "invalid_number"),
        ({"venue": "binance-usdm", "funding": {}}, "funding", "missing_input"),
        ({"venue": "dydx", "fillable_price": {"side": "long", "oracle_price": "0.801", "mmf": "0.03",
                                              "equity": "0.5", "total_mmr": "0"}},
         "fillable_price.total_mmr", "invalid_number"),
        ({"venue": "dydx", "fillable_price": {"side": "up", "oracle_price": "1", "mmf": "0.03", "equity": "0",
                                              "total_mmr": "1"}}, "fillable_price.side", "invalid_input"),
        ({"venue": "bitunix", "collateral": {"assets": [{"asset": "BTC", "amount": "1", "price": "1",
                                                         "weight": "1.5"}]}},
         "collateral.assets[0].weight", "invalid_number"),
        ({"venue": "bitunix", "collateral": {"assets": [{"asset": "BTC", "amount": "1", "price": "1", "weight": "1"},
                                                        {"asset": "BTC", "amount": "1", "price": "1", "weight": "1"}]}},
         "collateral.assets[1].asset", "invalid_input"),
        ({"venue": "bitunix", "collateral": {"assets": []}}, "collateral.assets", "invalid_input"),
        ({"venue": "okx", "margin_ratio_check": {"margin": "1000", "unrealized_pnl": "-990", "position_value": "0",
                                                 "mmr": "0.015", "liquidation_fee_rate": "0.00075"}},
         "margin_ratio_check.position_value", "invalid_number"),
        # Unknown fields and inputs the answer would not use are refused, never ignored.
        ({"venue": "binance-usdm", "mark_price": {"index": "1", "funding_rate": "0", "hours_until_funding": "1",
                                                  "premium": "1"}}, "mark_price.premium", "invalid_input"),
        ({"venue": "hyperliquid", "funding": {"premium_index": "0.01", "index": "10000"}}, "funding.index",
         "unused_input"),
        ({"venue": "binance-usdm", "funding": {"imr": "0.05", "interest_rate": "0.0001"}}, "funding.interest_rate",
         "unused_input"),
        ({"venue": "dydx", "wallet_balance": "100", "funding": {"imr": "0.05"}}, "wallet_balance", "unused_input"),
        ({"venue": "dydx", "formula": "v4", "funding": {"imr": "0.05"}}, "formula", "unused_input"),
        ({"venue": "dydx"}, "positions", "invalid_input"),
    ],
)  # fmt: skip
def test_bad_sections_are_refused_naming_the_field(scenario, field, code):
    with pytest.raises(MarginCallError) as info:
        calculate(scenario)
    assert info.value.field == field and info.value.code == code
    assert str(info.value).startswith(f"{field}:")


def test_refusals_exit_2_through_the_cli_naming_the_field():
    proc = run_cli("calc", "--json", "-", stdin=json.dumps({"venue": "okx", "fillable_price": {"side": "long"}}))
    assert proc.returncode == 2 and "fillable_price.oracle_price" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("calc", "--json", "-", stdin=json.dumps({"venue": "okx", "funding": {"premium_index": "0.01"}}))
    assert proc.returncode == 2 and "no published funding rule" in proc.stderr
    assert "binance-usdm, binance-coinm, bybit-linear, bybit-inverse, hyperliquid" in proc.stderr


def test_sections_are_refused_with_ccxt_output_which_has_no_place_for_them():
    scenario = {"venue": "hyperliquid", "funding": {"premium_index": "0.01"}}
    with pytest.raises(MarginCallError) as info:
        calculate(scenario, output="ccxt")
    assert info.value.field == "funding" and info.value.code == "unused_input"
