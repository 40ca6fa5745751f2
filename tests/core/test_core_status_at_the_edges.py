"""The core's status where one unit or one rule decides, computed by hand: equity exactly equal to MM, a margin
ratio a hair above a band threshold through the fraction of MM below the money unit, a size exactly at an OKX
tier floor (caps inclusive), and the refusals of what the core cannot hold."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import numpy as np
import pytest

from margincall.core.loader import load, reference_values
from margincall.core.ranges import CoreRangeError
from margincall.core.tick import statuses, tick
from margincall.ledger import Ledger

ONE_TIER = {"venue": "generic", "symbol": "ONE", "kind": "linear", "contract_size": "1", "tick_size": "0.00001",
            "lot_size": "0.001", "settle_asset": "USDT",
            "tiers": [{"floor": "0", "cap": None, "mmr": "0.01", "max_leverage": "50"}]}


def _snapshot(markets: dict[str, Any], positions: list[list[str]], balances: list[list[str]],
              marks: dict[str, str]) -> dict[str, Any]:
    return {"unit": "1e-8", "markets": markets, "marks": marks, "accounts": {"a": False}, "balances": balances,
            "positions": positions, "leverage": [], "modes": [], "reserved": [], "liquidating": [], "deposits": {},
            "withdrawals": {}, "events_applied": 0, "last_ts": 0}


def _isolated(margin: str, mark: str) -> Ledger:
    """0.001 ONE long, isolated, entered at ``mark`` (uPnL 0), with ``margin``."""
    return Ledger.from_snapshot(_snapshot({"ONE": ONE_TIER}, [["a", "ONE", "both", "0.001", mark, "isolated", "10"]],
                                          [["isolated:a:ONE:both", "USDT", margin]], {"ONE": mark}))


def test_equity_equal_to_mm_is_liquidatable() -> None:
    # notional 0.001 × 8,000,000 = 8,000; MM = 8,000 × 1 % = 80; equity = margin 80 + uPnL 0 = MM → liquidation
    core = load(_isolated("80", "8000000"))
    s = statuses(core, np.array([0], np.int64))
    assert (s.equity[0], s.mm_whole[0], s.mm_frac[0]) == (80 * 10**8, 80 * 10**8, 0)
    assert s.liquidatable[0] and s.band[0] == 3
    # one unit more equity: MM / equity = 80 / 80.00000001 ≥ 90 % → reduce-only, not liquidatable
    s = statuses(load(_isolated("80.00000001", "8000000")), np.array([0], np.int64))
    assert not s.liquidatable[0] and s.band[0] == 2


def test_a_fraction_of_mm_below_the_unit_decides_the_warning_band() -> None:
    # notional 0.001 × 8,000,000.0009 = 8,000.0000009; MM = 80.000000009 (9/10 of a unit below 1e-8 is kept);
    # equity 100.00000001: 0.8 × equity = 80.000000008 ≤ MM → warning; rounded to units MM would be 80.00000000
    # (down) or 80.00000001 (up) and decide either way by rounding, not by the rule.
    core = load(_isolated("100.00000001", "8000000.0009"))
    s = statuses(core, np.array([0], np.int64))
    assert (s.mm_whole[0], s.mm_frac[0]) == (8_000_000_000, 90_000_000)
    assert s.mm_decimal(0) == D("80.000000009") and s.mm_ceil()[0] == 8_000_000_001
    assert s.band[0] == 1
    # at 8,000,000.0007 MM = 80.000000007 < 80.000000008 → healthy
    assert statuses(load(_isolated("100.00000001", "8000000.0007")), np.array([0], np.int64)).band[0] == 0


def test_okx_size_exactly_at_a_tier_floor_takes_the_lower_tier() -> None:
    # OKX ETH-USDT-SWAP tiers on contracts, (floor, cap]: 3,000 contracts is tier 1 (0.4 %), 3,001 tier 2 (0.5 %).
    # 3,000 contracts × 0.1 ETH × 2,000 = 600,000 USDT → MM 2,400; 3,001 → 600,200 × 0.5 % = 3,001.
    def mm(contracts: str) -> int:
        led = Ledger.from_snapshot(_snapshot({"ETH-USDT-SWAP": {"venue": "okx", "symbol": "ETH-USDT-SWAP"}},
                                             [["a", "ETH-USDT-SWAP", "both", contracts, "2000", "cross", "10"]],
                                             [["wallet:a", "USDT", "100000"]], {"ETH-USDT-SWAP": "2000"}))
        return int(statuses(load(led), np.array([0], np.int64)).mm_whole[0])

    assert mm("3000") == 2400 * 10**8
    assert mm("3001") == 3001 * 10**8


def test_a_tick_outside_the_range_is_refused_and_leaves_no_trace() -> None:
    core = load(_isolated("80", "8000000"))
    before = core.markets.mark.copy()
    with pytest.raises(CoreRangeError, match=r"marks\.ONE: 1\.000001 has more digits") as e:
        tick(core, {"ONE": D("1.000001")})
    assert e.value.field == "marks.ONE"
    # 1e12 × 0.001 = 1e9 USDT notional is fine; 1e13 per 0.001 leaves the range of one price (1e18 at 1e-5)
    with pytest.raises(CoreRangeError, match="outside the core's range"):
        tick(core, {"ONE": D("100000000000000")})
    assert (core.markets.mark == before).all()


def test_a_gross_notional_beyond_the_range_is_refused_naming_the_account() -> None:
    # 1,000,000 ONE (1e9 lots) at 9,000,000 = 9e12 USDT = 9e20 units: beyond 2^61 units
    led = Ledger.from_snapshot(_snapshot({"ONE": ONE_TIER}, [["a", "ONE", "both", "1000000", "9000000", "cross", "1"]],
                                         [["wallet:a", "USDT", "1"]], {"ONE": "9000000"}))
    with pytest.raises(CoreRangeError, match="account a: gross notional"):
        statuses(load(led), np.array([0], np.int64))


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"positions": [["a", "ONE", "both", "0.001", "8000.123456", "cross", "10"]]}, "positions.a.ONE.both.entry_price",
     "8000.123456 has more digits than the core's scale 1e-5"),
    ({"markets": {"ONE": {**ONE_TIER, "tick_size": "0.000001"}}}, "tick_size", "leaves 5 within the money unit"),
    ({"markets": {"ONE": {"venue": "hyperliquid", "symbol": "ETH"}},
      "positions": [["a", "ETH", "both", "1", "3000", "cross", "10"]]}, "ETH: tiers[1].mmr",
     "more digits than the core's scale 1e-8"),
    ({"markets": {"ONE": {**ONE_TIER, "venue": "binance-coinm", "kind": "inverse", "settle_asset": "BTC"}},
      "positions": []}, "kind", "inverse contracts are not held"),
    ({"unit": "0.05"}, "unit", "not a power of ten"),
])
def test_what_the_core_cannot_hold_is_refused_naming_the_field(change: dict[str, Any], field: str,
                                                               message: str) -> None:
    snap = _snapshot({"ONE": ONE_TIER}, [["a", "ONE", "both", "0.001", "8000", "cross", "10"]],
                     [["wallet:a", "USDT", "100"]], {})
    snap.update(change)
    with pytest.raises(CoreRangeError, match=message) as e:
        load(Ledger.from_snapshot(snap))
    assert e.value.field is not None and e.value.field.endswith(field)


def test_the_loaded_state_converts_back_to_the_ledgers_numbers() -> None:
    led = Ledger.from_snapshot(_snapshot(
        {"ONE": ONE_TIER}, [["a", "ONE", "both", "-2.5", "8000.5", "isolated", "12.5"]],
        [["isolated:a:ONE:both", "USDT", "123.45678901"], ["wallet:a", "USDT", "7"], ["insurance", "USDT", "1000"]],
        {"ONE": "7999.99999"}))
    back = reference_values(load(led))
    assert back["balances"] == led.balances
    assert back["positions"] == {("a", "ONE", "both"): (D("-2.5"), D("8000.5"), True, D("12.5"))}
    assert back["marks"] == led.marks
