"""A backtest's --instruments takes the calculator's instrument schema, a ccxt/venue tier payload included, and
lists the table the venue publishes: maintenance margins checked by hand against Binance's brackets
(MM = notional × maintMarginRatio − cum), and a replay on the real XRP data liquidating where that rule says."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from margincall.backtest import run_backtest
from margincall.backtest.instruments import market_listing
from margincall.backtest.io import BacktestInputError, read_candles, read_instruments
from margincall.math.margin import maintenance_margin
from margincall.model.enums import ContractKind
from margincall.venues.market import market_from_listing
from support.paths import FIXTURES

MARK8H = FIXTURES / "backtest" / "XRP_USDT_USDT-8h-mark.feather"
BRACKETS = json.loads((FIXTURES / "binance_usdm_leverage_bracket.json").read_text())
CCXT = json.loads((FIXTURES / "ccxt_binance_leverage_tiers.json").read_text())


def mm(fields: dict[str, Any], symbol: str, qty: str, price: str, venue: str = "binance-usdm") -> D:
    spec = market_from_listing(market_listing(venue, symbol, fields))
    return maintenance_margin(spec.tiers, ContractKind.LINEAR, D(qty), D(price))


@pytest.mark.parametrize("fields", [
    {"binance_brackets": BRACKETS},  # GET /fapi/v1/leverageBracket, list form: BTCUSDT's entry is selected
    {"ccxt_tiers": CCXT["BTC/USDT:USDT"]},  # ccxt fetch_leverage_tiers()["BTC/USDT:USDT"]: cum read from info
], ids=["binance_brackets", "ccxt_tiers"])
def test_btcusdt_brackets_from_a_venue_payload_give_binance_maintenance(fields: dict[str, Any]) -> None:
    # the fixture's BTCUSDT brackets (snapshot 2024-10-24): 1: [0, 50,000) 0.4 % cum 0; 2: [50,000, 600,000)
    # 0.5 % cum 50; 3: [600,000, 3,000,000) 0.65 % cum 950 (= 50 + 600,000 × (0.65 % − 0.5 %)).
    # 0.5 BTC @ 60,000 = 30,000: 30,000 × 0.004 − 0 = 120
    assert mm(fields, "BTCUSDT", "0.5", "60000") == D("120")
    # 2 BTC @ 50,000 = 100,000: 100,000 × 0.005 − 50 = 450
    assert mm(fields, "BTCUSDT", "2", "50000") == D("450")
    # 20 BTC @ 50,000 = 1,000,000: 1,000,000 × 0.0065 − 950 = 5,550
    assert mm(fields, "BTCUSDT", "20", "50000") == D("5550")


def test_one_tier_mmr_and_maintenance_amount() -> None:
    # notional 2 × 50,000 = 100,000: 100,000 × 0.01 − 150 = 850
    assert mm({"mmr": "0.01", "maintenance_amount": "150", "max_leverage": "20", "tick_size": "0.1"},
              "NEWUSDT", "2", "50000") == D("850")


XRP_BRACKETS = [{"symbol": "XRPUSDT", "brackets": [  # xrpusdt_instruments.json's ladder in Binance's own shape
    {"bracket": 1, "initialLeverage": 50, "notionalCap": 10000, "notionalFloor": 0, "maintMarginRatio": 0.01,
     "cum": 0.0},
    {"bracket": 2, "initialLeverage": 20, "notionalCap": 100000, "notionalFloor": 10000, "maintMarginRatio": 0.025,
     "cum": 150.0}]}]


@pytest.mark.parametrize("instrument", [
    {"binance_brackets": XRP_BRACKETS, "tick_size": "0.0001", "lot_size": "0.1"},
    {"mmr": "0.01", "max_leverage": "50", "tick_size": "0.0001", "lot_size": "0.1"},
], ids=["binance_brackets", "mmr"])
def test_replay_on_real_data_with_calculator_instruments(tmp_path: Path, instrument: dict[str, Any]) -> None:
    # 1000 XRP long, 10x isolated, at the 18 Nov 2021 00:00 open 1.0959: notional 1,095.9 in bracket 1 (1 %, cum 0),
    # margin 109.59; liquidation when margin + Q(P − E) = 0.01·Q·P ⇔ P = (1095.9 − 109.59) / 990 = 0.99627272…;
    # the first 8h mark low at or below it is 26 Nov 08:00 (0.8836; 26 Nov 00:00's low is 1.0000).
    path = tmp_path / "instruments.json"
    path.write_text(json.dumps({"instruments": {"XRPUSDT": instrument}}))
    c = read_candles(MARK8H)
    trade = {"id": "L", "symbol": "XRPUSDT", "side": "long", "open_time": "2021-11-18T00:00:00Z", "size": "1000",
             "leverage": "10", "margin_mode": "isolated"}
    r = run_backtest(pd.DataFrame([trade]), {"XRPUSDT": c}, marks={"XRPUSDT": c},
                     instruments=read_instruments(path)).trades.iloc[0]
    assert r["liquidated"] and r["liquidation_time"] == "2021-11-26T08:00:00.000Z"
    assert abs(D(r["liquidation_price"]) - D("986.31") / 990) <= D("1e-9")


@pytest.mark.parametrize(("fields", "field"), [
    ({"colour": "red", "mmr": "0.01"}, "instruments.XRPUSDT.colour"),
    ({"binance_brackets": XRP_BRACKETS, "max_leverage": "20"}, "instruments.XRPUSDT.max_leverage"),
    ({"mmr": "0.01", "tiers": [{"floor": 0, "mmr": "0.01", "max_leverage": 50}]}, "instruments.XRPUSDT"),
    ({"tiers": [{"floor": 0, "mmr": "0.01", "max_leverage": 50, "imr": "0.02"}]}, "instruments.XRPUSDT.tiers[0].imr"),
    ({"mmr": "abc"}, "instruments.XRPUSDT.mmr"),
])
def test_bad_instrument_fields_are_refused_by_name(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(BacktestInputError) as e:
        market_listing("binance-usdm", "XRPUSDT", fields)
    assert e.value.field == field


def test_okx_whole_position_tiers_refused_on_a_bracket_venue() -> None:
    okx = json.loads((FIXTURES / "okx_position_tiers_eth_usdt.json").read_text())
    with pytest.raises(BacktestInputError) as e:
        market_listing("binance-usdm", "ETH-USDT-SWAP", {"okx_position_tiers": okx})
    assert e.value.field == "instruments.ETH-USDT-SWAP.tier_mode"
    # on OKX itself the table is listed: tier 1 is 0–3,000 contracts at 0.4 % (docs/venues.md §5)
    listing = market_listing("okx", "ETH-USDT-SWAP", {"okx_position_tiers": okx, "contract_size": "0.1"})
    assert listing["tiers"][0]["cap"] == "3000" and D(listing["tiers"][0]["mmr"]) == D("0.004")


def test_a_whole_scenario_is_not_read_as_instruments(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"venue": "okx", "instruments": {"XRPUSDT": {"mmr": "0.01"}}}))
    with pytest.raises(BacktestInputError) as e:
        read_instruments(path)
    assert e.value.field == "venue"
