"""The safe-leverage advisor: the highest leverage whose liquidation probability over a horizon stays below ``p``,
on every venue profile side by side.

The position is priced at each whole leverage on each venue by :func:`margincall.calculator.compare.compare_venues`
(each venue's default formula, its built-in market or the one tier given). Isolated: the margin is the entry
notional over the leverage. Cross: the wallet is the entry notional over the leverage (an account holding this
position only). One set of paths serves every venue and leverage (common random numbers), so the venues differ
only by their rules: a leverage's probability is the share of paths whose running extreme over the horizon reaches
its liquidation price (a path within :data:`~margincall.stress.run.NEAR` of it is decided by comparing the
path's mark, in Decimal, with the unrounded liquidation price — where the position's equity equals its
maintenance margin).

The safe leverage is the highest ``L`` such that every leverage from 1 to ``L`` prices on the venue with a
probability below ``p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.calculator.compare import compare_venues
from margincall.stress.models import YEAR, PriceModel, StressInputError, steps_of
from margincall.stress.paths import simulate
from margincall.stress.run import NEAR


@dataclass(frozen=True, slots=True)
class VenueAdvice:
    venue: str
    symbol: str
    safe_leverage: int | None
    probability: float | None  # at the safe leverage
    liquidation_price: Decimal | None  # at the safe leverage
    next_probability: float | None  # at the next leverage, when it prices
    searched_to: int  # the highest leverage priced on the venue (the search stops once the probability reaches p)
    note: str


@dataclass(frozen=True, slots=True)
class Advice:
    p: float
    horizon: pd.Timedelta
    model: str
    paths: int
    venues: tuple[VenueAdvice, ...]
    curve: pd.DataFrame  # venue, leverage, liquidation_price, probability

    def table(self) -> pd.DataFrame:
        """One row per venue (the notebook view)."""
        return pd.DataFrame([{f: getattr(v, f) for f in VenueAdvice.__slots__} for v in self.venues])


def _probability(lo: np.ndarray, hi: np.ndarray, s0: float, liq: Decimal, direction: int) -> float:
    if liq <= 0:
        return 0.0
    b = math.log(float(liq) / s0)
    ext = lo if direction < 0 else hi
    hit = ext <= b if direction < 0 else ext >= b
    for r in np.nonzero(np.abs(ext - b) <= NEAR * max(1.0, abs(b)))[0]:
        mark = Decimal(repr(s0 * math.exp(float(ext[r]))))
        hit[r] = mark <= liq if direction < 0 else mark >= liq
    return float(hit.mean())


def advise(template: dict[str, Any], model: PriceModel, horizon: pd.Timedelta, p: float, *,
           step: pd.Timedelta | None = None, paths: int = 20_000, seed: int = 0, max_leverage: int = 125) -> Advice:
    """The safe leverage on every venue (module docstring) for the one position of ``template`` (a calculator
    scenario dict; its ``venue``, ``formula`` and the position's ``leverage`` are set per venue and leverage)."""
    if not 0 < p < 1:
        raise StressInputError(f"p: must be between 0 and 1, got {p}", field="p")
    positions = template.get("positions") or []
    if len(positions) != 1:
        raise StressInputError("positions: the advisor takes exactly one position", field="positions")
    pos = dict(positions[0])
    mode = pos.get("margin_mode", "cross")
    for name, where in (("isolated_margin", pos), ("extra_margin", pos), ("wallet_balance", template)):
        if name in where:
            raise StressInputError(f"{name}: the advisor sets the collateral from the leverage (notional over "
                                   "leverage); leave it out", field=name)
    entry = Decimal(str(pos["entry_price"]))
    start = Decimal(str(pos.get("mark_price", pos["entry_price"])))
    notional = Decimal(str(pos["size"])) * entry
    step, n_steps = steps_of(model, horizon, step)
    lo, hi, _ = simulate(n_paths=paths, checkpoints=np.array([n_steps]), seed=seed, **model.kernel(step / YEAR))
    lo, hi = lo[:, 0], hi[:, 0]
    s0 = float(start)
    direction = -1 if pos["side"] == "long" else 1
    base = {k: v for k, v in template.items() if k not in ("venue", "formula", "positions")}
    rows: list[dict[str, Any]] = []
    open_venues: set[str] | None = None
    for lev in range(1, max_leverage + 1):
        scenario = dict(base, positions=[dict(pos, leverage=str(lev))])
        if mode == "cross":
            scenario["wallet_balance"] = str(notional / lev)
        comparison = compare_venues(scenario)
        if open_venues is None:
            open_venues = {r.venue for r in comparison.rows}
        for r in comparison.rows:
            if r.venue not in open_venues:
                continue
            if r.result is None:
                open_venues.discard(r.venue)
                rows.append({"venue": r.venue, "symbol": r.symbol, "leverage": lev, "liquidation_price": None,
                             "probability": None, "error": r.error})
                continue
            liq = r.result.liquidation_price_unrounded  # None: no price liquidates the position
            prob = 0.0 if liq is None else _probability(lo, hi, s0, liq, direction)
            rows.append({"venue": r.venue, "symbol": r.symbol, "leverage": lev,
                         "liquidation_price": r.result.liquidation_price, "probability": prob, "error": None})
            if prob >= p:
                open_venues.discard(r.venue)
        if not open_venues:
            break
    curve = pd.DataFrame(rows, columns=["venue", "symbol", "leverage", "liquidation_price", "probability", "error"])
    return Advice(p, horizon, model.describe(), paths, tuple(_venue(g, p) for _, g in curve.groupby("venue",
                                                                                                   sort=False)), curve)


def _venue(g: pd.DataFrame, p: float) -> VenueAdvice:
    priced = g[g["error"].isna()]
    safe = priced[priced["probability"] < p]
    name, symbol = str(g["venue"].iloc[0]), str(g["symbol"].iloc[0])
    top = int(priced["leverage"].max()) if len(priced) else 0
    if safe.empty:
        why = "no leverage priced" if priced.empty else f"liquidation probability ≥ {p:g} even at 1x"
        err = g["error"].dropna()
        return VenueAdvice(name, symbol, None, None, None, None, top, str(err.iloc[0]) if len(err) else why)
    best = safe.iloc[-1]
    after = priced[priced["leverage"] == best["leverage"] + 1]
    err = g[g["leverage"] == best["leverage"] + 1]["error"].dropna()
    note = (f"{int(best['leverage']) + 1}x: {err.iloc[0]}" if len(err) else
            "" if len(after) else f"the search stops at {int(best['leverage'])}x")
    return VenueAdvice(name, symbol, int(best["leverage"]), float(best["probability"]), best["liquidation_price"],
                       float(after["probability"].iloc[0]) if len(after) else None, top, note)


__all__ = ["Advice", "VenueAdvice", "advise"]
