"""Price paths for the stress test, generated in compiled code (numba).

A path is the log of the mark relative to its start, ``x_t = ln(S_t / S_0)``, advanced one step at a time:

* GBM: ``x += (μ − σ²/2)·dt + σ·√dt·Z``.
* Merton jump-diffusion (Merton 1976, "Option pricing when underlying stock returns are discontinuous"): the GBM
  step plus ``N ~ Poisson(λ·dt)`` jumps, each ``ln(1 + J) ~ Normal(μ_J, σ_J²)``; the drift is compensated by
  ``λ·κ·dt`` with ``κ = exp(μ_J + σ_J²/2) − 1`` so the expected return stays ``μ``.
* Bootstrap: ``x += r`` with ``r`` drawn uniformly, with replacement, from given log returns.

Working in log space needs no ``exp`` per step: a barrier ``B`` is the level ``ln(B / S_0)``. Only the running
minimum, the running maximum and the level itself are kept, at the given checkpoint steps: a path touched a lower
barrier ``b`` by checkpoint ``k`` exactly when its running minimum there is ``≤ b``, so one simulation answers every
barrier (every leverage, every venue) and every horizon.

The generator is numba's Mersenne Twister, seeded per call: a seed gives the same paths on every run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: model codes of :func:`simulate`
GBM, MERTON, BOOTSTRAP = 0, 1, 2


@njit(cache=True)
def _simulate(
    model: int,
    n_paths: int,
    checkpoints: np.ndarray,
    drift: float,
    vol: float,
    jump_rate: float,
    jump_mean: float,
    jump_vol: float,
    returns: np.ndarray,
    seed: int,
    lo: np.ndarray,
    hi: np.ndarray,
    level: np.ndarray,
) -> None:
    np.random.seed(seed)
    n_returns = returns.shape[0]
    n_checks = checkpoints.shape[0]
    for p in range(n_paths):
        x = 0.0
        mn = 0.0
        mx = 0.0
        step = 0
        for k in range(n_checks):
            end = checkpoints[k]
            while step < end:
                if model == BOOTSTRAP:
                    x += returns[np.random.randint(0, n_returns)]
                else:
                    x += drift + vol * np.random.standard_normal()
                    if model == MERTON:
                        n = np.random.poisson(jump_rate)
                        if n > 0:
                            x += n * jump_mean + np.sqrt(n) * jump_vol * np.random.standard_normal()
                mn = min(mn, x)
                mx = max(mx, x)
                step += 1
            lo[p, k] = mn
            hi[p, k] = mx
            level[p, k] = x


def simulate(
    model: int,
    n_paths: int,
    checkpoints: np.ndarray,
    *,
    drift: float = 0.0,
    vol: float = 0.0,
    jump_rate: float = 0.0,
    jump_mean: float = 0.0,
    jump_vol: float = 0.0,
    returns: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_paths`` paths of log prices; per path and checkpoint (a step count, increasing): the running minimum,
    the running maximum and the level, each ``(n_paths, len(checkpoints))``.

    ``drift`` and ``vol`` are per step (``(μ − σ²/2 − λκ)·dt`` and ``σ·√dt``), ``jump_rate`` is ``λ·dt``; the
    caller converts from annual figures (:mod:`margincall.stress.models`).
    """
    cps = np.ascontiguousarray(checkpoints, dtype=np.int64)
    if cps.ndim != 1 or cps.size == 0 or cps[0] < 1 or np.any(np.diff(cps) <= 0):
        raise ValueError("checkpoints must be increasing step counts ≥ 1")
    rets = np.zeros(1) if returns is None else np.ascontiguousarray(returns, dtype=np.float64)
    if model == BOOTSTRAP and (returns is None or rets.size == 0):
        raise ValueError("the bootstrap needs returns")
    shape = (n_paths, cps.size)
    lo, hi, level = np.empty(shape), np.empty(shape), np.empty(shape)
    _simulate(model, n_paths, cps, drift, vol, jump_rate, jump_mean, jump_vol, rets, seed, lo, hi, level)
    return lo, hi, level


def warm_up() -> None:
    """Compile (or load from numba's disk cache) the kernel with every model, outside any timed region."""
    cps = np.array([1, 2], dtype=np.int64)
    for model in (GBM, MERTON, BOOTSTRAP):
        simulate(model, 2, cps, vol=0.01, jump_rate=0.1, jump_vol=0.01, returns=np.array([0.0, 0.01]))


__all__ = ["BOOTSTRAP", "GBM", "MERTON", "simulate", "warm_up"]
