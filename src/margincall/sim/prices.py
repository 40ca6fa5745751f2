"""A seeded synthetic price path: drift, then a crash, then a rebound — the same shape for every symbol.

The path is a list of *steps*; at each step every symbol has a mark. Phases (fractions of the steps):

* **drift** — small up-drift with noise (log-returns ``+0.15 % ± 0.25 %`` a step), which squeezes the most
  leveraged shorts;
* **crash** — the mark falls to ``peak × (1 − depth)`` with ``depth`` drawn per symbol in ``[15 %, 25 %]``; the
  fall opens with a flash gap of 5–7 % and is uneven, in small steps, after it; the gap makes positions jump past their
  bankruptcy price between two marks — the insurance fund pays until it is empty, then ADL happens;
* **rebound** — back up by 40–60 % of the fall, with noise.

Prices are drawn with :class:`random.Random` (statistics, so floats), then turned into ``Decimal`` on the
symbol's tick (half-up) — what the engine sees is exact and reproducible from the seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from margincall.model.errors import MarginCallError


@dataclass(frozen=True, slots=True)
class PathShape:
    """How many steps each phase takes."""

    drift_steps: int = 16
    crash_steps: int = 24
    rebound_steps: int = 20
    min_depth: float = 0.15
    max_depth: float = 0.25

    def __post_init__(self) -> None:
        for name in ("drift_steps", "crash_steps", "rebound_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise MarginCallError(f"{name}: expected an integer ≥ 1, got {v!r}", field=name)
        if not 0 < self.min_depth <= self.max_depth < 0.9:
            raise MarginCallError("depth: expected 0 < min_depth ≤ max_depth < 0.9", field="min_depth")

    @property
    def steps(self) -> int:
        return self.drift_steps + self.crash_steps + self.rebound_steps

    def phase(self, step: int) -> str:
        """``"drift"``, ``"crash"`` or ``"rebound"`` for step ``step`` (0-based; beyond the end: ``"calm"``)."""
        if step < self.drift_steps:
            return "drift"
        if step < self.drift_steps + self.crash_steps:
            return "crash"
        if step < self.steps:
            return "rebound"
        return "calm"


def on_tick(price: float, tick: Decimal) -> Decimal:
    """``price`` rounded half-up to a multiple of ``tick`` (at least one tick)."""
    q = (Decimal(repr(price)) / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(q, Decimal(1)) * tick


def crash_path(rng: random.Random, start: float, shape: PathShape) -> list[float]:
    """One symbol's marks (floats, before tick rounding) for every step of ``shape``."""
    out: list[float] = []
    p = start
    for _ in range(shape.drift_steps):
        p *= math.exp(rng.gauss(0.0015, 0.0025))
        out.append(p)
    peak = p
    depth = rng.uniform(shape.min_depth, shape.max_depth)
    bottom = peak * (1 - depth)
    # the crash opens with a flash gap of 5-7 % (before liquidations have refilled the fund: the fund pays until
    # it is empty, then ADL); the rest of the fall is uneven but in small steps, so large positions are caught
    # near their maintenance margin and stepped down tier by tier
    n = shape.crash_steps
    total_log = math.log(bottom / peak)
    if n > 1:
        opening = math.log(1 - rng.uniform(0.05, 0.07))
        p *= math.exp(opening)
        out.append(p)
        total_log -= opening
        n -= 1
    weights = [rng.uniform(0.3, 1.0) for _ in range(n)]
    s = sum(weights)
    for w in weights:
        p *= math.exp(total_log * w / s)
        out.append(p)
    target = bottom + (peak - bottom) * rng.uniform(0.4, 0.6)
    m = shape.rebound_steps
    for i in range(m):
        # geometric approach to the target with noise
        want = bottom * (target / bottom) ** ((i + 1) / m)
        p = want * math.exp(rng.gauss(0, 0.002))
        out.append(p)
    return out


def calm_step(rng: random.Random, price: float, anchor: float) -> float:
    """After the scripted path: a mean-reverting random walk around ``anchor`` (±0.2 % a step)."""
    pull = 0.05 * math.log(anchor / price)
    return price * math.exp(pull + rng.gauss(0, 0.002))
