"""A symbol's candles as numpy arrays (:class:`Series`), with finer candles inside, and one candle's mark path.

A candle covers ``[date, date + timeframe)``; its path is open → the adverse extreme → the favourable extreme →
close (see :mod:`margincall.backtest.replay` for the rules the replay builds on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.backtest.io import BacktestInputError, candles_frame, ms_of

_NUDGE = Decimal("1e-10")


def dec(x: float) -> Decimal:
    """A candle's float price as the decimal it was written as (its shortest repr)."""
    return Decimal(repr(float(x)))


@dataclass
class Series:
    """One symbol's candles (dates and ends in int64 ms, OHLC as floats for the screen)."""

    dates: np.ndarray  # int64 ms
    ends: np.ndarray
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    tf: int  # the timeframe, ms
    fine: Series | None = None  # finer candles of the same prices, replayed inside these

    @classmethod
    def of(cls, df: pd.DataFrame, where: str, fine: pd.DataFrame | None = None, fine_where: str = "") -> Series:
        df = candles_frame(df, where)
        dates = ms_of(df["date"])
        if len(dates) == 0:
            raise BacktestInputError(f"{where}: no candles", field=where)
        tf = int(np.median(np.diff(dates))) if len(dates) > 1 else 60_000
        inner = None if fine is None else cls.of(fine, fine_where)
        if inner is not None and (inner.tf >= tf or tf % inner.tf):
            raise BacktestInputError(f"{fine_where}: a timeframe of {inner.tf // 1000} s does not divide {where}'s "
                                     f"{tf // 1000} s into finer candles", field=fine_where)
        o, h, low, c = (df[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close"))
        return cls(dates, dates + tf, o, h, low, c, tf, inner)

    def inside(self, j: int) -> tuple[int, int] | None:
        """The finer candles ``[a, b)`` that make up candle ``j``, when they cover it without a gap."""
        f = self.fine
        if f is None:
            return None
        a, b = (int(x) for x in np.searchsorted(f.dates, (self.dates[j], self.ends[j]), "left"))
        return (a, b) if b - a == (self.ends[j] - self.dates[j]) // f.tf else None

    def at(self, ts: int) -> float:
        """The price at ``ts``: the open of the (finest) candle holding it (or the last close after the data)."""
        if self.fine is not None and self.fine.dates[0] <= ts < self.fine.ends[-1]:
            return self.fine.at(ts)
        i = int(np.searchsorted(self.dates, ts, "right")) - 1
        if i < 0:
            raise BacktestInputError(f"no candle at or before {pd.Timestamp(ts, unit='ms', tz='UTC')}",
                                     field="candles")
        return float(self.c[i]) if ts >= self.ends[i] else float(self.o[i])


def candle_segments(p: Series, j: int, exact: list[tuple[int, Decimal]], longs_first: bool) -> list[list[Decimal]]:
    """Candle ``j``'s path in four segments, each ending at a corner: [open], [… adverse extreme],
    [… favourable extreme], [… close]; the crossings of the exact liquidation prices ``exact`` on the way."""
    o, h, lo, c = (dec(x[j]) for x in (p.o, p.h, p.low, p.c))
    legs = [(o, lo), (lo, h), (h, c)] if longs_first else [(o, h), (h, lo), (lo, c)]
    out = [[o]]
    for a, b in legs:
        seg: list[Decimal] = []
        if b < a:  # down: long positions' liquidation prices on the way, highest first
            inner = sorted({L.quantize(_NUDGE, ROUND_FLOOR) for s, L in exact if s > 0}, reverse=True)
            seg += [L for L in inner if b <= L < a]
        elif b > a:
            inner = sorted({L.quantize(_NUDGE, ROUND_CEILING) for s, L in exact if s < 0})
            seg += [L for L in inner if a < L <= b]
        seg.append(b)
        out.append(seg)
    return out
