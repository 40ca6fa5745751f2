"""Price models of the stress test and their per-step parameters.

Rates are annual over a 365-day year (crypto trades every day): a volatility of 0.8 is 80 % a year, so a step of
``dt`` years has standard deviation ``0.8·√dt`` in log price.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.backtest.io import candles_frame, ms_of, read_candles
from margincall.model.errors import MarginCallError
from margincall.stress.paths import BOOTSTRAP, GBM, MERTON

YEAR = pd.Timedelta(days=365)


class StressInputError(MarginCallError):
    code = "invalid_stress_input"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str | pd.Timedelta, name: str) -> pd.Timedelta:
    """A positive duration such as ``30d``, ``4h``, ``15m`` (pandas' spelling); the error names ``name``."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    try:
        d = pd.Timedelta(**{_UNITS[m[2]]: float(m[1])}) if m else pd.Timedelta(text)
    except (ValueError, TypeError):
        raise StressInputError(f"{name}: not a duration: {text!r} (e.g. 30d, 4h, 15m)", field=name) from None
    if pd.isna(d) or d <= pd.Timedelta(0):
        raise StressInputError(f"{name}: must be positive, got {text!r}", field=name)
    return d


def _finite(name: str, value: float, *, positive: bool = False, nonneg: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
        need = "positive" if positive else "non-negative" if nonneg else "finite"
        raise StressInputError(f"{name}: must be a {need} number, got {value!r}", field=name)
    return v


@dataclass(frozen=True, slots=True)
class GBMModel:
    """Geometric Brownian motion: annual volatility ``vol`` (σ) and drift ``drift`` (μ, expected log-return
    ``μ − σ²/2``)."""

    vol: float
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("vol", self.vol, positive=True)
        _finite("drift", self.drift)

    name = "gbm"

    def kernel(self, dt: float) -> dict[str, Any]:
        return {"model": GBM, "drift": (self.drift - self.vol**2 / 2) * dt, "vol": self.vol * math.sqrt(dt)}

    def describe(self) -> str:
        return f"GBM σ={self.vol:g}/yr μ={self.drift:g}/yr"


@dataclass(frozen=True, slots=True)
class MertonModel:
    """Merton jump-diffusion: GBM plus jumps at ``jump_rate`` a year whose log size is Normal(``jump_mean``,
    ``jump_vol``²); the drift is compensated so the expected return is ``drift``."""

    vol: float
    jump_rate: float
    jump_mean: float
    jump_vol: float
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("vol", self.vol, nonneg=True)
        _finite("jump_rate", self.jump_rate, nonneg=True)
        _finite("jump_mean", self.jump_mean)
        _finite("jump_vol", self.jump_vol, nonneg=True)
        _finite("drift", self.drift)

    name = "merton"

    def kernel(self, dt: float) -> dict[str, Any]:
        kappa = math.exp(self.jump_mean + self.jump_vol**2 / 2) - 1
        return {
            "model": MERTON,
            "drift": (self.drift - self.vol**2 / 2 - self.jump_rate * kappa) * dt,
            "vol": self.vol * math.sqrt(dt),
            "jump_rate": self.jump_rate * dt,
            "jump_mean": self.jump_mean,
            "jump_vol": self.jump_vol,
        }

    def describe(self) -> str:
        return (f"Merton σ={self.vol:g}/yr, {self.jump_rate:g} jumps/yr of log size "
                f"N({self.jump_mean:g}, {self.jump_vol:g}²)")


@dataclass(frozen=True, slots=True)
class BootstrapModel:
    """Log returns of consecutive closes, drawn with replacement; a step is the candles' interval."""

    returns: np.ndarray = field(repr=False)
    step: pd.Timedelta
    source: str = "candles"

    name = "bootstrap"

    @classmethod
    def from_candles(cls, candles: pd.DataFrame | str | Path, where: str = "candles") -> BootstrapModel:
        """From a candles DataFrame or file (freqtrade feather/json/parquet, CSV, Parquet): the step is the
        candles' most common interval; a gap (a missing candle) contributes no return across it."""
        if isinstance(candles, str | Path):
            where = str(candles)
            df = read_candles(candles)
        else:
            df = candles_frame(candles, where)
        if len(df) < 3:
            raise StressInputError(f"{where}: need at least 3 candles to bootstrap returns", field="candles")
        ms = ms_of(df["date"])
        gaps = np.diff(ms)
        step_ms = int(pd.Series(gaps).mode().iloc[0])
        close = df["close"].to_numpy(dtype=float)
        r = np.diff(np.log(close))[gaps == step_ms]
        return cls(r, pd.Timedelta(milliseconds=step_ms), where)

    def kernel(self, dt: float) -> dict[str, Any]:
        return {"model": BOOTSTRAP, "returns": self.returns}

    def describe(self) -> str:
        return f"bootstrap of {self.returns.size} {short_duration(self.step)} returns from {Path(self.source).name}"


def short_duration(d: pd.Timedelta) -> str:
    """``30d``, ``4h``, ``15m`` or seconds: the largest whole unit."""
    s = int(d.total_seconds())
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


PriceModel = GBMModel | MertonModel | BootstrapModel


def steps_of(model: PriceModel, horizon: pd.Timedelta, step: pd.Timedelta | None) -> tuple[pd.Timedelta, int]:
    """The step and the number of steps covering ``horizon``; the bootstrap's step is its candles' interval."""
    if isinstance(model, BootstrapModel):
        if step is not None and step != model.step:
            raise StressInputError(f"step: the bootstrap steps by its candles' interval "
                                   f"({short_duration(model.step)}), not {short_duration(step)}", field="step")
        step = model.step
    step = step if step is not None else pd.Timedelta(hours=1)
    n = horizon / step
    if n < 1 or abs(n - round(n)) > 1e-9:
        raise StressInputError(f"horizon: {short_duration(horizon)} is not a whole number of "
                               f"{short_duration(step)} steps", field="horizon")
    return step, round(float(n))


__all__ = ["YEAR", "BootstrapModel", "GBMModel", "MertonModel", "PriceModel", "StressInputError", "duration",
           "short_duration",
           "steps_of"]
