"""Every worked example of docs/venues.md §11, to its stated tolerance.

Each test names the vector, its inputs and the published value; prices go through the calculator's
Python API and its CLI JSON path (``calc_both`` checks the two agree).
"""

from __future__ import annotations

import json

import pytest

from margincall.math.collateral import discounted_collateral, drift_asset_weight
from margincall.math.dydx import dydx_fillable_price
from margincall.math.funding import (
    binance_funding_cap,
    binance_impact_margin_notional,
    dydx_funding_cap_8h,
    dydx_impact_notional,
    funding_rate,
    premium_index,
)
from margincall.math.hyperliquid import hyperliquid_mmr
from margincall.math.margin import maintenance_margin, margin_ratio_mm_over_equity
from margincall.math.mark import funding_basis_price
from margincall.math.okx import okx_legacy_margin_ratio
from margincall.math.rounding import round_to_tick
from margincall.model import ContractKind, TierSpec, TierTable
from margincall.model.tiers import next_maintenance_amount
from margincall.venues.tables import BINANCE_USDM_BTCUSDT_2021, BYBIT_LINEAR_BTCUSDT_2026
from support.cli import D, calc_both
from support.paths import FIXTURES

V1 = {
    "venue": "binance-usdm",
    "wallet_balance": "1535443.01",
    "instruments": {
        "BTCUSDT": {"tier_table": "2021", "tick_size": "0.01"},
        "ETHUSDT": {"tier_table": "2021", "tick_size": "0.01"},
    },
    "positions": [
        {
            "symbol": "BTCUSDT",
            "side": "long",
            "size": "109.488",
            "entry_price": "32481.98",
            "mark_price": "31967.27",
            "margin_mode": "cross",
            "leverage": "20",
        },
        {
            "symbol": "ETHUSDT",
            "side": "long",
            "size": "3683.979",
            "entry_price": "1456.84",
            "mark_price": "1335.18",
            "margin_mode": "cross",
            "leverage": "4",
        },
    ],
}


def test_v1_binance_cross_two_positions():
    # V1: published LP 26,316.89 (tolerance 0.005); the FAQ also publishes MM(BTC) = 3,500,032.458 × 2.5 %
    # − 16,300 = 71,200.81144 and MM(ETH) = 4,918,775.081 × 10 % − 135,365 = 356,512.508.
    (res,) = calc_both(V1)
    btc, eth = res["positions"]
    assert abs(D(btc["liquidation_price_unrounded"]) - D("26316.89")) <= D("0.005")
    assert btc["liquidation_price"] == "26316.89"
    assert abs(D(btc["maintenance_margin"]) - D("71200.81144")) < D("0.00001")
    assert abs(D(eth["maintenance_margin"]) - D("356512.508")) < D("0.001")
    # UPNL of ETH: 3,683.979 × (1,335.18 − 1,456.84) = −448,192.88514; BTC: 109.488 × (31,967.27 − 32,481.98)
    assert D(eth["unrealized_pnl"]) == D("-448192.88514")
    assert D(btc["unrealized_pnl"]) == D("-56354.56848")


@pytest.mark.parametrize(
    ("symbol", "size", "entry", "mark", "leverage", "expected"),
    [
        ("ETHUSDT", "3683.979", "1456.84", "1335.18", "4", "1114.78"),
        ("BTCUSDT", "109.488", "32481.98", "31967.27", "20", "18778.73"),
    ],
)
def test_v3_binance_isolated_variants(symbol, size, entry, mark, leverage, expected):
    # V3 (freqtrade-derived): same positions isolated, WB 1,535,443.01 as the isolated wallet.
    scenario = {
        "venue": "binance-usdm",
        "instruments": {symbol: {"tier_table": "2021", "tick_size": "0.01"}},
        "positions": [
            {
                "symbol": symbol,
                "side": "long",
                "size": size,
                "entry_price": entry,
                "mark_price": mark,
                "margin_mode": "isolated",
                "leverage": leverage,
                "isolated_margin": "1535443.01",
            }
        ],
    }
    (res,) = calc_both(scenario)
    assert abs(D(res["positions"][0]["liquidation_price_unrounded"]) - D(expected)) <= D("0.005")


def test_v5_binance_cross_small_account():
    # V5: WB 10.72, TMM1 0.19, UPNL1 −0.06, ETHUSDT long 1 @ 199.53, MMR 0.65 %, cum 0 → 190.29 (doc truncates,
    # tolerance 0.01). The other contract is represented by a one-tier instrument with MM exactly 0.19
    # (1 × 19 × 1 %) and PnL exactly −0.06 (entry 19.06, mark 19).
    scenario = {
        "venue": "binance-usdm",
        "wallet_balance": "10.72",
        "instruments": {
            "ETHUSDT": {"mmr": "0.0065", "maintenance_amount": "0"},
            "OTHER": {"mmr": "0.01", "maintenance_amount": "0"},
        },
        "positions": [
            {"symbol": "ETHUSDT", "side": "long", "size": "1", "entry_price": "199.53", "leverage": "20"},
            {
                "symbol": "OTHER",
                "side": "long",
                "size": "1",
                "entry_price": "19.06",
                "mark_price": "19",
                "leverage": "20",
            },
        ],
    }
    (res,) = calc_both(scenario)
    lp = D(res["positions"][0]["liquidation_price_unrounded"])
    assert abs(lp - D("190.29")) <= D("0.01")
    # Independent: (10.72 − 0.19 − 0.06 − 199.53) / (0.0065 − 1) = 190.29693...
    assert abs(lp - (D("10.72") - D("0.19") - D("0.06") - D("199.53")) / (D("0.0065") - 1)) < D("1e-20")


def test_v6_maintenance_amount_recursion():
    # V6 (a) level 3: 250,000 × (1 % − 0.5 %) + 50 = 1,300; (b) level 5: 5,000,000 × (5 % − 2.5 %) + 16,300.
    assert BINANCE_USDM_BTCUSDT_2021.tiers[2].maintenance_amount == 1300
    assert BINANCE_USDM_BTCUSDT_2021.tiers[4].maintenance_amount == 141300
    derived = TierTable.build(
        [TierSpec(0, 50000, "0.004", 125), TierSpec(50000, 250000, "0.005", 100), TierSpec(250000, 1000000, "0.01", 50)]
    )
    assert derived.tiers[2].maintenance_amount == 1300
    # (c) COIN-M BTCUSD level 5: 50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC.
    assert next_maintenance_amount(D("0.56"), D(50), D("0.05"), D("0.025")) == D("1.81")
    # The FAQ's "position 264,000 USDT → MMR 1 %" and "500,000 USDT → maintenance amount 1,300".
    assert BINANCE_USDM_BTCUSDT_2021.tier_for(D(264000)).mmr == D("0.01")
    assert BINANCE_USDM_BTCUSDT_2021.tier_for(D(500000)).maintenance_amount == 1300


def test_v6_maintenance_amounts_through_the_calculator():
    # V6 through `calc --json -`. (a) The FAQ's "264,000 USDT → MMR 1 %" with the amounts derived by the recursion
    # (no maintenance_amount given): 2.64 BTC @ 100,000 is in 250 k–1 M, MM = 264,000 × 1 % − 1,300 = 1,340.
    tiers = [{"floor": "0", "cap": "50000", "mmr": "0.004", "max_leverage": "125"},
             {"floor": "50000", "cap": "250000", "mmr": "0.005", "max_leverage": "100"},
             {"floor": "250000", "cap": "1000000", "mmr": "0.01", "max_leverage": "50"}]  # fmt: skip
    (res,) = calc_both(
        {
            "venue": "binance-usdm",
            "instruments": {"BTCUSDT": {"tiers": tiers}},
            "positions": [{"symbol": "BTCUSDT", "side": "long", "size": "2.64", "entry_price": "100000",
                           "leverage": "10", "margin_mode": "isolated"}],
        }
    )
    assert D(res["positions"][0]["maintenance_margin"]) == 1340
    # (b) 2020 level 5 (5 M–20 M, 5 %, 141,300): 60 BTC @ 100,000 = 6,000,000 → MM = 300,000 − 141,300 = 158,700.
    (res,) = calc_both(
        {
            "venue": "binance-usdm",
            "instruments": {"BTCUSDT": {"tier_table": "2021"}},
            "positions": [{"symbol": "BTCUSDT", "side": "long", "size": "60", "entry_price": "100000",
                           "leverage": "10", "margin_mode": "isolated"}],
        }
    )
    assert D(res["positions"][0]["maintenance_margin"]) == 158700
    # (c) COIN-M: 300 BTC of BTCUSD at 10,000 (3,000,000 USD = 30,000 contracts of 100 USD) → 12.5 %, 11.81 BTC:
    # MM = 300 × 12.5 % − 11.81 = 25.69 BTC.
    brackets = json.loads((FIXTURES / "binance_coinm_leverage_bracket.json").read_text())
    (res,) = calc_both(
        {
            "venue": "binance-coinm",
            "instruments": {"BTCUSD_PERP": {"kind": "inverse", "contract_size": "100", "settle_asset": "BTC",
                                            "binance_brackets": brackets}},
            "positions": [{"symbol": "BTCUSD_PERP", "side": "long", "size": "30000", "entry_price": "10000",
                           "leverage": "4", "margin_mode": "isolated"}],
        }
    )
    assert D(res["positions"][0]["maintenance_margin"]) == D("25.69")


def test_v25_okx_margin_ratio_through_the_calculator():
    # V25: long 1 BTC (10,000 contracts × 0.0001) @ 10,000, fixed margin 1,000, MMR 1.5 %, liquidation fee 0.075 %;
    # at 9,010 equity = 1,000 − 990 = 10. OKX today: equity / (MM + fee) = 10 / (9,010 × 1.575 %) = 10 / 141.9075
    # = 7.0468 % < 100 % → liquidation; the legacy ratio 10 / 9,010 = 0.11 % is the same ratio × 1.575 %.
    (res,) = calc_both(
        {
            "venue": "okx",
            "taker_fee": "0.00075",
            "instruments": {"BTC-USDT-SWAP": {"contract_size": "0.0001", "mmr": "0.015", "max_leverage": "20"}},
            "positions": [{"symbol": "BTC-USDT-SWAP", "side": "long", "size": "10000", "entry_price": "10000",
                           "mark_price": "9010", "leverage": "10", "margin_mode": "isolated",
                           "isolated_margin": "1000"}],
        }
    )
    ratio = D(res["positions"][0]["margin_ratio"])
    assert abs(ratio - D(10) / D("141.9075")) < D("1e-20") and ratio < 1
    assert abs(ratio * D("0.01575") - D("0.0011")) <= D("0.00005")


def _bybit(side, entry, leverage, extra=None, formula=None, mmr="0.005", isolated_margin=None):
    pos = {
        "symbol": "BTCUSDT",
        "side": side,
        "size": "1",
        "entry_price": entry,
        "leverage": leverage,
        "margin_mode": "isolated",
    }
    if extra is not None:
        pos["extra_margin"] = extra
    if isolated_margin is not None:
        pos["isolated_margin"] = isolated_margin
    scenario = {
        "venue": "bybit-linear",
        "instruments": {"BTCUSDT": {"mmr": mmr, "maintenance_amount": "0", "tick_size": "0.5"}},
        "positions": [pos],
    }
    if formula:
        scenario["formula"] = formula
    (res,) = calc_both(scenario)
    return res["positions"][0]


def test_v8_bybit_isolated_long():
    # V8 (the help-centre "Liquidation Price (USDT Contract)" form, formula 2024): 1 BTC @ 20,000, 50x,
    # MMR 0.5 %: IM 400, MM 100, LP = 20,000 − (400 − 100) = 19,700.
    p = _bybit("long", "20000", "50", formula="2024")
    assert D(p["liquidation_price"]) == 19700
    assert D(p["initial_margin"]) == 400 and D(p["maintenance_margin"]) == 100


def test_v8_inputs_under_the_default_uta_form():
    # The default form is Bybit's current UTA rule (formula 2026), MM valued at the liquidation price:
    # LP = [20,000 − 20,000/50 − 0] / (1 − 0.005) = 19,600 / 0.995 = 19,698.4924… → 19,698.5 (a long rounds up).
    p = _bybit("long", "20000", "50")
    assert abs(D(p["liquidation_price_unrounded"]) - D(19600) / D("0.995")) < D("1e-20")
    assert D(p["liquidation_price"]) == D("19698.5")


def test_v9_bybit_isolated_short_with_added_margin():
    # V9: short, extra margin 3,000: LP = 20,000 + (400 − 100) + 3,000 = 23,300.
    assert D(_bybit("short", "20000", "50", extra="3000", formula="2024")["liquidation_price"]) == 23300


def test_v10_bybit_funding_taken_from_position_margin():
    # V10: V8 after 200 USDT of funding taken from position margin: LP = 19,700 − (−200/1) = 19,900.
    assert D(_bybit("long", "20000", "50", extra="-200", formula="2024")["liquidation_price"]) == 19900


def test_v11_bybit_legacy_formulas():
    # V11: (a) 10,000 × (1 − 2 % + 0.5 %) = 9,850; (b) 8,000 × (1 + 2.5 % − 0.5 %) = 8,160.
    assert D(_bybit("long", "10000", "50", formula="legacy")["liquidation_price"]) == 9850
    assert D(_bybit("short", "8000", "40", formula="legacy")["liquidation_price"]) == 8160


def test_v13_bybit_bankruptcy_linear_long():
    # V13: 60,000 × (1 − 1/50) = 58,800.
    assert D(_bybit("long", "60000", "50")["bankruptcy_price"]) == 58800


def test_v14_binance_mark_price_1():
    # V14: 10,000 × (1 + 0.03 % × 4/8) = 10,001.5.
    assert funding_basis_price(D(10000), D("0.0003"), D(4), D(8)) == D("10001.5")


def test_v16_bybit_inverse_bankruptcy_rounded_up_for_long():
    # V16: long 5,000 BTCUSD @ 7,890.08, 50x: 7,890.08 × 50/51 = 7,735.3725 → 7,735.50 on the 0.5 tick.
    scenario = {
        "venue": "bybit-inverse",
        "instruments": {
            "BTCUSD": {
                "kind": "inverse",
                "contract_size": "1",
                "tick_size": "0.5",
                "mmr": "0.005",
                "maintenance_amount": "0",
            }
        },
        "positions": [
            {
                "symbol": "BTCUSD",
                "side": "long",
                "size": "5000",
                "entry_price": "7890.08",
                "leverage": "50",
                "margin_mode": "isolated",
            }
        ],
    }
    (res,) = calc_both(scenario)
    assert D(res["positions"][0]["bankruptcy_price"]) == D("7735.50")


def test_v18_bybit_tier_lookup_and_continuity():
    # V18: 2,000,000 → MMR 0.5 %, MMD 0 (inclusive cap); 2,600,000 → 0.56 %, MMD 1,200;
    # MM at 2,600,000 = 14,560 − 1,200 = 13,360 = 2,000,000 × 0.5 % + 600,000 × 0.56 %.
    t = BYBIT_LINEAR_BTCUSDT_2026
    assert t.tier_for(D(2000000)).mmr == D("0.005") and t.tier_for(D(2000000)).maintenance_amount == 0
    assert t.tier_for(D(2600000)).mmr == D("0.0056") and t.tier_for(D(2600000)).maintenance_amount == 1200
    assert maintenance_margin(t, ContractKind.LINEAR, D(2600000), D(1)) == 13360
    # The same through the calculator: 26 BTC at 100,000 = 2,000,000 + 600,000 → tier 2, MM 13,360.
    (res,) = calc_both(
        {
            "venue": "bybit-linear",
            "positions": [
                {"symbol": "BTCUSDT", "side": "long", "size": "26", "entry_price": "100000", "leverage": "50"}
            ],
        }
    )
    assert (res["positions"][0]["tier"], D(res["positions"][0]["maintenance_margin"])) == (2, 13360)


def test_v19_dydx_isolated_short():
    # V19: e = 1,000, short 3 ETH @ 3,000, MMF 5 %: p' = (1,000 + 9,000)/(0.15 + 3) = 3,174.60;
    # equity at p' = 3 × 3,174.6 × 5 % ≈ 476.2.
    scenario = {
        "venue": "dydx",
        "instruments": {"ETH-USD": {"mmr": "0.05", "max_leverage": "10", "tick_size": "0.01"}},
        "positions": [
            {
                "symbol": "ETH-USD",
                "side": "short",
                "size": "3",
                "entry_price": "3000",
                "leverage": "10",
                "margin_mode": "isolated",
                "isolated_margin": "1000",
            }
        ],
    }
    (res,) = calc_both(scenario)
    p = res["positions"][0]
    assert abs(D(p["liquidation_price_unrounded"]) - D("3174.60")) <= D("0.005")
    lp = D(p["liquidation_price_unrounded"])
    assert abs((1000 - 3 * (lp - 3000)) - D("476.2")) < D("0.05")


def test_v21_dydx_fillable_price():
    # V21: 0.801 × (1 − 1.5 × 3 % × (1 − 0.5/12.015)) = 0.76645 → 0.77 on a 0.01 tick (sells closing longs round up).
    fill = dydx_fillable_price(D("0.801"), 1, D("0.03"), D("0.50"), D("12.015"))
    assert abs(fill - D("0.76645")) <= D("0.000005")
    assert round_to_tick(fill, D("0.01"), "ROUND_CEILING") == D("0.77")
    # Bankruptcy 1 − 100/500 = 0.80; the insurance fund pays (0.80 − 0.77) × 500 = 15.
    assert (D("0.80") - D("0.77")) * 500 == 15


def test_v22_dydx_deleveraging_bankruptcy_price():
    # V22: B deposits 100, short 500 @ 1; price 2 → equity −400; bankruptcy price 1 + 100/500 = 1.2.
    scenario = {
        "venue": "dydx",
        "wallet_balance": "100",
        "instruments": {"ABC-USD": {"mmr": "0.03", "max_leverage": "20", "tick_size": "0.0001"}},
        "positions": [
            {
                "symbol": "ABC-USD",
                "side": "short",
                "size": "500",
                "entry_price": "1",
                "mark_price": "2",
                "leverage": "5",
                "margin_mode": "cross",
            }
        ],
    }
    (res,) = calc_both(scenario)
    assert D(res["positions"][0]["bankruptcy_price"]) == D("1.2")
    assert D(res["account"]["equity"]) == -400


def test_v23_v24_funding_caps_and_impact_notional():
    assert dydx_funding_cap_8h(D("0.05"), D("0.03")) == D("0.12")  # V23
    assert dydx_impact_notional(D("0.10")) == 5000
    assert binance_funding_cap(D("0.013"), D("0.0065")) == D("0.004875")  # V24: ±0.4875 %
    assert binance_impact_margin_notional(D("0.05")) == 4000


def test_v25_okx_legacy_margin_ratio():
    # V25: (1,000 − 990)/(1 × 9,010) = 0.11 % < 1.5 % + 0.075 % → liquidation.
    ratio = okx_legacy_margin_ratio(D(1000), D(-990), D(9010))
    assert abs(ratio - D("0.0011")) <= D("0.00005")
    assert ratio < D("0.015") + D("0.00075")


def test_v26_v27_hyperliquid():
    # V26: premium (10,100 − 10,000)/10,000 = 1 %; F = 1 % + clamp(0.01 % − 1 %, ±0.05 %) = 0.95 %.
    p = premium_index(D(10100), D(10100), D(10000))
    assert p == D("0.01")
    assert funding_rate(p) == D("0.0095")
    # V27: 10,000 position on a 20x-max asset: MM = 2.5 % × 10,000 = 250 at any chosen leverage.
    scenario = {
        "venue": "hyperliquid",
        "instruments": {"XYZ": {"max_leverage": "20", "settle_asset": "USDC"}},
        "positions": [
            {
                "symbol": "XYZ",
                "side": "long",
                "size": "1",
                "entry_price": "10000",
                "leverage": lev,
                "margin_mode": "isolated",
            }
            for lev in ("10", "20")
        ],
    }
    (res,) = calc_both(scenario)
    assert [D(p["maintenance_margin"]) for p in res["positions"]] == [250, 250]
    assert [D(p["initial_margin"]) for p in res["positions"]] == [1000, 500]
    assert hyperliquid_mmr(D(40)) == D("0.0125")


def test_v29_v30_collateral():
    assert drift_asset_weight(D("0.80"), D("0.003"), D(2000)) == D("0.80")  # V29
    assert discounted_collateral([(D("0.1"), D(10000), D("0.9")), (D(1000), D(1), D(1))]) == 1900  # V30


def test_v31_binance_margin_ratio():
    # V31: margin balance 25,923.05553202 − 17,444.086776 = 8,478.96875602; ratio 8,501.442188 / that = 100.27 %.
    balance = D("25923.05553202") + D("-17444.086776")
    assert abs(balance - D("8478.968756")) <= D("1e-6")
    ratio = margin_ratio_mm_over_equity(D("8501.442188"), balance)
    assert ratio is not None and ratio >= 1
    assert abs(ratio * 100 - D("100.27")) <= D("0.005")
    # Through the calculator: one cross position with UPNL −17,444.086776 and MM 8,501.442188 (1 unit, mark
    # 850,144.2188 at a flat 1 % → MM 8,501.442188; entry = mark + 17,444.086776 = 867,588.305576).
    (res,) = calc_both(
        {
            "venue": "binance-usdm",
            "wallet_balance": "25923.05553202",
            "instruments": {"X": {"mmr": "0.01", "maintenance_amount": "0", "max_leverage": "20"}},
            "positions": [
                {
                    "symbol": "X",
                    "side": "long",
                    "size": "1",
                    "entry_price": "867588.305576",
                    "mark_price": "850144.2188",
                    "leverage": "10",
                }
            ],
        }
    )
    account = res["account"]
    assert D(account["equity"]) == D("8478.96875602")
    assert D(account["maintenance_margin"]) == D("8501.442188")
    assert abs(D(account["margin_ratio"]) * 100 - D("100.27")) <= D("0.005")


def test_seed_example():
    # Seed: $1,000 at 10x = $10,000 long (1 BTC @ 10,000), MMR 2 %: MM = 200; liquidation when equity
    # 1,000 + (P − 10,000) = 0.02 × P → P = 9,000 / 0.98 = 9,183.67 (MM re-valued at the mark). Bankruptcy 9,000.
    scenario = {
        "venue": "generic",
        "instruments": {"BTCUSDT": {"mmr": "0.02"}},
        "positions": [
            {
                "symbol": "BTCUSDT",
                "side": "long",
                "size": "1",
                "entry_price": "10000",
                "leverage": "10",
                "margin_mode": "isolated",
                "target_liquidation_price": "8000",
            }
        ],
    }
    (res,) = calc_both(scenario)
    p = res["positions"][0]
    assert D(p["maintenance_margin"]) == 200 and D(p["initial_margin"]) == 1000
    assert abs(D(p["liquidation_price_unrounded"]) - D(9000) / D("0.98")) < D("1e-20")
    assert D(p["liquidation_price"]) == D("9183.68")  # a long's price rounds up (venue's favour)
    assert D(p["bankruptcy_price"]) == 9000
    # Target 8,000: equity 1,000 + m + (8,000 − 10,000) = 0.02 × 8,000 → m = 1,160.
    assert D(p["margin_to_add"]) == 1160
