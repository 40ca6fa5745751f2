"""The probability that a scenario (the calculator's: one account on one venue) is liquidated within a horizon.

One symbol's mark follows the price model from the scenario's mark (the other symbols' marks stay where the
scenario puts them). The calculator gives each position on that symbol its liquidation price (isolated: its own;
cross: the account's, the other positions held); a path liquidates the position when its mark touches that price
— at or below it for a long, at or above it for a short — at any step up to the horizon. The account is
liquidated when any of its positions is.

The paths are floats; a path whose extreme lies within :data:`NEAR` (relative) of a liquidation price is decided
again by the exact rule: the scenario evaluated in Decimal with the mark at the path's extreme, liquidatable when
its equity (isolated: the position's margin plus PnL; cross: the account's) is at most its maintenance margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.calculator.evaluate import CalcResult, evaluate
from margincall.calculator.scenario import SECTIONS, Scenario, parse_scenario
from margincall.stress.models import YEAR, PriceModel, StressInputError, steps_of
from margincall.stress.paths import simulate

#: relative distance of a path's extreme from a liquidation price within which the exact rule decides
NEAR = 1e-9
#: quantiles of the fan chart
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True, slots=True)
class Barrier:
    """A position's liquidation price and the side the mark reaches it from (-1: from above, a long's)."""

    index: int
    side: str
    margin_mode: str
    liquidation_price: Decimal
    liquidation_price_unrounded: Decimal
    direction: int


@dataclass(frozen=True, slots=True)
class StressResult:
    """Liquidation probabilities at each checkpoint (per position on the driven symbol, and the account's) with
    the fan of mark quantiles. ``steps`` are step counts; the horizon at a checkpoint is ``steps × step``."""

    venue: str
    symbol: str
    start: float
    model: str
    step: pd.Timedelta
    steps: np.ndarray
    paths: int
    seed: int
    barriers: tuple[Barrier, ...]
    position_hits: np.ndarray  # (n_barriers, n_checkpoints): paths liquidated by the checkpoint
    account_hits: np.ndarray  # (n_checkpoints,)
    fan: np.ndarray = field(repr=False)  # (len(FAN_QUANTILES), n_checkpoints) mark quantiles
    confirmed: int = 0  # path extremes decided by the exact rule
    overturned: int = 0  # of which the float screen had decided the other way

    def probabilities(self) -> pd.DataFrame:
        """One row per checkpoint: ``horizon`` (Timedelta), ``steps``, ``account`` probability and its standard
        error ``account_se``, and ``position_<i>`` for each position on the symbol (``i`` its scenario index)."""
        p = self.account_hits / self.paths
        df = pd.DataFrame({"horizon": self.steps * self.step, "steps": self.steps, "account": p,
                           "account_se": np.sqrt(p * (1 - p) / self.paths)})
        for b, hits in zip(self.barriers, self.position_hits, strict=True):
            df[f"position_{b.index}"] = hits / self.paths
        return df

    def fan_frame(self) -> pd.DataFrame:
        """The mark's quantiles across paths at each checkpoint (``q05 … q95``)."""
        df = pd.DataFrame({"horizon": self.steps * self.step, "steps": self.steps})
        for q, row in zip(FAN_QUANTILES, self.fan, strict=True):
            df[f"q{round(q * 100):02d}"] = row
        return df


def _scenario(data: Scenario | str | bytes | dict[str, Any]) -> Scenario:
    """The scenario, refused without positions or with question sections (a price path moves neither)."""
    sc = data if isinstance(data, Scenario) else parse_scenario(data)
    if not sc.positions:
        raise StressInputError("positions: a stress test needs at least one position", field="positions")
    for name in SECTIONS:
        if getattr(sc, name) is not None:
            raise StressInputError(f"{name}: a stress test moves the positions' mark; leave the section out",
                                   code="unused_input", field=name)  # fmt: skip
    return sc


def _driven(scenario: Scenario, symbol: str | None) -> tuple[str, Decimal]:
    symbols = sorted({p.symbol for p in scenario.positions})
    if symbol is None:
        if len(symbols) > 1:
            raise StressInputError(f"symbol: the scenario holds {', '.join(symbols)}; name the one whose price moves",
                                   field="symbol")
        symbol = symbols[0]
    elif symbol not in symbols:
        raise StressInputError(f"symbol: {symbol} is not in the scenario's positions ({', '.join(symbols)})",
                               field="symbol")
    marks = {p.mark_price if p.mark_price is not None else p.entry_price for p in scenario.positions
             if p.symbol == symbol}
    if len(marks) > 1:
        raise StressInputError(f"positions: the {symbol} positions have different marks; give one mark_price",
                               field="positions.mark_price")
    return symbol, marks.pop()


def at_mark(scenario: Scenario, symbol: str, mark: Decimal) -> CalcResult:
    """The scenario evaluated with ``symbol``'s mark at ``mark``."""
    positions = [p.model_copy(update={"mark_price": mark}) if p.symbol == symbol else p for p in scenario.positions]
    return evaluate(scenario.model_copy(update={"positions": positions}))


def liquidatable(result: CalcResult, index: int) -> bool:
    """The exact rule: the position's equity (cross: the account's) is at most its maintenance margin."""
    p = result.positions[index]
    if p.position_margin is not None:
        return p.position_margin + p.unrealized_pnl <= p.maintenance_margin
    return result.account.equity <= result.account.maintenance_margin


def _checkpoints(n_steps: int, n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_steps, min(n, n_steps) + 1).round().astype(np.int64)[1:])


def run_stress(scenario: Scenario | str | bytes | dict[str, Any], model: PriceModel, horizon: pd.Timedelta, *,
               step: pd.Timedelta | None = None, paths: int = 20_000, seed: int = 0, symbol: str | None = None,
               checkpoints: int = 48) -> StressResult:
    """Simulate ``paths`` mark paths over ``horizon`` and count the liquidations (module docstring)."""
    if paths < 1:
        raise StressInputError(f"paths: must be at least 1, got {paths}", field="paths")
    sc = _scenario(scenario)
    sym, start = _driven(sc, symbol)
    step, n_steps = steps_of(model, horizon, step)
    base = evaluate(sc)
    cps = _checkpoints(n_steps, checkpoints)
    lo, hi, level = simulate(n_paths=paths, checkpoints=cps, seed=seed, **model.kernel(step / YEAR))
    s0 = float(start)
    barriers: list[Barrier] = []
    hits: list[np.ndarray] = []
    exact: dict[tuple[int, float], bool] = {}
    confirmed = overturned = 0
    for i, (p_in, res) in enumerate(zip(sc.positions, base.positions, strict=True)):
        if p_in.symbol != sym or res.liquidation_price_unrounded is None or res.liquidation_price is None:
            continue
        unr = res.liquidation_price_unrounded
        direction = -1 if unr < start else 1
        barriers.append(Barrier(i, res.side, res.margin_mode, res.liquidation_price, unr, direction))
        if liquidatable(base, i):
            hits.append(np.ones_like(lo, dtype=bool))
            continue
        if unr <= 0:  # a multiplicative path never reaches zero or below
            hits.append(np.zeros_like(lo, dtype=bool))
            continue
        b = math.log(float(unr) / s0)
        ext = lo if direction < 0 else hi
        hit = ext <= b if direction < 0 else ext >= b
        for r, c in zip(*np.nonzero(np.abs(ext - b) <= NEAR * max(1.0, abs(b))), strict=True):
            x = float(ext[r, c])
            if (i, x) not in exact:
                exact[(i, x)] = liquidatable(at_mark(sc, sym, Decimal(repr(s0 * math.exp(x)))), i)
            confirmed += 1
            overturned += int(exact[(i, x)] != bool(hit[r, c]))
            hit[r, c] = exact[(i, x)]
        hits.append(hit)
    if hits:
        position_hits = np.stack([h.sum(axis=0) for h in hits])
        account_hits = np.logical_or.reduce(hits).sum(axis=0)
    else:
        position_hits = np.zeros((0, cps.size), dtype=np.int64)
        account_hits = np.zeros(cps.size, dtype=np.int64)
    fan = s0 * np.exp(np.quantile(level, FAN_QUANTILES, axis=0))
    return StressResult(base.venue, sym, s0, model.describe(), step, cps, paths, seed, tuple(barriers),
                        position_hits, account_hits, fan, confirmed, overturned)


__all__ = ["FAN_QUANTILES", "NEAR", "Barrier", "StressResult", "at_mark", "liquidatable", "run_stress"]
