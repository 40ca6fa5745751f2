"""``POST /v1/calculator`` evaluates scenarios up to declared sizes (settings ``calculator``: positions,
instruments, tier rows per instrument), refusing a larger one with 413 naming the field and the limit before
any work; and its cost grows linearly with the number of cross positions (counted, not timed: each holding's
maintenance margin at the mark is computed once, where the cross solver used to recompute every other
holding's for each symbol, n² times)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import margincall.calculator
import margincall.math.position
from margincall.api import create_app
from margincall.calculator import calculate
from margincall.calculator.scenario import ScenarioTooLarge, check_size
from margincall.config import CalculatorLimits, Settings
from margincall.venues.profiles import VENUES
from support.api import auth, ok
from support.paths import FIXTURES


def tiers(n: int) -> list[dict[str, str]]:
    """``n`` brackets of 10,000 each, MMR 0.4 % rising 0.1 % a bracket (maintenance amounts derived)."""
    return [{"floor": str(10_000 * t), "cap": str(10_000 * (t + 1)), "mmr": f"{0.004 + 0.001 * t:.3f}",
             "max_leverage": "50"} for t in range(n)]


def scenario(positions: int, instruments: int | None = None, tier_rows: int = 3, venue: str = "generic",
             ) -> dict[str, Any]:
    """One cross position per symbol, 0.1 at 1,000 (notional 100, in the first bracket) at 10x."""
    n = positions if instruments is None else instruments
    return {"venue": venue, "wallet_balance": "100000",
            "instruments": {f"S{i}USDT": {"tiers": tiers(tier_rows)} for i in range(n)},
            "positions": [{"symbol": f"S{i % n}USDT", "side": "long" if i % 2 else "short", "size": "0.1",
                           "entry_price": "1000", "leverage": "10"} for i in range(positions)]}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    limits = CalculatorLimits(max_positions=5, max_instruments=5, max_tiers=6)
    app = create_app(Settings.load(database=str(tmp_path / "engine.db"), calculator=limits))
    with TestClient(app) as c:
        yield c, app.state.admin_key


@pytest.mark.parametrize("body,field,limit", [
    (scenario(6), "positions", "limit of 5"),
    (scenario(4, instruments=6), "instruments", "limit of 5"),
    (scenario(2, tier_rows=7), "instruments.S0USDT", "limit of 6 tier rows"),
])
def test_a_scenario_beyond_a_limit_is_413_naming_the_field_before_any_work(api, monkeypatch, body, field, limit):
    c, key = api

    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the scenario was evaluated")

    monkeypatch.setattr(margincall.calculator, "calculate", no_work)
    r = c.post("/v1/calculator", json=body, headers=auth(key))
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "scenario_too_large" and error["field"] == field and limit in error["message"]


def test_a_scenario_at_the_limits_is_evaluated(api):
    c, key = api
    res = ok(c.post("/v1/calculator", json=scenario(5, instruments=5, tier_rows=6), headers=auth(key)))
    # notional 0.1 × 1,000 = 100, first bracket: MM = 100 × 0.4 % = 0.4 per position
    assert [p["maintenance_margin"] for p in res["positions"]] == ["0.4"] * 5
    assert D(res["account"]["maintenance_margin"]) == 2  # 5 × 0.4


def test_tier_rows_are_counted_in_every_tier_form_without_their_nested_objects():
    """A ccxt tier carries its venue's raw row in ``info`` (an object inside the tier): 12 ccxt tiers are 12
    rows, not 24; a Binance bracket payload for one symbol is the symbol's object plus one row per bracket."""
    ccxt = json.loads((FIXTURES / "ccxt_binance_leverage_tiers.json").read_text())["BTC/USDT:USDT"]
    assert len(ccxt) == 12 and all(isinstance(t["info"], dict) for t in ccxt)
    body = {"instruments": {"BTCUSDT": {"ccxt_tiers": ccxt}}, "positions": []}
    check_size(body, max_positions=1, max_instruments=1, max_tiers=12)
    with pytest.raises(ScenarioTooLarge, match=r"instruments\.BTCUSDT: more than the limit of 11 tier rows"):
        check_size(body, max_positions=1, max_instruments=1, max_tiers=11)
    one_symbol = {"symbol": "BTCUSDT", "brackets": [{"bracket": i} for i in range(1, 11)]}
    body = {"instruments": {"BTCUSDT": {"binance_brackets": [one_symbol]}}}
    check_size(body, max_positions=1, max_instruments=1, max_tiers=11)
    with pytest.raises(ScenarioTooLarge):
        check_size(body, max_positions=1, max_instruments=1, max_tiers=10)
    check_size("not a scenario", max_positions=1, max_instruments=1, max_tiers=1)  # left to validation


@pytest.mark.parametrize("venue", [v for v in VENUES if v != "bitunix"])  # Bitunix: MM at the open price
def test_maintenance_margins_are_computed_once_per_holding_not_once_per_pair(monkeypatch, venue):
    calls = 0
    mm = margincall.math.position.maintenance_margin

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return mm(*args, **kwargs)

    monkeypatch.setattr(margincall.math.position, "maintenance_margin", counted)
    counts = []
    for n in (10, 40):
        calls = 0
        calculate(scenario(n, venue=venue))
        counts.append(calls)
    # at most one computation per holding (and fee rate) at the mark: 4x the positions, at most 4x the calls
    # (n² would be 16x: 100 → 1,600)
    assert counts[0] >= 10 and counts[1] <= 4 * counts[0] and counts[1] <= 2 * 40


def test_collateral_assets_are_counted_against_the_positions_limit():
    assets = [{"asset": f"A{i}", "amount": "1", "price": "1", "weight": "1"} for i in range(3)]
    body = {"venue": "bitunix", "collateral": {"assets": assets}}
    check_size(body, max_positions=3, max_instruments=1, max_tiers=1)
    with pytest.raises(ScenarioTooLarge, match=r"collateral\.assets: 3 assets, more than the limit of 2") as e:
        check_size(body, max_positions=2, max_instruments=1, max_tiers=1)
    assert e.value.field == "collateral.assets"


def test_the_service_answers_question_sections_and_refuses_too_many_assets(api):
    c, key = api
    # V30 through the service: 0.1 × 10,000 × 0.9 + 1,000 × 1 × 1 = 1,900.
    assets = [{"asset": "BTC", "amount": "0.1", "price": "10000", "weight": "0.9"},
              {"asset": "USDT", "amount": "1000", "price": "1", "weight": "1"}]  # fmt: skip
    res = ok(c.post("/v1/calculator", json={"venue": "bitunix", "collateral": {"assets": assets}}, headers=auth(key)))
    assert D(res["collateral"]["total"]) == 1900 and "positions" not in res
    many = [{**assets[1], "asset": f"A{i}"} for i in range(6)]
    r = c.post("/v1/calculator", json={"venue": "bitunix", "collateral": {"assets": many}}, headers=auth(key))
    assert r.status_code == 413 and r.json()["error"]["field"] == "collateral.assets"
    r = c.post("/v1/calculator", json={"venue": "okx", "collateral": {"assets": assets}}, headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_venue_rule", r.text
