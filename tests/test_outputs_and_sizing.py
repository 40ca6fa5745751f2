"""ccxt Position export and trader helpers (max size, distance), with hand-computed values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margincall.calculator import calculate
from margincall.math.sizing import distance_to_liquidation_pct, max_position_size
from margincall.model import ContractKind, LeverageTooHigh
from margincall.venues.tables import BINANCE_USDM_BTCUSDT_2024, OKX_ETH_USDT_SWAP_2021

D = Decimal


def test_ccxt_position_shape_for_bybit_v8():
    # V8: 1 BTC @ 20,000, 50x isolated: IM 400, MM 100, LP 19,700; collateral = margin 400 + PnL 0;
    # ccxt marginRatio = MM / collateral = 100 / 400 = 0.25.
    (pos,) = calculate(
        {
            "venue": "bybit-linear",
            "positions": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": "1",
                    "entry_price": "20000",
                    "leverage": "50",
                    "margin_mode": "isolated",
                }
            ],
        },
        output="ccxt",
    )
    assert pos["liquidationPrice"] == 19700.0
    assert pos["initialMargin"] == 400.0 and pos["maintenanceMargin"] == 100.0
    assert pos["collateral"] == 400.0 and pos["marginRatio"] == 0.25
    assert pos["marginMode"] == "isolated" and pos["isolated"] is True and pos["hedged"] is False
    assert pos["maintenanceMarginPercentage"] == 0.005 and pos["initialMarginPercentage"] == 0.02
    for key in ("symbol", "side", "contracts", "entryPrice", "markPrice", "notional", "leverage", "unrealizedPnl"):
        assert key in pos


def test_max_position_size_limited_by_margin_then_by_tier():
    # 1,000 USDT at 10x and price 20,000: notional 10,000 → 0.5 BTC (tier 1 allows 125x).
    assert max_position_size(
        ContractKind.LINEAR, BINANCE_USDM_BTCUSDT_2024, D(1000), D(10), D(20000), lot_size=D("0.001")
    ) == D("0.5")
    # 10,000,000 USDT at 50x: margin allows 500 M notional, but 50x is allowed only up to tier 4's cap
    # of 12,000,000 → 600 BTC at 20,000.
    assert max_position_size(ContractKind.LINEAR, BINANCE_USDM_BTCUSDT_2024, D(10000000), D(50), D(20000)) == 600
    # With a 0.05 % opening fee: 1,000 / (0.1 + 0.0005) = 9,950.248… notional → 0.497 BTC after lot rounding.
    assert max_position_size(
        ContractKind.LINEAR,
        BINANCE_USDM_BTCUSDT_2024,
        D(1000),
        D(10),
        D(20000),
        lot_size=D("0.001"),
        fee_rate=D("0.0005"),
    ) == D("0.497")
    with pytest.raises(LeverageTooHigh):
        max_position_size(ContractKind.LINEAR, BINANCE_USDM_BTCUSDT_2024, D(1000), D(200), D(20000))


def test_max_position_size_inverse_and_contract_tiers():
    # Inverse: 1 BTC at 20x and 50,000 USD/BTC → 20 BTC notional = 1,000,000 USD = 10,000 contracts of 100 USD.
    assert (
        max_position_size(ContractKind.INVERSE, BINANCE_USDM_BTCUSDT_2024, D(1), D(20), D(50000), contract_size=D(100))
        == 10000
    )
    # OKX tiers by contracts: 100x is allowed up to tier 2's cap of 6,000 contracts.
    assert (
        max_position_size(
            ContractKind.LINEAR, OKX_ETH_USDT_SWAP_2021, D(10**9), D(100), D(2000), contract_size=D("0.1")
        )
        == 6000
    )


def test_distance_to_liquidation():
    # Long at mark 10,000 with LP 9,200: 8 % away; short at 10,000 with LP 10,500: 5 %; past LP: negative.
    assert distance_to_liquidation_pct(D(10000), D(9200), 1) == 8
    assert distance_to_liquidation_pct(D(10000), D(10500), -1) == 5
    assert distance_to_liquidation_pct(D(9000), D(9200), 1) < 0
