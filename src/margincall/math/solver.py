"""Exact generic liquidation/bankruptcy price solver for one symbol of an account.

The question every venue's liquidation price answers: at which price of one symbol, all other marks
fixed, does the account's equity equal its maintenance requirement (docs/venues.md §3.3 derivation check:
``WB' + s·Q·(LP − EP) = Q·LP·MMR − cum``; §12.2)? For the legs of that symbol we work in the variable
``u = P`` (linear) or ``u = 1/P`` (inverse): PnL and notional are then both linear in ``u``
(linear PnL ``s·Q·(u − EP)``, inverse PnL ``s·Q·(1/EP − u)``, notional ``Q·u`` in both), so within
one combination of tiers ``f(u) = equity − MM`` is exactly linear. Tier boundaries in ``u`` are
``floor / Q``. We solve each segment exactly in ``Decimal`` — no bisection — and detect jumps at
boundaries (whole-position tiers, §2.2).

``f(u) = constant + Σ_legs [PnL_leg(u) − MM_leg(u)]``; ``constant`` carries the wallet, other
symbols' PnL and MM, and any constant requirement (Bybit's estimated fee to close).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from margincall.math.margin import mm_for_notional
from margincall.model.enums import ContractKind, TierBasis
from margincall.model.numbers import ONE, ZERO
from margincall.model.tiers import TierTable


@dataclass(frozen=True, slots=True)
class Leg:
    """One position of the symbol being solved for (hedge mode has two)."""

    kind: ContractKind
    sign: int
    qty: Decimal
    entry_price: Decimal
    tiers: TierTable | None  # None: no maintenance requirement (bankruptcy)
    contract_size: Decimal = ONE
    fee_rate: Decimal = ZERO

    def _tier_key(self, u: Decimal) -> Decimal:
        assert self.tiers is not None
        if self.tiers.basis is TierBasis.CONTRACTS:
            return self.qty / self.contract_size
        return self.qty * u

    def coefficients(self, u_sample: Decimal) -> tuple[Decimal, Decimal]:
        """``(a, b)`` with ``PnL(u) − MM(u) = a + b·u`` in the tier holding ``u_sample``."""
        s, q = self.sign, self.qty
        if self.kind is ContractKind.LINEAR:
            a, b = -s * q * self.entry_price, s * q
        else:
            a, b = s * q / self.entry_price, -s * q
        if self.tiers is not None:
            tier = self.tiers.tier_for(self._tier_key(u_sample))
            # MM is affine in notional = Q·u; read its intercept and slope off the one MM formula.
            mm_at_zero = mm_for_notional(self.tiers, tier, ZERO, self.fee_rate)
            a -= mm_at_zero
            b -= mm_for_notional(self.tiers, tier, q, self.fee_rate) - mm_at_zero
        return a, b

    def breakpoints(self) -> list[Decimal]:
        """Values of ``u`` at which this leg's tier changes."""
        if self.tiers is None or self.tiers.basis is TierBasis.CONTRACTS:
            return []
        return [floor / self.qty for floor in self.tiers.boundaries()]


@dataclass(frozen=True, slots=True)
class PriceSolution:
    """Result of the solver in price space.

    ``price``: the liquidation (or bankruptcy) price in the direction the account is exposed
    (net long → below the mark; net short → above), or ``None`` when there is none (e.g. a 1x long
    whose equity never reaches its MM above price 0). ``lower``/``upper``: the nearest roots below and
    above the mark. ``triggered``: equity ≤ requirement already at the mark.
    """

    price: Decimal | None
    lower: Decimal | None
    upper: Decimal | None
    triggered: bool


def _f(legs: Sequence[Leg], constant: Decimal, u: Decimal, sample: Decimal | None = None) -> Decimal:
    total = constant
    for leg in legs:
        a, b = leg.coefficients(u if sample is None else sample)
        total += a + b * u
    return total


def _segments(legs: Sequence[Leg]) -> list[tuple[Decimal, Decimal | None]]:
    points = sorted({p for leg in legs for p in leg.breakpoints() if p > 0})
    bounds: list[Decimal] = [ZERO, *points]
    return [(lo, bounds[i + 1] if i + 1 < len(bounds) else None) for i, lo in enumerate(bounds)]


def _roots_u(legs: Sequence[Leg], constant: Decimal) -> list[Decimal]:
    """All ``u > 0`` where ``f`` crosses (or touches) zero, including jumps across zero at boundaries."""
    roots: list[Decimal] = []
    prev_right: Decimal | None = None  # f just left of the current segment's lower bound
    for lo, hi in _segments(legs):
        sample = (lo + hi) / 2 if hi is not None else (lo * 2 if lo > 0 else ONE)
        a = constant
        b = ZERO
        for leg in legs:
            la, lb = leg.coefficients(sample)
            a += la
            b += lb
        f_lo = a + b * lo
        if prev_right is not None and lo > 0 and (prev_right > 0) != (f_lo > 0) and f_lo != 0:
            roots.append(lo)  # a jump across zero at a tier boundary (whole-position tiers)
        if b != 0:
            u = -a / b
            if u > lo and (hi is None or u <= hi) and u > 0:
                roots.append(u)
        elif a == 0:
            roots.append(lo if lo > 0 else (hi if hi is not None else ONE))
        if hi is not None:
            prev_right = a + b * hi
    return sorted(set(roots))


def solve_price(
    legs: Sequence[Leg],
    constant: Decimal,
    mark: Decimal,
) -> PriceSolution:
    """Solve ``equity = requirement`` for the price of the legs' symbol, exactly.

    ``constant`` = wallet + other symbols' PnL − other symbols' MM − constant requirements. Pass legs
    with ``tiers=None`` to get the bankruptcy price (equity = 0, docs/venues.md §3.5).
    """
    if not legs:
        raise ValueError("solve_price needs at least one leg")
    kind = legs[0].kind
    inverse = kind is ContractKind.INVERSE

    def to_price(u: Decimal) -> Decimal:
        return ONE / u if inverse else u

    u_mark = ONE / mark if inverse else mark
    roots = sorted(to_price(u) for u in _roots_u(legs, constant))
    value_at_mark = _f(legs, constant, u_mark)
    triggered = value_at_mark <= 0
    lower = max((r for r in roots if r <= mark), default=None)
    upper = min((r for r in roots if r >= mark), default=None)

    # Which way the account loses: the sign of d(equity − requirement)/dP at the mark.
    eps = mark / Decimal(10**9)
    up_val = _f(legs, constant, ONE / (mark + eps) if inverse else mark + eps)
    slope = up_val - value_at_mark
    if slope > 0:  # loses as price falls
        price = lower if not triggered else upper
    elif slope < 0:
        price = upper if not triggered else lower
    else:
        candidates = [r for r in (lower, upper) if r is not None]
        price = min(candidates, key=lambda r: abs(r - mark)) if candidates else None
    if price is None and triggered:
        price = lower if lower is not None else upper
    return PriceSolution(price=price, lower=lower, upper=upper, triggered=triggered)
