"""Mark-price rules as small strategy objects: each turns :class:`MarkInputs` into a ``Decimal`` mark.

* :class:`BinanceMark` — Binance USDⓈ-M / COIN-M perpetual (docs/venues.md §3.6), same as Bybit (§4.7):
  ``Mark = median(Price 1, Price 2, Contract Price)``,
  ``Price 1 = Price Index × (1 + Last Funding Rate × (Time Until Funding / funding interval))``,
  ``Price 2 = Price Index + MA(basis)``, basis ``(Bid1 + Ask1)/2 − Price Index``
  (USDⓈ-M: 5-minute MA; COIN-M: 2.5 minutes, 30 samples every 5 s — see
  :class:`margincall.prices.basis.BasisMovingAverage`).
* :class:`HyperliquidMark` — Hyperliquid (§7): median of (a) oracle + 150 s EMA of (mid − oracle),
  (b) median(best bid, best ask, last trade), (c) weighted median of CEX perp marks (Binance, OKX,
  Bybit, Gate, MEXC weighted 3, 2, 2, 1, 1); with only two inputs, (c) is a 30 s EMA of
  median(bid, ask, last) (see :class:`margincall.prices.basis.DecayingEma`).
* :class:`GivenMark` — the feeder posts the mark (``MarkInputs.given``).

The rules are pure: moving averages and EMAs are kept by the caller and passed in. Every input is
checked; a missing one raises :class:`MissingInput` (``missing_input``) naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from margincall.math.mark import basis_price, funding_basis_price, median3, weighted_median
from margincall.model.numbers import NumberLike, to_decimal
from margincall.prices.errors import InvalidTimestamp, MissingInput, UnknownSource
from margincall.prices.sources import checked_price, checked_ts

#: Funding every 8 hours (§3.7, §4.7).
EIGHT_HOURS_MS = 8 * 3600 * 1000

#: Hyperliquid's CEX perp weights for input (c) (§7).
HYPERLIQUID_CEX_WEIGHTS: Mapping[str, Decimal] = {
    "binance": Decimal(3),
    "okx": Decimal(2),
    "bybit": Decimal(2),
    "gate": Decimal(1),
    "mexc": Decimal(1),
}


@dataclass(frozen=True, slots=True)
class MarkInputs:
    """Everything any rule may read; each rule uses its own subset. Prices may be given as text or numbers."""

    given: NumberLike | None = None
    index: NumberLike | None = None
    funding_rate: NumberLike | None = None
    time_until_funding_ms: int | None = None
    funding_interval_ms: int = EIGHT_HOURS_MS
    basis_ma: NumberLike | None = None
    last: NumberLike | None = None
    best_bid: NumberLike | None = None
    best_ask: NumberLike | None = None
    oracle: NumberLike | None = None
    oracle_basis_ema: NumberLike | None = None
    cex_marks: Mapping[str, NumberLike] = field(default_factory=dict)
    book_ema: NumberLike | None = None


class MarkRule(Protocol):
    """A venue's mark-price rule."""

    @property
    def name(self) -> str: ...

    def mark(self, inputs: MarkInputs) -> Decimal: ...


def _need(value: NumberLike | None, name: str, rule: str) -> NumberLike:
    if value is None:
        raise MissingInput(f"{name}: required by the {rule} mark rule", field=name)
    return value


def _price(value: NumberLike | None, name: str, rule: str) -> Decimal:
    return checked_price(_need(value, name, rule), name)


def _number(value: NumberLike | None, name: str, rule: str) -> Decimal:
    return to_decimal(_need(value, name, rule), name)


@dataclass(frozen=True, slots=True)
class GivenMark:
    """The feeder's own mark, checked (``invalid_price``) and passed through."""

    name: str = "given"

    def mark(self, inputs: MarkInputs) -> Decimal:
        return _price(inputs.given, "given", self.name)


@dataclass(frozen=True, slots=True)
class BinanceMark:
    """``median(Index × (1 + rate × time until funding / interval), Index + MA(basis), last)`` (§3.6, §4.7)."""

    name: str = "binance"

    def price_1(self, inputs: MarkInputs) -> Decimal:
        index = _price(inputs.index, "index", self.name)
        rate = _number(inputs.funding_rate, "funding_rate", self.name)
        if inputs.time_until_funding_ms is None:
            raise MissingInput(
                f"time_until_funding_ms: required by the {self.name} mark rule", field="time_until_funding_ms"
            )
        until = checked_ts(inputs.time_until_funding_ms, "time_until_funding_ms")
        interval = checked_ts(inputs.funding_interval_ms, "funding_interval_ms")
        if interval == 0 or until > interval:
            raise InvalidTimestamp(
                f"time_until_funding_ms: {until} is outside [0, funding interval {interval}]",
                field="time_until_funding_ms",
            )
        return funding_basis_price(index, rate, Decimal(until), Decimal(interval))

    def price_2(self, inputs: MarkInputs) -> Decimal:
        return basis_price(_price(inputs.index, "index", self.name), _number(inputs.basis_ma, "basis_ma", self.name))

    def mark(self, inputs: MarkInputs) -> Decimal:
        return median3(self.price_1(inputs), self.price_2(inputs), _price(inputs.last, "last", self.name))


@dataclass(frozen=True, slots=True)
class HyperliquidMark:
    """Median of (oracle + EMA basis, median(bid, ask, last), CEX perp marks or the 30 s book EMA) (§7)."""

    name: str = "hyperliquid"
    cex_weights: Mapping[str, Decimal] = field(default_factory=lambda: dict(HYPERLIQUID_CEX_WEIGHTS))

    def oracle_input(self, inputs: MarkInputs) -> Decimal:
        oracle = _price(inputs.oracle, "oracle", self.name)
        return oracle + _number(inputs.oracle_basis_ema, "oracle_basis_ema", self.name)

    def book_input(self, inputs: MarkInputs) -> Decimal:
        return median3(
            _price(inputs.best_bid, "best_bid", self.name),
            _price(inputs.best_ask, "best_ask", self.name),
            _price(inputs.last, "last", self.name),
        )

    def third_input(self, inputs: MarkInputs) -> Decimal:
        if not inputs.cex_marks:
            if inputs.book_ema is None:
                raise MissingInput(
                    f"cex_marks: the {self.name} mark rule needs CEX perp marks or, without them, book_ema",
                    field="cex_marks",
                )
            return _price(inputs.book_ema, "book_ema", self.name)
        pairs = []
        for venue, price in sorted(inputs.cex_marks.items()):
            weight = self.cex_weights.get(venue)
            if weight is None:
                raise UnknownSource(
                    f"cex_marks[{venue}]: no weight for this venue ({', '.join(sorted(self.cex_weights))})",
                    field=f"cex_marks[{venue}]",
                )
            pairs.append((checked_price(price, f"cex_marks[{venue}]"), weight))
        return weighted_median(pairs)

    def mark(self, inputs: MarkInputs) -> Decimal:
        return median3(self.oracle_input(inputs), self.book_input(inputs), self.third_input(inputs))
