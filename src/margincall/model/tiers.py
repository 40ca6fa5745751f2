"""Tier tables (leverage brackets, risk limits, margin tiers).

docs/venues.md §2.1: with tax-bracket tiers ``MM(N) = N·MMR_n − cum_n`` where
``cum_1 = 0`` and ``cum_n = F_n·(MMR_n − MMR_{n−1}) + cum_{n−1}`` — exactly what makes MM continuous
at every floor ``F_n``. Binance calls ``cum`` the "maintenance amount", Bybit the "MM deduction",
Hyperliquid the "maintenance deduction". §2.2: OKX puts the whole position at its tier's rate
with no deduction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from margincall.model.enums import TierBasis, TierMode
from margincall.model.errors import TierTableError
from margincall.model.numbers import ONE, ZERO, NumberLike, non_negative, positive, to_decimal

#: A given maintenance amount may differ from the recursion by at most this much (venues publish exact
#: values; this only absorbs float artefacts such as ``50.00000000001`` in API dumps).
AMOUNT_TOLERANCE = Decimal("1e-6")


def next_maintenance_amount(prev_amount: Decimal, floor: Decimal, mmr: Decimal, prev_mmr: Decimal) -> Decimal:
    """``cum_n = F_n·(MMR_n − MMR_{n−1}) + cum_{n−1}`` (docs/venues.md §2.1; Binance FAQ "Level 3 amount")."""
    return prev_amount + floor * (mmr - prev_mmr)


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: applies to amounts in ``[floor, cap)`` (or ``(floor, cap]`` if the table says so).

    ``cap`` is ``None`` for an open-ended last tier. ``imr`` defaults to ``1 / max_leverage``.
    """

    floor: Decimal
    cap: Decimal | None
    mmr: Decimal
    max_leverage: Decimal
    maintenance_amount: Decimal = ZERO
    imr: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TierSpec:
    """Loosely typed tier input; ``maintenance_amount`` may be omitted and is then derived."""

    floor: NumberLike
    cap: NumberLike | None
    mmr: NumberLike
    max_leverage: NumberLike
    maintenance_amount: NumberLike | None = None
    imr: NumberLike | None = None


@dataclass(frozen=True, slots=True)
class TierTable:
    """An ordered, gap-free tier table. Build with :meth:`build` to validate and derive amounts."""

    tiers: tuple[Tier, ...]
    mode: TierMode = TierMode.BRACKET
    basis: TierBasis = TierBasis.NOTIONAL
    cap_inclusive: bool = False
    source: str = ""
    as_of: str = ""
    _floors: tuple[Decimal, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.tiers:
            raise TierTableError("a tier table needs at least one tier")
        object.__setattr__(self, "_floors", tuple(t.floor for t in self.tiers))

    @classmethod
    def build(
        cls,
        specs: Iterable[TierSpec | Tier],
        *,
        mode: TierMode = TierMode.BRACKET,
        basis: TierBasis = TierBasis.NOTIONAL,
        cap_inclusive: bool = False,
        source: str = "",
        as_of: str = "",
    ) -> TierTable:
        """Validate ``specs`` and derive missing maintenance amounts.

        Rejects: no tiers; a first floor other than 0; a gap or overlap between one tier's cap and the
        next floor; a cap not above its floor; a rate that decreases; a rate outside (0, 1]; a given
        maintenance amount that breaks continuity (bracket mode) or is non-zero (whole-position mode).
        """
        raw = list(specs)
        if not raw:
            raise TierTableError("a tier table needs at least one tier")
        tiers: list[Tier] = []
        prev: Tier | None = None
        for i, spec in enumerate(raw, start=1):
            where = f"tier {i}"
            floor = non_negative(spec.floor, f"{where} floor")
            cap = None if spec.cap is None else positive(spec.cap, f"{where} cap")
            mmr = positive(spec.mmr, f"{where} mmr")
            if mmr > ONE:
                raise TierTableError(f"{where}: mmr {mmr} is above 100%")
            max_lev = positive(spec.max_leverage, f"{where} max_leverage")
            imr = None if spec.imr is None else positive(spec.imr, f"{where} imr")
            if cap is not None and cap <= floor:
                raise TierTableError(f"{where}: cap {cap} is not above floor {floor}")
            if prev is None:
                if floor != ZERO:
                    raise TierTableError(f"{where}: the first tier must start at 0, not {floor}")
                derived = ZERO
            else:
                if prev.cap is None:
                    raise TierTableError(f"tier {i - 1} is open-ended but tier {i} follows it")
                if floor > prev.cap:
                    raise TierTableError(f"gap between tier {i - 1} (cap {prev.cap}) and {where} (floor {floor})")
                if floor < prev.cap:
                    raise TierTableError(f"overlap between tier {i - 1} (cap {prev.cap}) and {where} (floor {floor})")
                if mmr < prev.mmr:
                    raise TierTableError(f"{where}: mmr {mmr} is lower than tier {i - 1}'s {prev.mmr}")
                derived = prev.maintenance_amount + floor * (mmr - prev.mmr) if mode is TierMode.BRACKET else ZERO
            given = spec.maintenance_amount
            if given is None:
                amount = derived
            else:
                amount = to_decimal(given, f"{where} maintenance_amount")
                if abs(amount - derived) > AMOUNT_TOLERANCE * max(ONE, abs(derived)):
                    rule = (
                        "MM must be continuous: amount = floor × (mmr − previous mmr) + previous amount"
                        if mode is TierMode.BRACKET
                        else "whole-position tiers take no deduction"
                    )
                    raise TierTableError(f"{where}: maintenance amount {amount} should be {derived} ({rule})")
                amount = derived if mode is TierMode.WHOLE_POSITION else amount
            tier = Tier(floor, cap, mmr, max_lev, amount, imr)
            tiers.append(tier)
            prev = tier
        return cls(tuple(tiers), mode, basis, cap_inclusive, source, as_of)

    @classmethod
    def single(
        cls, mmr: NumberLike, maintenance_amount: NumberLike | None = None, max_leverage: NumberLike = 125
    ) -> TierTable:
        """A one-tier, open-ended table (an instrument given as just ``mmr`` and ``maintenance_amount``).

        With one tier there is no continuity to check: the amount is taken as given, so a published
        example's single bracket (e.g. V1: 2.5 % with cum 16,300) can be replayed on its own.
        """
        rate = positive(mmr, "mmr")
        if rate > ONE:
            raise TierTableError(f"mmr {rate} is above 100%")
        amount = ZERO if maintenance_amount is None else to_decimal(maintenance_amount, "maintenance_amount")
        return cls((Tier(ZERO, None, rate, positive(max_leverage, "max_leverage"), amount),))

    # ----------------------------------------------------------------------------------------- lookup
    def index_for(self, amount: Decimal) -> int:
        """Index of the tier holding ``amount`` (notional or contracts per :attr:`basis`).

        Amounts past the last cap fall in the last tier: the math extrapolates it, and callers that must
        refuse such a position check :meth:`exceeds`.
        """
        lo, hi = 0, len(self.tiers) - 1
        # Binary search for the last tier whose floor is <= amount (or < amount if caps are inclusive).
        while lo < hi:
            mid = (lo + hi + 1) // 2
            f = self._floors[mid]
            if f < amount or (f == amount and not self.cap_inclusive):
                lo = mid
            else:
                hi = mid - 1
        return lo

    def tier_for(self, amount: Decimal) -> Tier:
        return self.tiers[self.index_for(amount)]

    def exceeds(self, amount: Decimal) -> bool:
        """True when ``amount`` is beyond the largest tier's cap."""
        cap = self.tiers[-1].cap
        if cap is None:
            return False
        return amount > cap if self.cap_inclusive else amount >= cap

    @property
    def max_leverage(self) -> Decimal:
        return self.tiers[0].max_leverage

    def boundaries(self) -> tuple[Decimal, ...]:
        """Tier floors above zero: the amounts at which the tier changes."""
        return self._floors[1:]
