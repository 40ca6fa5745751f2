"""The mark feed: the gate every mark price passes before the risk engine sees it.

Per symbol it keeps the last accepted mark and refuses, with a stable code and the tick leaving no
trace: ``unknown_symbol``, ``invalid_timestamp``, ``duplicate`` (a tick id already accepted for the
symbol), ``out_of_order`` (timestamp not strictly after the last accepted), ``stale`` (older than
``now − max_age_ms`` when ``now`` is given), ``invalid_price`` (NaN, infinity, zero, negative,
oversized), ``missing_input`` (a computed mark lacking an input), ``circuit_breaker``.

Circuit breaker: a move from the last accepted mark ``P`` outside ``[P·(1 − max_move), P·(1 + max_move)]``
is refused (``BreakerMode.REJECT``) or, by default, clamped to the band edge (``BreakerMode.CLAMP``;
the tick says ``clamped=True`` and keeps the ``requested`` price). With a tick size, the clamped edge
is rounded inwards so it stays inside the band.

A computed mark (:meth:`MarkFeed.accept_computed`, through the symbol's :class:`MarkRule`) is
rounded to the nearest tick (half up) when the symbol has a tick size; a posted mark is taken as is.
Every accepted tick becomes a ledger ``mark`` event: :meth:`MarkTick.to_event`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

from margincall.math.mark import band_edges
from margincall.math.rounding import round_to_tick
from margincall.model.errors import MarginCallError
from margincall.model.numbers import MAX_MAGNITUDE, ONE, NumberLike, positive
from margincall.prices.errors import (
    CircuitBreaker,
    DuplicateTick,
    InvalidPrice,
    OutOfOrder,
    StalePrice,
    UnknownPriceSymbol,
)
from margincall.prices.mark import GivenMark, MarkInputs, MarkRule
from margincall.prices.sources import checked_price, checked_ts

TickId = str | int


class BreakerMode(StrEnum):
    CLAMP = "clamp"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class MarkTick:
    """An accepted mark. ``previous`` is the symbol's prior accepted mark (``None`` for the first);
    ``requested`` is the price offered (after tick rounding), which differs from ``price`` only when clamped."""

    symbol: str
    price: Decimal
    ts: int
    previous: Decimal | None
    clamped: bool = False
    requested: Decimal | None = None
    tick_id: TickId | None = None

    def to_event(self) -> tuple[str, dict[str, str]]:
        """The ledger event: ``("mark", {"symbol": ..., "price": "<plain decimal>"})``; stamp it with ``self.ts``."""
        return "mark", {"symbol": self.symbol, "price": format(self.price, "f")}


class MarkFeed:
    """Validates mark ticks per known symbol; see the module docstring for the rules and codes."""

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        rules: Mapping[str, MarkRule] | None = None,
        tick_sizes: Mapping[str, NumberLike] | None = None,
        max_move: NumberLike | None = Decimal("0.10"),
        breaker: BreakerMode | str = BreakerMode.CLAMP,
        max_age_ms: int = 10_000,
        max_price: NumberLike = MAX_MAGNITUDE,
        dedupe_window: int = 100_000,
    ) -> None:
        self._symbols = tuple(dict.fromkeys(symbols))
        known = set(self._symbols)
        for name, mapping in (("rules", rules or {}), ("tick_sizes", tick_sizes or {})):
            for sym in mapping:
                if sym not in known:
                    raise UnknownPriceSymbol(f"{name}[{sym}]: not one of the feed's symbols", field=f"{name}[{sym}]")
        self._rules: dict[str, MarkRule] = {s: GivenMark() for s in self._symbols}
        self._rules.update(rules or {})
        self._ticks = {s: positive(t, f"tick_sizes[{s}]") for s, t in (tick_sizes or {}).items()}
        self.max_move = None if max_move is None else positive(max_move, "max_move")
        if self.max_move is not None and self.max_move >= ONE:
            raise MarginCallError(f"max_move: must be below 1, got {self.max_move}", field="max_move")
        try:
            self.breaker = BreakerMode(breaker)
        except ValueError:
            raise MarginCallError(f"breaker: expected clamp or reject, got {breaker!r}", field="breaker") from None
        self.max_age_ms = checked_ts(max_age_ms, "max_age_ms")
        self.max_price = positive(max_price, "max_price")
        if isinstance(dedupe_window, bool) or not isinstance(dedupe_window, int) or dedupe_window < 1:
            raise MarginCallError(
                f"dedupe_window: expected an integer >= 1, got {dedupe_window!r}", field="dedupe_window"
            )
        self.dedupe_window = dedupe_window
        self._last: dict[str, MarkTick] = {}
        self._ids: dict[str, tuple[deque[TickId], set[TickId]]] = {s: (deque(), set()) for s in self._symbols}

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def last(self, symbol: str) -> MarkTick | None:
        """The last accepted mark of ``symbol`` (``None`` before the first)."""
        self._known(symbol)
        return self._last.get(symbol)

    def rule(self, symbol: str) -> MarkRule:
        self._known(symbol)
        return self._rules[symbol]

    def seed(self, symbol: str, price: NumberLike, ts: int) -> MarkTick:
        """Set the reference mark (e.g. from a snapshot) without the ordering and breaker checks."""
        self._known(symbol)
        tick = MarkTick(symbol, checked_price(price, "price", self.max_price), checked_ts(ts), None)
        self._last[symbol] = tick
        return tick

    def accept(
        self, symbol: str, price: NumberLike, ts: int, *, tick_id: TickId | None = None, now: int | None = None
    ) -> MarkTick:
        """Accept a posted mark or raise (codes in the module docstring); a refused tick changes nothing."""
        self._known(symbol)
        t = self._check_time(symbol, ts, tick_id, now)
        return self._commit(symbol, checked_price(price, "price", self.max_price), t, tick_id)

    def accept_computed(
        self, symbol: str, inputs: MarkInputs, ts: int, *, tick_id: TickId | None = None, now: int | None = None
    ) -> MarkTick:
        """Compute the mark with the symbol's rule, round it to the tick (nearest) and accept it like :meth:`accept`."""
        self._known(symbol)
        t = self._check_time(symbol, ts, tick_id, now)
        raw = self._rules[symbol].mark(inputs)
        tick = self._ticks.get(symbol)
        price = raw if tick is None else round_to_tick(raw, tick, ROUND_HALF_UP)
        if not price.is_finite() or price <= 0 or price > self.max_price:
            raise InvalidPrice(
                f"price: the {self._rules[symbol].name} rule gave {raw} for {symbol}, rounded to {price}", field="price"
            )
        return self._commit(symbol, price, t, tick_id)

    def _known(self, symbol: str) -> None:
        if symbol not in self._rules:
            raise UnknownPriceSymbol(f"symbol: {symbol!r} is not a symbol of this mark feed", field="symbol")

    def _check_time(self, symbol: str, ts: int, tick_id: TickId | None, now: int | None) -> int:
        t = checked_ts(ts)
        if tick_id is not None and tick_id in self._ids[symbol][1]:
            raise DuplicateTick(f"tick_id: {tick_id!r} was already accepted for {symbol}", field="tick_id")
        last = self._last.get(symbol)
        if last is not None and t <= last.ts:
            raise OutOfOrder(f"ts: {symbol} mark at {t} is not after the last accepted at {last.ts}", field="ts")
        if now is not None and t < checked_ts(now, "now") - self.max_age_ms:
            raise StalePrice(f"ts: {symbol} mark at {t} is older than {now} − {self.max_age_ms} ms", field="ts")
        return t

    def _commit(self, symbol: str, price: Decimal, ts: int, tick_id: TickId | None) -> MarkTick:
        last = self._last.get(symbol)
        previous = None if last is None else last.price
        accepted, clamped = price, False
        if previous is not None and self.max_move is not None:
            low, high = band_edges(previous, self.max_move)
            if not low <= price <= high:
                if self.breaker is BreakerMode.REJECT:
                    raise CircuitBreaker(
                        f"price: {symbol} {price} moves more than {self.max_move} from the last mark {previous}"
                        f" (band {low} … {high})",
                        field="price",
                    )
                accepted, clamped = self._edge(symbol, low if price < low else high, low, high, up=price > high), True
        tick = MarkTick(symbol, accepted, ts, previous, clamped, price, tick_id)
        self._last[symbol] = tick
        if tick_id is not None:
            order, seen = self._ids[symbol]
            order.append(tick_id)
            seen.add(tick_id)
            if len(order) > self.dedupe_window:
                seen.discard(order.popleft())
        return tick

    def _edge(self, symbol: str, edge: Decimal, low: Decimal, high: Decimal, *, up: bool) -> Decimal:
        """The band edge, rounded inwards to the tick when the symbol has one (unrounded when the band is
        narrower than a tick, so the clamped mark never leaves the band)."""
        tick = self._ticks.get(symbol)
        if tick is None:
            return edge
        rounded = round_to_tick(edge, tick, ROUND_FLOOR if up else ROUND_CEILING)
        return rounded if low <= rounded <= high and rounded > 0 else edge
