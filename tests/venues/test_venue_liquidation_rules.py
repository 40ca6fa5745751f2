"""Each venue profile carries its partial-liquidation rule and its ADL ranking; a venue without a profile is an
error, never a silent fallback (docs/venues.md §1 table, §3.8, §4.8, §5, §7)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from margincall.model.errors import UnknownVenue
from margincall.risk.adl import adl_ranking
from margincall.risk.engine import EngineConfig
from margincall.risk.partial import partial_rule
from margincall.venues.adl import BinanceLeveragePnl, BitmexPnlLeverage, HyperliquidRanking
from margincall.venues.market import market_from_listing
from margincall.venues.partial import FractionStep, FullOnly, TierStepDown
from margincall.venues.profiles import VENUES, get_venue

#: docs/venues.md: Binance and Bybit step down one tier (§3.8, §4.6), OKX two tiers from tier 3 (§5), Hyperliquid
#: 20 % steps above 100,000 USDC with a 30 s cooldown (§7), dYdX closes in full (§8); Binance ranks by
#: PnL% × margin ratio, Bybit by the BitMEX PnL% × leverage form (§4.8), Hyperliquid by its own formula (§7).
EXPECTED = {
    "binance-usdm": (TierStepDown(1, min_tier=1), BinanceLeveragePnl()),
    "binance-coinm": (TierStepDown(1, min_tier=1), BinanceLeveragePnl()),
    "bybit-linear": (TierStepDown(1, min_tier=1), BitmexPnlLeverage()),
    "bybit-inverse": (TierStepDown(1, min_tier=1), BitmexPnlLeverage()),
    "okx": (TierStepDown(2, min_tier=2), BitmexPnlLeverage()),
    "hyperliquid": (FractionStep(D("0.2"), 30_000, D(100_000)), HyperliquidRanking()),
    "dydx": (FullOnly(), BitmexPnlLeverage()),
    "bitunix": (TierStepDown(1, min_tier=1), BitmexPnlLeverage()),
    "generic": (TierStepDown(1, min_tier=1), BitmexPnlLeverage()),
}


def test_every_venue_profile_carries_its_partial_rule_and_its_adl_ranking() -> None:
    assert set(VENUES) == set(EXPECTED)
    for name, (rule, ranking) in EXPECTED.items():
        profile = get_venue(name)
        assert (profile.partial_liquidation, profile.adl_ranking) == (rule, ranking), name
        # what the engine asks (risk.partial / risk.adl) is what the profile carries
        assert partial_rule(name) is profile.partial_liquidation
        assert adl_ranking(name) is profile.adl_ranking


@pytest.mark.parametrize("lookup", [partial_rule, adl_ranking, EngineConfig().partial_for, EngineConfig().ranking_for])
def test_a_venue_without_a_profile_is_an_error(lookup: object) -> None:
    with pytest.raises(UnknownVenue) as e:
        lookup("nowhere")  # type: ignore[operator]
    assert e.value.code == "unknown_venue" and e.value.field == "venue"


def test_binance_steps_a_position_down_one_tier() -> None:
    # BTCUSDT 2024 tiers: tier 1 below 50,000 USDT, tier 2 to 600,000. 2 BTC at 100,000 = 200,000 (tier 2).
    # Keep the largest 0.001 lot below 50,000 at 100,000: 0.5 BTC is 50,000 (not below), so 0.499; close 1.501.
    market = market_from_listing({"venue": "binance-usdm", "symbol": "BTCUSDT"})
    step = get_venue("binance-usdm").partial_liquidation.step(market, D(2), D(100_000), 0, None)
    assert step is not None
    assert (step.size, step.tier_before, step.tier_after) == (D("1.501"), 1, 0)
    # 0.4 BTC at 100,000 = 40,000 is in tier 1: closed in full
    first = get_venue("binance-usdm").partial_liquidation.step(market, D("0.4"), D(100_000), 0, None)
    assert first is not None and first.size is None


def test_hyperliquid_takes_a_fifth_then_waits_out_the_cooldown_then_closes_the_rest() -> None:
    # 3 BTC at 50,000 = 150,000 USDC > 100,000: 20 % first = 0.6 BTC; the rest only 30 s after that step.
    market = market_from_listing({"venue": "hyperliquid", "symbol": "BTC"})
    rule = get_venue("hyperliquid").partial_liquidation
    first = rule.step(market, D(3), D(50_000), 0, None)
    assert first is not None and first.size == D("0.6")
    assert rule.step(market, D("2.4"), D(50_000), 1, 29_999) is None
    rest = rule.step(market, D("2.4"), D(50_000), 1, 30_000)
    assert rest is not None and rest.size is None


def test_dydx_closes_in_full() -> None:
    market = market_from_listing({"venue": "dydx", "symbol": "BTC-USD"})
    step = get_venue("dydx").partial_liquidation.step(market, D(50), D(60_000), 0, None)
    assert step is not None and step.size is None
