"""The liquidation map of a book (calculator.liquidation_map): rows streamed in chunks, the fund drawn against
each move's deficit, a bad row named by its number and field."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from margincall.calculator.liquidation_map import MapBuilder, build_map, map_to_json, scenario_rows
from margincall.model.enums import ContractKind
from margincall.model.errors import MarginCallError
from margincall.model.instrument import Instrument

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "liquidation-map.json"
BTC = Instrument("BTCUSDT", contract_size=D("0.001"))
INV = Instrument("BTCUSD", kind=ContractKind.INVERSE, contract_size=D(100), settle_asset="BTC")


def row(symbol, side, size, lp, bp, mark="100"):
    return {"symbol": symbol, "side": side, "size": size, "mark_price": mark, "liquidation_price": lp,
            "bankruptcy_price": bp}


def test_chunks_sizes_and_fund():
    # 0.001-BTC contracts: 2,000 contracts = 2 BTC; the chunks are read as one book
    chunks = [[row("BTCUSDT", "long", "2000", "95", "90")],
              [row("BTCUSDT", "long", "1000", "80", "75"), row("BTCUSDT", "short", "3000", "110", "115")]]
    m = build_map(chunks, {"BTCUSDT": BTC}, fund={"USDT": D(30)}, span=D("0.3"), steps=3)
    (e,) = m.symbols
    assert m.rows == 3 and e.map.prices == (70, 80, 90, 100, 110, 120, 130)
    # longs 2 BTC LP 95 BP 90, 1 BTC LP 80 BP 75; short 3 BTC LP 110 BP 115 (hand values in
    # tests/math/test_liquidation_map.py): deficits 45, 20, 0, 0, 0, 15, 45
    assert e.map.long_count == (2, 2, 1, 0, 0, 0, 0) and e.map.short_count == (0, 0, 0, 0, 1, 1, 1)
    # a fund of 30: pays 30 of 45 (15 to ADL), all of 20 and of 15
    assert e.covered == (30, 20, 0, 0, 0, 15, 30)
    assert e.shortfall == (15, 0, 0, 0, 0, 0, 15)
    j = map_to_json(m)
    assert j["symbols"][0]["deficit"] == ["45", "20", "0", "0", "0", "15", "45"]
    assert j["symbols"][0]["shortfall"] == ["15", "0", "0", "0", "0", "0", "15"]
    assert j["moves"][0] == "-0.3" and j["symbols"][0]["long_notional"][0] == "270"  # 2 × 95 + 1 × 80


def test_inverse_rows_in_coin_and_money_step():
    # 100 contracts of $100 = $10,000 face, LP 45,000 BP 40,000 at mark 50,000; the move −50 % to 25,000:
    # deficit 10,000 × (1/25,000 − 1/40,000) = 0.15 BTC, notional at LP 10,000/45,000 = 0.2222… BTC
    m = build_map([[row("BTCUSD", "long", "100", "45000", "40000", mark="50000")]], {"BTCUSD": INV},
                  span=D("0.5"), steps=1, money_step={"BTC": D("0.00000001")})
    (e,) = m.symbols
    assert e.settle_asset == "BTC" and e.map.deficit == (D("0.15"), 0, 0)
    assert e.map.long_notional[0] == D(10000) / D(45000) and e.shortfall[0] == D("0.15")  # no fund given: 0


def test_symbol_filter_and_no_liquidation_price():
    m = build_map([[row("BTCUSDT", "long", "1", "", None), row("ETHUSDT", "long", "1", "9", "8")]],
                  {"BTCUSDT": BTC}, symbol="BTCUSDT", span=D("0.1"), steps=1)
    (e,) = m.symbols
    assert (e.symbol, e.map.positions, e.map.no_liquidation_price) == ("BTCUSDT", 1, 1)


@pytest.mark.parametrize(("bad", "field"), [
    ({"side": "up"}, "rows[1].side"),
    ({"size": "x"}, "rows[1].size"),
    ({"mark_price": "101"}, "rows[1].mark_price"),
    ({"symbol": "XYZ"}, "rows[1].symbol"),
    ({"liquidation_price": "abc"}, "rows[1].liquidation_price"),
    ({"size": "-1"}, "rows[1].size"),
])
def test_a_bad_row_is_named(bad, field):
    good = row("BTCUSDT", "long", "1", "95", "90")
    with pytest.raises(MarginCallError) as err:
        build_map([[good], [{**good, **bad}]], {"BTCUSDT": BTC})
    assert err.value.field == field


def test_map_scenario_of_several_accounts():
    # binance-usdm isolated, MMR 0.4 %, cum 0 (docs/venues.md §3.3): LP = (WB − side·Q·EP) / (Q·MMR − side·Q)
    #   long 1 @ 100, 10x, WB 10:  (10 − 100) / (0.004 − 1) = 90.3614… → 90.36; BP 100·(1 − 1/10) = 90
    #   long 3 @ 100, 20x, WB 15:  (15 − 300) / (0.012 − 3) = 95.3815… → 95.38; BP 100·(1 − 1/20) = 95
    #   short 1 @ 100, 4x, WB 25:  (25 + 100) / (0.004 + 1) = 124.5019… → 124.50; BP 100·(1 + 1/4) = 125
    rows, instruments, funds = scenario_rows(json.loads(EXAMPLE.read_text()))
    m = build_map([rows], instruments, fund=funds, span=D("0.3"), steps=3)
    btc = next(e for e in m.symbols if e.symbol == "BTCUSDT")
    assert btc.map.prices == (70, 80, 90, 100, 110, 120, 130)
    # both longs' LPs (90.36, 95.38) are ≥ 90: liquidated from −10 %; none is ≥ 100
    assert btc.map.long_count == (2, 2, 2, 0, 0, 0, 0)
    assert btc.map.long_notional[:4] == (D("376.50"),) * 3 + (0,)  # 90.36 + 3 × 95.38
    assert btc.map.short_count == (0, 0, 0, 0, 0, 0, 1) and btc.map.short_notional[-1] == D("124.50")
    # at 70: (90 − 70)·1 + (95 − 70)·3 = 95; at 80: 10 + 45 = 55; at 90: 5 × 3 = 15; at 130: (130 − 125)·1 = 5
    assert btc.map.deficit == (95, 55, 15, 0, 0, 0, 5)
    # the fund of 5 USDT pays 5 of each
    assert btc.shortfall == (90, 50, 10, 0, 0, 0, 0)


def test_map_scenario_errors_name_the_account():
    data = json.loads(EXAMPLE.read_text())
    data["accounts"][1]["positions"][0]["leverage"] = "0"
    with pytest.raises(MarginCallError, match=r"accounts\[1\]"):
        scenario_rows(data)
    with pytest.raises(MarginCallError, match="unknown field"):
        scenario_rows({**data, "fund": {}})


def test_map_scenario_refuses_question_sections():
    # A map reads positions; a section beside them (or alone) would be answered and dropped, so it is refused.
    data = json.loads(EXAMPLE.read_text())
    data["accounts"][0]["funding"] = {"premium_index": "0.01"}
    with pytest.raises(MarginCallError) as e:
        scenario_rows(data)
    assert (e.value.field, e.value.code) == ("accounts[0].funding", "unused_input")


def test_a_builder_fed_chunk_by_chunk_gives_the_same_map():
    # what a chunked pass (calc --book) does: add each chunk's rows as it comes, then take the result
    chunks = [[row("BTCUSDT", "long", "2000", "95", "90")], [row("BTCUSDT", "short", "3000", "110", "115")]]
    b = MapBuilder({"BTCUSDT": BTC}, fund={"USDT": D(30)}, span=D("0.3"), steps=3)
    for chunk in chunks:
        b.add_rows(chunk)
    assert b.result() == build_map(chunks, {"BTCUSDT": BTC}, fund={"USDT": D(30)}, span=D("0.3"), steps=3)
    with pytest.raises(MarginCallError) as err:
        b.add_rows([{**chunks[0][0], "side": "flat"}])
    assert err.value.field == "rows[2].side"  # numbered on from the earlier chunks
