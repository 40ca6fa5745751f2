"""Running averages of the basis that the mark-price rules add to the index (docs/venues.md §3.6, §4.7, §7).

* :class:`BasisMovingAverage` — Binance/Bybit ``MA(basis)``: the plain mean of the samples of
  ``(Bid1 + Ask1)/2 − Index`` taken within the window (Binance USDⓈ-M 5 min, COIN-M 2.5 min = 30
  samples every 5 s, Bybit 5 min sampled every second). The caller decides the sampling cadence.
* :class:`DecayingEma` — Hyperliquid's EMA: with ``t`` the time since the previous sample,
  ``num ← num·e^(−t/τ) + sample·t``, ``den ← den·e^(−t/τ) + t``, ``ema = num/den``
  (τ = 150 s for the oracle basis, 30 s for the median of bid/ask/last).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from margincall.math.mark import ema_step, mid_basis
from margincall.model.errors import MarginCallError
from margincall.model.numbers import NumberLike, to_decimal
from margincall.prices.errors import OutOfOrder
from margincall.prices.sources import checked_price, checked_ts


def _window(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MarginCallError(f"{field}: expected a positive integer of milliseconds, got {value!r}", field=field)
    return value


class BasisMovingAverage:
    """Mean of the basis samples with ``now − window_ms < ts <= now``."""

    def __init__(self, window_ms: int = 300_000) -> None:
        self.window_ms = _window(window_ms, "window_ms")
        self._samples: deque[tuple[int, Decimal]] = deque()

    def observe(self, sample: NumberLike, ts: int) -> None:
        """Add one basis sample (may be negative); timestamps must not go backwards."""
        value = to_decimal(sample, "basis")
        t = checked_ts(ts)
        if self._samples and t < self._samples[-1][0]:
            raise OutOfOrder(f"ts: basis sample at {t} is older than the last at {self._samples[-1][0]}", field="ts")
        self._samples.append((t, value))
        self._drop_before(t)

    def observe_book(self, bid: NumberLike, ask: NumberLike, index: NumberLike, ts: int) -> Decimal:
        """Add ``(bid + ask)/2 − index`` and return it."""
        sample = mid_basis(checked_price(bid, "bid"), checked_price(ask, "ask"), checked_price(index, "index"))
        self.observe(sample, ts)
        return sample

    def value(self, now: int) -> Decimal | None:
        """The moving average at ``now``; ``None`` when no sample lies in the window."""
        t = checked_ts(now, "now")
        self._drop_before(t)
        window = [v for ts, v in self._samples if ts <= t]
        if not window:
            return None
        return sum(window, Decimal(0)) / len(window)

    def _drop_before(self, now: int) -> None:
        while self._samples and self._samples[0][0] <= now - self.window_ms:
            self._samples.popleft()


class DecayingEma:
    """Hyperliquid's time-weighted EMA with time constant ``tau_ms``.

    The first sample has nothing before it to measure ``t`` from; it is counted as held for 1 ms, so
    the EMA equals it until the next sample (whose weight is the time elapsed since).
    """

    def __init__(self, tau_ms: int = 150_000) -> None:
        self.tau_ms = _window(tau_ms, "tau_ms")
        self._num = Decimal(0)
        self._den = Decimal(0)
        self._last_ts: int | None = None

    def observe(self, sample: NumberLike, ts: int) -> Decimal:
        value = to_decimal(sample, "sample")
        t = checked_ts(ts)
        if self._last_ts is not None and t < self._last_ts:
            raise OutOfOrder(f"ts: EMA sample at {t} is older than the last at {self._last_ts}", field="ts")
        elapsed = 1 if self._last_ts is None else t - self._last_ts
        self._num, self._den = ema_step(self._num, self._den, value, Decimal(elapsed), Decimal(self.tau_ms))
        self._last_ts = t
        return self._num / self._den

    @property
    def value(self) -> Decimal | None:
        return None if self._den == 0 else self._num / self._den
