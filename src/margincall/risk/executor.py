"""Liquidation executors: at what price a liquidation order fills.

* :class:`MarketExecutor` (default): a market order filling at the mark moved against the liquidated side by
  ``slippage`` plus ``impact`` per unit of notional (a simple linear impact model).
* :class:`TakeoverExecutor`: the insurance fund takes the position over at the bankruptcy price (Binance
  §3.8 "closed at the bankruptcy price, the insurance fund takes it over"; Bybit §4.6 takeover) and carries it
  at the mark: the account loses its whole remaining equity, the fund books it, and no market slippage applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from margincall.math.liquidation import market_fill_price


class LiquidationExecutor(Protocol):
    @property
    def name(self) -> str: ...

    def fill_price(self, sign: int, mark: Decimal, notional: Decimal, bankruptcy: Decimal | None) -> Decimal:
        """Fill price for closing a position of direction ``sign`` (+1 long is sold)."""
        ...


@dataclass(frozen=True, slots=True)
class MarketExecutor:
    slippage: Decimal = Decimal("0.001")
    impact_per_million: Decimal = Decimal("0.0005")
    name: str = "market"

    def fill_price(self, sign: int, mark: Decimal, notional: Decimal, bankruptcy: Decimal | None) -> Decimal:
        return market_fill_price(sign, mark, notional, self.slippage, self.impact_per_million)


@dataclass(frozen=True, slots=True)
class TakeoverExecutor:
    name: str = "takeover"

    def fill_price(self, sign: int, mark: Decimal, notional: Decimal, bankruptcy: Decimal | None) -> Decimal:
        return mark
