"""An input the chosen formula would not use is refused with a message naming the field (and, for a fee, the
formula forms that use it) — never dropped; also through the CLI (exit 2, one line)."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from margincall.calculator import calculate
from margincall.model.errors import MarginCallError


def _one(venue: str = "bybit-linear", mode: str = "isolated", **top: object) -> dict:
    return {
        "venue": venue,
        "positions": [
            {"symbol": "BTCUSDT", "side": "long", "size": "1", "entry_price": "20000", "leverage": "10",
             "margin_mode": mode}
        ],
        **top,
    }  # fmt: skip


def _refused(scenario: dict) -> str:
    with pytest.raises(MarginCallError) as err:
        calculate(scenario)
    assert err.value.code == "unused_input"
    return str(err.value)


def test_taker_fee_refused_by_a_form_without_fee_term_names_the_form_that_uses_it():
    msg = _refused(_one(formula="2024", taker_fee="0.00055"))
    assert msg.startswith("taker_fee: bybit-linear formula 2024 has no taker-fee term for linear isolated")
    assert 'bybit-linear formula 2026 (default) uses it: choose it with "formula", or leave taker_fee out' in msg


def test_taker_fee_refused_by_a_venue_without_fee_term_names_the_venues_that_have_one():
    msg = _refused(_one("binance-usdm", "cross", wallet_balance="5000", taker_fee="0.0005"))
    assert "binance-usdm formula faq has no taker-fee term for linear cross positions" in msg
    # The linear forms with a fee term for cross positions: Bybit's UTA form, OKX's and Bitunix's.
    assert "bybit-linear 2026 (default), okx 2025, bitunix 2024" in msg


def test_legacy_form_uses_the_fee_only_for_inverse_cross():
    scenario = {
        "venue": "bybit-inverse",
        "formula": "legacy",
        "taker_fee": "0.00075",
        "instruments": {"BTCUSD": {"kind": "inverse", "mmr": "0.005", "maintenance_amount": "0"}},
        "positions": [{"symbol": "BTCUSD", "side": "long", "size": "100", "entry_price": "10000", "leverage": "10",
                       "margin_mode": "isolated"}],
    }  # fmt: skip
    msg = _refused(scenario)
    assert "bybit-inverse formula legacy has no taker-fee term for inverse isolated" in msg
    assert "bybit-inverse formula 2026 (default) uses it" in msg
    scenario["positions"][0]["margin_mode"] = "cross"
    scenario["wallet_balance"] = "0.01"
    assert calculate(scenario)["positions"][0]["liquidation_price"] is not None


def test_generic_venue_has_no_fee_term():
    msg = _refused(_one("generic", taker_fee="0.0005", instruments={"BTCUSDT": {"mmr": "0.01"}}))
    assert "generic formula exact has no taker-fee term" in msg


@pytest.mark.parametrize("name", ["extra_margin", "isolated_margin"])
def test_margin_of_its_own_on_a_cross_position_is_refused(name):
    scenario = _one(mode="cross", wallet_balance="5000")
    scenario["positions"][0][name] = "100"
    msg = _refused(scenario)
    assert msg.startswith(f"positions[0].{name}: a cross position has no margin of its own")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"tier_table": "2026-08-05", "maintenance_amount": "5"}, "maintenance_amount"),
        ({"tiers": [{"floor": "0", "mmr": "0.01", "max_leverage": "50"}], "max_leverage": "20"}, "max_leverage"),
        ({"mmr": "0.01", "tier_mode": "whole_position"}, "tier_mode"),
        ({"tier_table": "2026-08-05", "cap_inclusive": False}, "cap_inclusive"),
    ],
)
def test_instrument_fields_the_tier_source_ignores_are_refused(spec, field):
    msg = _refused(_one(instruments={"BTCUSDT": spec}))
    assert msg.startswith(f"instruments.BTCUSDT.{field}:")


def test_an_instrument_no_position_uses_is_refused():
    msg = _refused(_one(instruments={"ETHUSDT": {"mmr": "0.01"}}))
    assert msg == "instruments.ETHUSDT: no position has this symbol (positions: BTCUSDT)"


def test_the_cli_exits_2_with_the_message():
    proc = run_cli("calc", "--json", "-", stdin=json.dumps(_one(formula="2024", taker_fee="0.00055")))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: taker_fee: bybit-linear formula 2024 has no taker-fee term")
    flags = run_cli("calc", "--venue", "binance-usdm", "--size", "1", "--entry", "20000", "--taker-fee", "0.0005")
    assert flags.returncode == 2 and "binance-usdm formula faq has no taker-fee term" in flags.stderr
