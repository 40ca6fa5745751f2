"""Prices: index from several sources, mark-price rules per venue, and the validated mark feed (issue #4 item 1)."""

from margincall.prices.basis import BasisMovingAverage, DecayingEma
from margincall.prices.errors import (
    CircuitBreaker,
    DuplicateTick,
    InvalidPrice,
    InvalidTimestamp,
    MissingInput,
    NoIndex,
    OutOfOrder,
    PriceRejected,
    StalePrice,
    UnknownPriceSymbol,
    UnknownSource,
)
from margincall.prices.feed import BreakerMode, MarkFeed, MarkTick
from margincall.prices.index import IndexBook, IndexMethod, IndexPrice, IndexResult
from margincall.prices.mark import (
    HYPERLIQUID_CEX_WEIGHTS,
    BinanceMark,
    GivenMark,
    HyperliquidMark,
    MarkInputs,
    MarkRule,
)
from margincall.prices.sources import SourceTick, checked_price, checked_ts

__all__ = [
    "HYPERLIQUID_CEX_WEIGHTS",
    "BasisMovingAverage",
    "BinanceMark",
    "BreakerMode",
    "CircuitBreaker",
    "DecayingEma",
    "DuplicateTick",
    "GivenMark",
    "HyperliquidMark",
    "IndexBook",
    "IndexMethod",
    "IndexPrice",
    "IndexResult",
    "InvalidPrice",
    "InvalidTimestamp",
    "MarkFeed",
    "MarkInputs",
    "MarkRule",
    "MarkTick",
    "MissingInput",
    "NoIndex",
    "OutOfOrder",
    "PriceRejected",
    "SourceTick",
    "StalePrice",
    "UnknownPriceSymbol",
    "UnknownSource",
    "checked_price",
    "checked_ts",
]
