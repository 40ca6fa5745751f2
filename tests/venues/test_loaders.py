"""Tier-table loaders for ccxt, Binance, Bybit and OKX payloads (margincall.venues.loaders).

Fixtures in tests/fixtures/ hold the payload shapes filled with the published tier numbers of
docs/venues.md (see tests/fixtures/README.md); the expected values below are typed from
docs/venues.md, not computed by the code under test.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.calculator import calculate
from margincall.math.margin import maintenance_margin
from margincall.model import (
    ContractKind,
    InvalidNumber,
    MarginCallError,
    TierBasis,
    TierMode,
    TierTableError,
    UnknownSymbol,
)
from margincall.venues.loaders import (
    load_binance_brackets,
    load_bybit_risk_limits,
    load_ccxt_leverage_tiers,
    load_ccxt_market_tiers,
    load_okx_position_tiers,
    select_table,
)
from support.cli import calc_both, run_cli
from support.paths import FIXTURES

D = Decimal


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def rows(table) -> list[tuple[Decimal, Decimal | None, Decimal, Decimal, Decimal]]:
    return [(t.floor, t.cap, t.mmr, t.max_leverage, t.maintenance_amount) for t in table.tiers]


# docs/venues.md §3.1, BTCUSDT perpetual snapshot 2024-10-24: (floor, cap, MMR, max lev, cum)
BINANCE_BTCUSDT_2024 = [
    (D(0), D(50000), D("0.004"), D(125), D(0)),
    (D(50000), D(600000), D("0.005"), D(100), D(50)),
    (D(600000), D(3000000), D("0.0065"), D(75), D(950)),
    (D(3000000), D(12000000), D("0.01"), D(50), D(11450)),
    (D(12000000), D(70000000), D("0.02"), D(25), D(131450)),
    (D(70000000), D(100000000), D("0.025"), D(20), D(481450)),
    (D(100000000), D(230000000), D("0.05"), D(10), D(2981450)),
    (D(230000000), D(480000000), D("0.10"), D(5), D(14481450)),
    (D(480000000), D(600000000), D("0.125"), D(4), D(26481450)),
    (D(600000000), D(800000000), D("0.15"), D(3), D(41481450)),
    (D(800000000), D(1200000000), D("0.25"), D(2), D(121481450)),
    (D(1200000000), D(1800000000), D("0.50"), D(1), D(421481450)),
]

# docs/venues.md §4.1, Bybit BTCUSDT tiers 1–20: (risk limit = cap, max lev, IMR, MMR, MM deduction)
BYBIT_BTCUSDT = [
    ("2000000", "100", "0.01", "0.005", "0"),
    ("2600000", "90", "0.0111", "0.0056", "1200"),
    ("3200000", "80", "0.0125", "0.0063", "3020"),
    ("3800000", "75", "0.0133", "0.0067", "4300"),
    ("4400000", "70", "0.0143", "0.0071", "5820"),
    ("5000000", "65", "0.0154", "0.0077", "8460"),
    ("5600000", "55", "0.0182", "0.0091", "15460"),
    ("8500000", "50", "0.02", "0.01", "20500"),
    ("10000000", "45", "0.0222", "0.013", "46000"),
    ("14000000", "40", "0.025", "0.015", "66000"),
    ("20000000", "35", "0.0286", "0.016", "80000"),
    ("28000000", "30", "0.0333", "0.02", "160000"),
    ("38000000", "25", "0.04", "0.025", "300000"),
    ("50000000", "20", "0.05", "0.029", "452000"),
    ("55000000", "19", "0.0526", "0.03", "502000"),
    ("60000000", "18", "0.0556", "0.035", "777000"),
    ("65000000", "17", "0.0588", "0.036", "837000"),
    ("70000000", "16", "0.0625", "0.038", "967000"),
    ("75000000", "15", "0.0667", "0.04", "1107000"),
    ("80000000", "14", "0.0714", "0.045", "1482000"),
]


# ------------------------------------------------------------------------------------------- Binance
def test_binance_usdm_list_form_matches_published_brackets():
    tables = load_binance_brackets(fixture("binance_usdm_leverage_bracket.json"))
    assert set(tables) == {"BTCUSDT", "ETHUSDT"}
    btc = tables["BTCUSDT"]
    assert rows(btc) == BINANCE_BTCUSDT_2024
    assert (btc.mode, btc.basis, btc.cap_inclusive) == (TierMode.BRACKET, TierBasis.NOTIONAL, False)
    eth = tables["ETHUSDT"]
    # ETHUSDT: brackets 1–4 as BTCUSDT; then 5: 12 M–50 M 2 % 131,450; 7: 65 M–150 M 5 % 2,006,450;
    # 12: 800 M–1.2 B 50 % 280,506,450.
    assert rows(eth)[:4] == BINANCE_BTCUSDT_2024[:4]
    assert rows(eth)[4] == (D(12000000), D(50000000), D("0.02"), D(25), D(131450))
    assert rows(eth)[6] == (D(65000000), D(150000000), D("0.05"), D(10), D(2006450))
    assert rows(eth)[11] == (D(800000000), D(1200000000), D("0.5"), D(1), D(280506450))


def test_binance_single_object_form_and_maintenance_margin():
    payload = fixture("binance_usdm_leverage_bracket.json")[0]
    (table,) = load_binance_brackets(payload).values()
    assert rows(table) == BINANCE_BTCUSDT_2024
    # 100 BTC at 60,000 = 6,000,000 USDT → bracket 4 (3 M–12 M): 6,000,000 × 1 % − 11,450 = 48,550.
    assert maintenance_margin(table, ContractKind.LINEAR, D(100), D(60000)) == D(48550)
    # Exactly at a floor the upper bracket applies ([floor, cap)): 50,000 × 0.5 % − 50 = 200 = 50,000 × 0.4 %.
    assert table.tier_for(D(50000)).mmr == D("0.005")


def test_binance_json_text_reads_numbers_exactly():
    text = (FIXTURES / "binance_usdm_leverage_bracket.json").read_text()
    table = load_binance_brackets(text)["BTCUSDT"]
    assert table.tiers[2].mmr == D("0.0065")
    assert str(table.tiers[2].mmr) == "0.0065"


def test_binance_coinm_brackets_by_coin_quantity():
    table = load_binance_brackets(fixture("binance_coinm_leverage_bracket.json"))["BTCUSD_PERP"]
    assert table.basis is TierBasis.NOTIONAL  # coin value of the position
    # V6 (c): level 5 amount = 50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC.
    assert table.tiers[3].mmr == D("0.025") and table.tiers[3].maintenance_amount == D("0.56")
    assert (table.tiers[4].floor, table.tiers[4].mmr, table.tiers[4].maintenance_amount) == (
        D(50),
        D("0.05"),
        D("1.81"),
    )
    # V6 (c): a 300 BTC position → MMR 12.5 %, maintenance amount 11.81 BTC.
    tier = table.tier_for(D(300))
    assert (tier.mmr, tier.maintenance_amount) == (D("0.125"), D("11.81"))
    # 3,000,000 USD of BTCUSD contracts at 10,000 = 300 BTC: MM = 300 × 12.5 % − 11.81 = 25.69 BTC.
    assert maintenance_margin(table, ContractKind.INVERSE, D(3000000), D(10000)) == D("25.69")


def test_binance_coinm_documented_qtylfloor_spelling_and_pair_key():
    payload = copy.deepcopy(fixture("binance_coinm_leverage_bracket.json"))
    for b in payload["brackets"]:
        b["qtylFloor"] = b.pop("qtyFloor")
    payload["pair"] = payload.pop("symbol").removesuffix("_PERP")
    table = load_binance_brackets(payload)["BTCUSD"]
    assert table.tiers[6].maintenance_amount == D("11.81")


# --------------------------------------------------------------------------------------------- Bybit
@pytest.mark.parametrize("unwrap", ["response", "result", "list"])
def test_bybit_risk_limit_matches_published_tiers(unwrap):
    payload = fixture("bybit_risk_limit_btcusdt.json")
    if unwrap in ("result", "list"):
        payload = payload["result"]
    if unwrap == "list":
        payload = payload["list"]
    table = load_bybit_risk_limits(payload)["BTCUSDT"]
    assert len(table.tiers) == 20 and table.cap_inclusive
    floor = D(0)
    for tier, (cap, lev, imr, mmr, mmd) in zip(table.tiers, BYBIT_BTCUSDT, strict=True):
        assert (tier.floor, tier.cap, tier.max_leverage, tier.imr, tier.mmr, tier.maintenance_amount) == (
            floor,
            D(cap),
            D(lev),
            D(imr),
            D(mmr),
            D(mmd),
        )
        floor = D(cap)


def test_bybit_tier_lookup_v18():
    table = load_bybit_risk_limits(fixture("bybit_risk_limit_btcusdt.json"))["BTCUSDT"]
    # V18: 2,000,000 → MMR 0.5 %, MMD 0 (inclusive cap); 2,600,000 → 0.56 %, MMD 1,200; MM 13,360.
    assert (table.tier_for(D(2000000)).mmr, table.tier_for(D(2000000)).maintenance_amount) == (D("0.005"), 0)
    assert table.tier_for(D("2000000.01")).mmr == D("0.0056")
    assert maintenance_margin(table, ContractKind.LINEAR, D(26), D(100000)) == D(13360)


def test_bybit_rows_out_of_order_and_several_symbols():
    payload = fixture("bybit_risk_limit_btcusdt.json")["result"]["list"]
    other = [dict(r, symbol="ETHUSDT") for r in payload[:3]]
    shuffled = list(reversed(payload)) + other
    tables = load_bybit_risk_limits(shuffled)
    assert set(tables) == {"BTCUSDT", "ETHUSDT"}
    assert tables["BTCUSDT"].tiers[1].maintenance_amount == D(1200)
    assert len(tables["ETHUSDT"].tiers) == 3


def test_bybit_rates_in_percent_are_refused():
    payload = copy.deepcopy(fixture("bybit_risk_limit_btcusdt.json"))
    row = payload["result"]["list"][0]
    row["maintenanceMargin"], row["initialMargin"] = "0.5", "1"  # the docs' testnet example style
    with pytest.raises(TierTableError, match=r"bybit BTCUSDT tier 1: initialMargin: .*percent"):
        load_bybit_risk_limits(payload)


# ----------------------------------------------------------------------------------------------- OKX
def test_okx_position_tiers_whole_position_by_contracts():
    tables = load_okx_position_tiers(fixture("okx_position_tiers_eth_usdt.json"))
    table = tables["ETH-USDT"]
    assert (table.mode, table.basis, table.cap_inclusive) == (TierMode.WHOLE_POSITION, TierBasis.CONTRACTS, True)
    assert len(table.tiers) == 10
    # docs/venues.md §5: tier 1: 0–3,000 contracts, MMR 0.40 %, IMR 0.80 %, 125x; tier 2: 3,001–6,000, 0.50 %,
    # 1.00 %, 100x; tier 3: 6,001–12,000, 1.00 %, 1.50 %, 66.66x; tier n ≥ 4: +12,000 and +0.5 % each.
    t = table.tiers
    assert (t[0].floor, t[0].cap, t[0].mmr, t[0].imr, t[0].max_leverage) == (0, 3000, D("0.004"), D("0.008"), 125)
    assert (t[1].floor, t[1].cap, t[1].mmr, t[1].imr, t[1].max_leverage) == (3000, 6000, D("0.005"), D("0.01"), 100)
    assert (t[2].cap, t[2].mmr, t[2].max_leverage) == (12000, D("0.01"), D("66.66"))
    assert (t[3].floor, t[3].cap, t[3].mmr, t[3].imr) == (12000, 24000, D("0.015"), D("0.02"))
    assert (t[9].floor, t[9].cap, t[9].mmr, t[9].imr) == (84000, 96000, D("0.045"), D("0.05"))
    assert all(x.maintenance_amount == 0 for x in t)
    assert table.tier_for(D(3000)).mmr == D("0.004") and table.tier_for(D(3001)).mmr == D("0.005")
    # Whole position at its tier's rate: 5,000 contracts × 0.1 ETH × 2,000 = 1,000,000 → × 0.5 % = 5,000.
    assert maintenance_margin(table, ContractKind.LINEAR, D(500), D(2000), D("0.1")) == D(5000)
    assert select_table(tables, "ETH-USDT-SWAP", "okx") is table


# ---------------------------------------------------------------------------------------------- ccxt
def test_ccxt_leverage_tiers_dict_takes_cum_from_info():
    tables = load_ccxt_leverage_tiers(fixture("ccxt_binance_leverage_tiers.json"))
    assert set(tables) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert rows(tables["BTC/USDT:USDT"]) == BINANCE_BTCUSDT_2024
    assert tables["ETH/USDT:USDT"].tiers[5].maintenance_amount == D(381450)


def test_ccxt_without_info_derives_the_same_amounts():
    tiers = fixture("ccxt_binance_leverage_tiers.json")["BTC/USDT:USDT"]
    bare = [{k: v for k, v in t.items() if k != "info"} for t in tiers]
    assert rows(load_ccxt_market_tiers(bare)) == BINANCE_BTCUSDT_2024


def test_ccxt_inconsistent_info_cum_is_refused():
    tiers = copy.deepcopy(fixture("ccxt_binance_leverage_tiers.json")["BTC/USDT:USDT"])
    tiers[3]["info"]["cum"] = 11451.0  # published 11,450 = 3,000,000 × 0.35 % + 950
    with pytest.raises(TierTableError, match=r"ccxt BTC/USDT:USDT: tier 4: maintenance amount 11451.0 should be 11450"):
        load_ccxt_market_tiers(tiers)


def test_ccxt_okx_market_tiers_in_contracts_equal_the_raw_okx_table():
    via_ccxt = load_ccxt_market_tiers(
        fixture("ccxt_okx_eth_usdt_market_tiers.json"),
        mode=TierMode.WHOLE_POSITION,
        basis=TierBasis.CONTRACTS,
        cap_inclusive=True,
    )
    raw = load_okx_position_tiers(fixture("okx_position_tiers_eth_usdt.json"))["ETH-USDT"]
    assert via_ccxt.tiers == raw.tiers
    assert via_ccxt.source == "ccxt ETH/USDT:USDT"


def test_ccxt_open_ended_last_tier():
    tiers = [
        {"tier": 1, "minNotional": 0, "maxNotional": 1e4, "maintenanceMarginRate": 0.005, "maxLeverage": 100},
        {"tier": 2, "minNotional": 1e4, "maxNotional": float("inf"), "maintenanceMarginRate": 0.01, "maxLeverage": 50},
    ]
    table = load_ccxt_market_tiers(tiers)
    assert table.tiers[1].cap is None
    assert table.tiers[1].maintenance_amount == D(50)  # 10,000 × (1 % − 0.5 %)


# ------------------------------------------------------------------------------------------ bad input
def _binance_btc() -> dict[str, Any]:
    return copy.deepcopy(fixture("binance_usdm_leverage_bracket.json")[0])


def _mutate(path: tuple[int, str], value: Any) -> dict[str, Any]:
    payload = _binance_btc()
    payload["brackets"][path[0]][path[1]] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "error", "pattern"),
    [
        (_mutate((2, "maintMarginRatio"), "NaN"), InvalidNumber, r"binance BTCUSDT tier 3: maintMarginRatio"),
        (_mutate((2, "maintMarginRatio"), "abc"), InvalidNumber, r"binance BTCUSDT tier 3: maintMarginRatio"),
        (_mutate((2, "maintMarginRatio"), True), TierTableError, r"tier 3: maintMarginRatio: expected a number"),
        (_mutate((2, "maintMarginRatio"), None), TierTableError, r"tier 3: maintMarginRatio: missing"),
        (_mutate((1, "notionalCap"), -5), InvalidNumber, r"tier 2: notionalCap: must be greater than zero"),
        (_mutate((1, "notionalCap"), 1e30), InvalidNumber, r"tier 2: notionalCap: .*larger than"),
        (_mutate((1, "notionalCap"), None), TierTableError, r"tier 2: notionalCap: only the last tier"),
        (_mutate((2, "notionalFloor"), 650000), TierTableError, r"binance BTCUSDT: gap between tier 2"),
        (_mutate((2, "notionalFloor"), 550000), TierTableError, r"binance BTCUSDT: overlap between tier 2"),
        (_mutate((3, "maintMarginRatio"), 0.006), TierTableError, r"tier 4: mmr 0.006 is lower than"),
        (_mutate((2, "cum"), 951), TierTableError, r"tier 3: maintenance amount 951 should be 950"),
        (_mutate((2, "bracket"), 2), TierTableError, r"binance BTCUSDT: duplicate bracket 2"),
        (_mutate((0, "maintMarginRatio"), 1.5), TierTableError, r"tier 1: mmr 1.5 is above 100%"),
        ({"symbol": "BTCUSDT", "brackets": {}}, TierTableError, r"binance BTCUSDT: expected a list of brackets"),
        ({"symbol": "BTCUSDT", "brackets": []}, TierTableError, r"binance BTCUSDT: no brackets"),
        ({"brackets": []}, TierTableError, r'no "symbol"'),
        ([], TierTableError, r"expected an object or a non-empty list"),
        ('[{"symbol": ', MarginCallError, r"binance: malformed JSON"),
        ('{"symbol": "BTCUSDT", "brackets": [{"cum": NaN}]}', MarginCallError, r"binance: NaN is not a number"),
    ],
)
def test_bad_binance_payloads_name_the_symbol_and_field(payload, error, pattern):
    with pytest.raises(error, match=pattern):
        load_binance_brackets(payload)


def test_mixed_usdm_and_coinm_brackets_refused():
    payload = _binance_btc()
    coin_m = {"bracket": 2, "initialLeverage": 100, "qtyCap": 10, "qtyFloor": 5, "maintMarginRatio": 0.005, "cum": 0}
    payload["brackets"][1] = coin_m
    with pytest.raises(TierTableError, match=r"tier 2: mixes notionalCap"):
        load_binance_brackets(payload)


def test_duplicate_symbol_and_bad_rows_refused():
    payload = fixture("binance_usdm_leverage_bracket.json")
    with pytest.raises(TierTableError, match="BTCUSDT appears twice"):
        load_binance_brackets([payload[0], payload[0]])
    with pytest.raises(TierTableError, match="bybit risk-limit: row 1 has no symbol"):
        load_bybit_risk_limits([{"id": 1, "riskLimitValue": "100"}])
    with pytest.raises(TierTableError, match="okx position-tiers: expected a non-empty list"):
        load_okx_position_tiers({"code": "0", "data": []})
    with pytest.raises(TierTableError, match=r"okx ETH-USDT tier 2: minSz: gap"):
        bad = copy.deepcopy(fixture("okx_position_tiers_eth_usdt.json"))
        bad["data"][1]["minSz"] = "3500"
        load_okx_position_tiers(bad)
    with pytest.raises(TierTableError, match="ccxt: fetch_leverage_tiers"):
        load_ccxt_leverage_tiers([])
    with pytest.raises(UnknownSymbol, match=r"has no tiers for 'SOLUSDT' \(it has: BTCUSDT, ETHUSDT\)"):
        select_table(load_binance_brackets(payload), "SOLUSDT", "binance_brackets")


# ----------------------------------------------------------------------------------------- property
@st.composite
def bracket_tables(draw: st.DrawFn) -> list[tuple[int, int, Decimal, int]]:
    """Random valid ladders: increasing floors, non-decreasing rates in 0.1 ‱ steps."""
    n = draw(st.integers(1, 8))
    widths = draw(st.lists(st.integers(1, 10**7), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(0, 500), min_size=n, max_size=n))
    out, floor, rate = [], 0, D(0)
    for width, step in zip(widths, steps, strict=True):
        rate = min(rate + D(step + (1 if not out else 0)) / D(100000), D(1))
        out.append((floor, floor + width, rate, 100))
        floor += width
    return out


@settings(max_examples=60, deadline=None)
@given(bracket_tables())
def test_loaded_binance_tables_keep_mm_continuous(ladder):
    # Independent cum: the marginal sum MM(F_n) = Σ_k MMR_k·(min(F_n, C_k) − F_k)⁺ (docs/venues.md §2.1),
    # so cum_n = F_n·MMR_n − MM(F_n).
    def marginal_mm(amount: Decimal) -> Decimal:
        return sum((r * max(min(amount, D(c)) - D(f), D(0)) for f, c, r, _ in ladder), D(0))

    brackets = [
        {
            "bracket": i,
            "initialLeverage": lev,
            "notionalFloor": f,
            "notionalCap": c,
            "maintMarginRatio": str(r),
            "cum": str(D(f) * r - marginal_mm(D(f))),
        }
        for i, (f, c, r, lev) in enumerate(ladder, start=1)
    ]
    table = load_binance_brackets({"symbol": "X", "brackets": brackets})["X"]
    for f, c, _, _ in ladder:
        for amount in (D(f), (D(f) + D(c)) / 2):
            assert maintenance_margin(table, ContractKind.LINEAR, amount, D(1)) == marginal_mm(amount)


# -------------------------------------------------------------------------------------- calculator
def test_v1_through_binance_brackets_payload():
    # V1 (docs/venues.md §11): Binance's FAQ cross example, the brackets given as the raw leverageBracket JSON.
    payload = fixture("binance_usdm_leverage_bracket_2021.json")
    scenario = {
        "venue": "binance-usdm",
        "wallet_balance": "1535443.01",
        "instruments": {
            "BTCUSDT": {"binance_brackets": payload, "tick_size": "0.01"},
            "ETHUSDT": {"binance_brackets": payload, "tick_size": "0.01"},
        },
        "positions": [
            {"symbol": "BTCUSDT", "side": "long", "size": "109.488", "entry_price": "32481.98",
             "mark_price": "31967.27", "margin_mode": "cross", "leverage": "20"},
            {"symbol": "ETHUSDT", "side": "long", "size": "3683.979", "entry_price": "1456.84",
             "mark_price": "1335.18", "margin_mode": "cross", "leverage": "4"},
        ],
    }  # fmt: skip
    (res,) = calc_both(scenario)
    btc, eth = res["positions"]
    assert btc["liquidation_price"] == "26316.89"
    # Published: MM(BTC) = 3,500,032.458 × 2.5 % − 16,300 = 71,200.81144; MM(ETH) = 356,512.508.
    assert D(btc["maintenance_margin"]) == D("71200.811444")  # 109.488 × 31,967.27 = 3,500,032.45776; × 2.5 % − 16,300
    assert abs(D(eth["maintenance_margin"]) - D("356512.508")) < D("0.001")


def test_v8_through_bybit_risk_limit_payload():
    # V8 (formula 2024): 1 BTC @ 20,000, 50x isolated, MMR 0.5 %: IM 400, MM 100, LP 19,700.
    scenario = {
        "venue": "bybit-linear",
        "formula": "2024",
        "instruments": {"BTCUSDT": {"bybit_risk_limits": fixture("bybit_risk_limit_btcusdt.json"), "tick_size": "0.1"}},
        "positions": [
            {"symbol": "BTCUSDT", "side": "long", "size": "1", "entry_price": "20000", "leverage": "50",
             "margin_mode": "isolated"}
        ],
    }  # fmt: skip
    (res,) = calc_both(scenario)
    pos = res["positions"][0]
    assert (pos["liquidation_price"], pos["initial_margin"], pos["maintenance_margin"]) == ("19700", "400", "100")


def test_okx_and_ccxt_payloads_in_the_calculator():
    okx = {
        "venue": "okx",
        "instruments": {"ETH-USDT-SWAP": {"contract_size": "0.1", "okx_position_tiers": fixture(
            "okx_position_tiers_eth_usdt.json")}},
        "positions": [{"symbol": "ETH-USDT-SWAP", "side": "long", "size": "5000", "entry_price": "2000",
                       "leverage": "10", "margin_mode": "isolated"}],
    }  # fmt: skip
    pos = calculate(okx)["positions"][0]
    # Tier 2 (3,001–6,000 contracts, 0.5 %): MM = 1,000,000 × 0.5 % = 5,000; isolated margin 100,000:
    # 100,000 + 500·(P − 2,000) = 500·P·0.5 %  →  P = 900,000 / 497.5 = 1,809.045…  → 1,809.05 (up, long).
    assert (pos["tier"], pos["maintenance_margin"], pos["liquidation_price"]) == (2, "5000", "1809.05")
    assert D(pos["liquidation_price_unrounded"]) == D(900000) / D("497.5")

    ccxt = {
        "venue": "binance-usdm",
        "wallet_balance": "1000000",
        "instruments": {"BTCUSDT": {"ccxt_tiers": fixture("ccxt_binance_leverage_tiers.json")["BTC/USDT:USDT"]}},
        "positions": [{"symbol": "BTCUSDT", "side": "long", "size": "100", "entry_price": "60000", "leverage": "10"}],
    }
    # 6,000,000 USDT in bracket 4: 6,000,000 × 1 % − 11,450 = 48,550.
    assert calculate(ccxt)["positions"][0]["maintenance_margin"] == "48550"


def test_calculator_refuses_two_tier_sources_and_foreign_symbols():
    payload = fixture("binance_usdm_leverage_bracket.json")
    base = {"venue": "binance-usdm", "positions": [
        {"symbol": "SOLUSDT", "side": "long", "size": "1", "entry_price": "100", "leverage": "5"}]}  # fmt: skip
    two = dict(base, instruments={"SOLUSDT": {"mmr": "0.01", "binance_brackets": payload}})
    proc = run_cli("calc", "--json", "-", stdin=json.dumps(two))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "instruments.SOLUSDT: give one tier source, not mmr and binance_brackets" in proc.stderr + proc.stdout
    foreign = dict(base, instruments={"SOLUSDT": {"binance_brackets": payload}})
    with pytest.raises(UnknownSymbol, match=r"instruments.SOLUSDT.binance_brackets has no tiers for 'SOLUSDT'"):
        calculate(foreign)
    broken = copy.deepcopy(payload)
    broken[0]["brackets"][2]["cum"] = 951
    bad = dict(base, instruments={"BTCUSDT": {"binance_brackets": broken}})
    bad["positions"] = [dict(base["positions"][0], symbol="BTCUSDT")]
    with pytest.raises(TierTableError, match=r"instruments.BTCUSDT.binance_brackets: binance BTCUSDT: tier 3"):
        calculate(bad)


def test_coinm_brackets_payload_in_the_calculator():
    # 30,000 BTCUSD_PERP contracts × 100 USD = 3,000,000 USD at 10,000 = 300 BTC → bracket 7 (V6 c: 12.5 %,
    # cum 11.81 BTC): MM = 300 × 12.5 % − 11.81 = 25.69 BTC. Cross, wallet 100 BTC, single long (docs/venues.md
    # §3.4): LP = Q·(1 + MMR) / (WB + cum + Q/EP) = 3,375,000 / (100 + 11.81 + 300) = 8,195.527…, still in
    # bracket 7 there (3,000,000 / 8,195.5 = 366 BTC). Bankruptcy: 3,000,000 / (100 + 300) = 7,500.
    scenario = {
        "venue": "binance-coinm",
        "wallet_balance": "100",
        "instruments": {
            "BTCUSD_PERP": {
                "contract_size": "100",
                "tick_size": "0.1",
                "binance_brackets": fixture("binance_coinm_leverage_bracket.json"),
            }
        },
        "positions": [
            {"symbol": "BTCUSD_PERP", "side": "long", "size": "30000", "entry_price": "10000", "leverage": "4",
             "margin_mode": "cross"}
        ],
    }  # fmt: skip
    (res,) = calc_both(scenario)
    pos = res["positions"][0]
    assert (pos["tier"], pos["maintenance_margin"], pos["notional"]) == (7, "25.69", "300")
    assert D(pos["liquidation_price_unrounded"]) == D(3375000) / D("411.81")
    assert pos["liquidation_price"] == "8195.5" and pos["bankruptcy_price"] == "7500"
    assert res["account"]["settle_asset"] == "BTC"
