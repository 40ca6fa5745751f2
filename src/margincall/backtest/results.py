"""What a backtest gives back: per trade (:class:`TradeResult`) and for the run (:class:`BacktestResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd  # type: ignore[import-untyped]

from margincall.backtest.trades import Trade
from margincall.venues.market import MarketSpec


@dataclass
class TradeResult:
    trade: Trade
    size: Decimal = Decimal(0)
    entry_price: Decimal | None = None
    exit_price: Decimal | None = None
    exit_time: int | None = None
    realized_pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    funding: Decimal = Decimal(0)
    liquidated: bool = False
    partial_steps: int = 0
    liquidation_time: int | None = None
    liquidation_price: Decimal | None = None
    liquidation_fee: Decimal = Decimal(0)
    surplus_to_fund: Decimal = Decimal(0)
    liq_line: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class BacktestResult:
    """What a backtest did: per trade (:attr:`trades`), the equity curve, the liquidation-price lines."""

    venue: str
    mark_source: str  # "mark" or "trade"
    results: list[TradeResult]
    equity: pd.DataFrame  # date, equity (float, for plots)
    prices: dict[str, pd.DataFrame]  # symbol → the mark path's candles
    engine_events: int
    marks_fed: int
    markets: dict[str, MarketSpec] = field(default_factory=dict)  # symbol → the listing replayed (tiers, fees)

    @property
    def trades(self) -> pd.DataFrame:
        from margincall.backtest.report import trades_table

        return trades_table(self)
