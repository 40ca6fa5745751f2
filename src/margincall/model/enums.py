"""Enumerations shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Direction of a position. ``sign`` is +1 for long, -1 for short."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1

    @property
    def opposite(self) -> Side:
        return Side.SHORT if self is Side.LONG else Side.LONG


class ContractKind(StrEnum):
    """Linear (USDT/USDC-margined, size in base units) or inverse (coin-margined, size in USD contracts)."""

    LINEAR = "linear"
    INVERSE = "inverse"


class MarginMode(StrEnum):
    ISOLATED = "isolated"
    CROSS = "cross"


class PositionSide(StrEnum):
    """Binance's ``positionSide``: ``both`` in one-way mode, ``long``/``short`` for the legs of hedge mode."""

    BOTH = "both"
    LONG = "long"
    SHORT = "short"

    # Hash as the value's text (which the member also equals, being a str): consistent with ==, and computed
    # in C, where Enum's own __hash__ is a Python call. Position keys, which hold a side, index every position.
    __hash__ = str.__hash__


class TierMode(StrEnum):
    """How a tier table turns a position into maintenance margin (docs/venues.md §2).

    ``bracket``: ``MM = amount × rate(tier) − maintenance_amount(tier)``, continuous (Binance, Bybit,
    Hyperliquid). ``whole_position``: the whole position takes its tier's rate with no deduction, so MM
    jumps at tier boundaries (OKX, pre-2023 Bybit risk limits).
    """

    BRACKET = "bracket"
    WHOLE_POSITION = "whole_position"


class TierBasis(StrEnum):
    """What a tier's floor and cap measure.

    ``notional``: position value in the settle asset at the price considered (USDⓈ-M: USDT;
    COIN-M/Bybit inverse: coin, i.e. Binance's ``qtyCap`` in BTC). ``contracts``: number of contracts
    (OKX position tiers), independent of price.
    """

    NOTIONAL = "notional"
    CONTRACTS = "contracts"


class PriceRounding(StrEnum):
    """How a venue rounds a liquidation or bankruptcy price to its tick.

    ``venue_favour``: a long's price is rounded up and a short's down, so the venue liquidates no later
    than the exact price (Bybit: V16 rounds a long's bankruptcy price 7,735.37 up to 7,735.50).
    ``nearest``: half-up to the nearest tick, as Binance's published examples show (V1 26,316.8933 →
    26,316.89; V3 18,778.7259 → 18,778.73).
    """

    VENUE_FAVOUR = "venue_favour"
    NEAREST = "nearest"
