"""Index price from several named source prices (docs/venues.md §3.6 Binance price index, §7 Hyperliquid oracle).

Per symbol, the last price of each source is kept. At evaluation time ``now``:

1. *fresh* sources: last tick no older than ``max_age_ms`` (Binance: "a source with no update for
   10 s gets weight 0"); a tick stamped after ``now`` (clock skew) counts as fresh;
2. *outliers*: fresh sources farther than ``outlier_band`` from the plain median of the fresh
   sources (Binance: "a source deviating > 5 % from the median gets weight 0");
   with ``many_outliers_fallback`` (Binance 2019–20 text) more than one outlier means the plain
   median of all fresh sources is used instead;
3. index = median, weighted median (Hyperliquid oracle: weighted median of spot prices) or weighted
   average (Binance: ``Σ w_i·p_i``) of the remaining sources;
4. fewer than ``min_sources`` remaining → :class:`NoIndex` (code ``no_index``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from margincall.math.mark import median, relative_distance, weighted_mean, weighted_median
from margincall.model.errors import MarginCallError
from margincall.model.numbers import MAX_MAGNITUDE, NumberLike, positive
from margincall.prices.errors import NoIndex, OutOfOrder, UnknownPriceSymbol, UnknownSource
from margincall.prices.sources import SourceTick, checked_price, checked_ts


class IndexMethod(StrEnum):
    """How the usable source prices are combined."""

    MEDIAN = "median"
    WEIGHTED_MEDIAN = "weighted_median"
    WEIGHTED_MEAN = "weighted_mean"


@dataclass(frozen=True, slots=True)
class IndexResult:
    """The index at ``ts`` and which sources made it (names sorted)."""

    symbol: str
    price: Decimal
    ts: int
    used: tuple[str, ...]
    stale: tuple[str, ...]
    outliers: tuple[str, ...]
    missing: tuple[str, ...]


class IndexPrice:
    """The index of one symbol over named sources.

    ``sources``: names (equal weights, plain median by default) or ``{name: weight}`` (weighted
    median by default; weights > 0). ``outlier_band=None`` keeps every fresh source.
    """

    def __init__(
        self,
        symbol: str,
        sources: Iterable[str] | Mapping[str, NumberLike],
        *,
        method: IndexMethod | None = None,
        max_age_ms: int = 10_000,
        outlier_band: NumberLike | None = Decimal("0.05"),
        min_sources: int = 1,
        many_outliers_fallback: bool = False,
        max_price: Decimal = MAX_MAGNITUDE,
    ) -> None:
        self.symbol = symbol
        if isinstance(sources, Mapping):
            self.weights = {name: positive(w, f"weights[{name}]") for name, w in sources.items()}
            default_method = IndexMethod.WEIGHTED_MEDIAN
        else:
            self.weights = {name: Decimal(1) for name in sources}
            default_method = IndexMethod.MEDIAN
        if not self.weights:
            raise MarginCallError(f"{symbol}: an index needs at least one source", field="sources")
        try:
            self.method = IndexMethod(method) if method is not None else default_method
        except ValueError:
            choices = ", ".join(m.value for m in IndexMethod)
            raise MarginCallError(f"method: expected one of {choices}, got {method!r}", field="method") from None
        self.max_age_ms = checked_ts(max_age_ms, "max_age_ms")
        self.outlier_band = None if outlier_band is None else positive(outlier_band, "outlier_band")
        if isinstance(min_sources, bool) or not isinstance(min_sources, int) or min_sources < 1:
            raise MarginCallError(f"min_sources: expected an integer >= 1, got {min_sources!r}", field="min_sources")
        self.min_sources = min_sources
        self.many_outliers_fallback = many_outliers_fallback
        self.max_price = max_price
        self._last: dict[str, SourceTick] = {}

    def update(self, source: str, symbol: str, price: NumberLike, ts: int) -> SourceTick:
        """Validate and keep one source price; raises and keeps the previous state on bad input.

        Codes: ``unknown_symbol``, ``unknown_source``, ``invalid_price``, ``invalid_timestamp``,
        ``out_of_order`` (older than this source's last tick; an equal timestamp replaces it).
        """
        if symbol != self.symbol:
            raise UnknownPriceSymbol(f"symbol: index of {self.symbol} got a tick for {symbol!r}", field="symbol")
        if source not in self.weights:
            raise UnknownSource(
                f"source: {source!r} is not a source of the {self.symbol} index ({', '.join(sorted(self.weights))})",
                field="source",
            )
        p = checked_price(price, "price", self.max_price)
        t = checked_ts(ts)
        last = self._last.get(source)
        if last is not None and t < last.ts:
            raise OutOfOrder(f"ts: {source} {self.symbol} tick at {t} is older than its last at {last.ts}", field="ts")
        tick = SourceTick(source, symbol, p, t)
        self._last[source] = tick
        return tick

    def last(self, source: str) -> SourceTick | None:
        return self._last.get(source)

    def evaluate(self, now: int) -> IndexResult:
        """The index at ``now``, or :class:`NoIndex` naming the stale, outlying and silent sources."""
        now = checked_ts(now, "now")
        fresh = sorted((t for t in self._last.values() if now - t.ts <= self.max_age_ms), key=lambda t: t.source)
        stale = tuple(sorted(s for s, t in self._last.items() if now - t.ts > self.max_age_ms))
        missing = tuple(sorted(s for s in self.weights if s not in self._last))
        outliers: tuple[str, ...] = ()
        usable = fresh
        if fresh and self.outlier_band is not None:
            centre = median(t.price for t in fresh)
            band = self.outlier_band
            outliers = tuple(t.source for t in fresh if relative_distance(t.price, centre) > band)
            if self.many_outliers_fallback and len(outliers) > 1:
                outliers = ()
            else:
                usable = [t for t in fresh if t.source not in outliers]
        if len(usable) < self.min_sources:
            raise NoIndex(
                f"{self.symbol}: {len(usable)} usable source(s) at {now}, need {self.min_sources}"
                f" (stale: {', '.join(stale) or '-'}; outliers: {', '.join(outliers) or '-'};"
                f" never ticked: {', '.join(missing) or '-'})",
                field="sources",
            )
        pairs = [(t.price, self.weights[t.source]) for t in usable]
        if self.method is IndexMethod.MEDIAN:
            price = median(p for p, _ in pairs)
        elif self.method is IndexMethod.WEIGHTED_MEDIAN:
            price = weighted_median(pairs)
        else:
            price = weighted_mean(pairs)
        return IndexResult(self.symbol, price, now, tuple(t.source for t in usable), stale, outliers, missing)


class IndexBook:
    """Several :class:`IndexPrice` by symbol; routes each source tick to its symbol's index."""

    def __init__(self, indices: Iterable[IndexPrice]) -> None:
        self._by_symbol = {ix.symbol: ix for ix in indices}

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._by_symbol)

    def index(self, symbol: str) -> IndexPrice:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            raise UnknownPriceSymbol(f"symbol: no index configured for {symbol!r}", field="symbol") from None

    def update(self, source: str, symbol: str, price: NumberLike, ts: int) -> SourceTick:
        return self.index(symbol).update(source, symbol, price, ts)

    def evaluate(self, symbol: str, now: int) -> IndexResult:
        return self.index(symbol).evaluate(now)
