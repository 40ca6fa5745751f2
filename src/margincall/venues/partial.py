"""Partial liquidation: how much of a position one liquidation step closes (docs/venues.md §1 table). Each venue
profile names its rule (:attr:`margincall.venues.profiles.VenueProfile.partial_liquidation`).

* :class:`TierStepDown` — Binance (§3.8) and Bybit (§4.6): step the position down one tier — reduce it to just
  below its current tier's floor, then re-check; a position in the lowest tier is closed in full. OKX (§5): for
  positions at tier ≥ 3, reduce enough to drop **two** tiers, re-check, repeat; full below. Bitunix and the
  generic venue step down one tier, as Binance.
* :class:`FractionStep` — Hyperliquid (§7): positions above 100,000 USDC notional are liquidated 20 % at a time
  with a 30 s cooldown, after which the whole remainder is closed.
* :class:`FullOnly`: no partial step (dYdX).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import TYPE_CHECKING, Protocol

from margincall.math.contracts import contracts_for_amount, notional_of
from margincall.math.liquidation import EXACT_CONTEXT
from margincall.math.margin import tier_amount
from margincall.model.enums import TierBasis

if TYPE_CHECKING:  # venues.market builds markets from the profiles, which hold these rules
    from margincall.venues.market import MarketSpec


@dataclass(frozen=True, slots=True)
class Step:
    """Close ``size`` contracts (``None``: the whole position); ``reason`` explains the choice."""

    size: Decimal | None
    reason: str
    tier_before: int
    tier_after: int | None = None


def _tier_index(market: MarketSpec, contracts: Decimal, price: Decimal) -> int:
    inst = market.instrument
    return market.tiers.index_for(tier_amount(market.tiers, inst.kind, contracts * inst.contract_size,
                                              inst.contract_size, price))


def _contracts_below(market: MarketSpec, amount_cap: Decimal, price: Decimal) -> Decimal:
    """Largest multiple of the lot whose tier amount at ``price`` is strictly below ``amount_cap``."""
    inst = market.instrument
    lot = inst.lot_size
    with localcontext(EXACT_CONTEXT):  # the quotient exact to far below a lot: the floor is the exact one
        if market.tiers.basis is TierBasis.CONTRACTS:
            contracts = amount_cap
        else:
            contracts = contracts_for_amount(inst.kind, amount_cap, price, inst.contract_size)
        n = (contracts / lot).to_integral_value(rounding=ROUND_DOWN) * lot
        if n >= contracts:
            n -= lot
    return max(n, Decimal(0))


class PartialRule(Protocol):
    """How a venue steps a position down in a liquidation."""

    @property
    def name(self) -> str: ...

    def step(self, market: MarketSpec, size: Decimal, price: Decimal, steps_done: int, since_last_ms: int | None
             ) -> Step | None:
        """The next step for a position of ``size`` contracts at ``price``; ``None`` = wait (cooldown)."""
        ...

    def core_form(self) -> tuple[int, int] | None:
        """The rule as the engine core's integers ``(tiers stepped down, lowest 0-based tier that steps)`` —
        ``(0, 0)``: closed in full — or ``None`` when the core does not hold it yet (``margincall.core.partial``)."""
        ...


@dataclass(frozen=True, slots=True)
class TierStepDown:
    """Reduce the position ``tiers`` tiers down (Binance/Bybit: 1; OKX: 2 from tier 3 up)."""

    tiers: int = 1
    min_tier: int = 1  # 0-based index of the lowest tier that still steps down (OKX: 2 = "tier ≥ 3")
    name: str = "tier_step_down"

    def step(self, market: MarketSpec, size: Decimal, price: Decimal, steps_done: int, since_last_ms: int | None
             ) -> Step | None:
        k = _tier_index(market, size, price)
        if k < self.min_tier or k == 0:
            return Step(None, f"position in tier {k + 1}: closed in full", k)
        target = max(0, k - self.tiers)
        cap = market.tiers.tiers[target].cap
        assert cap is not None
        keep = _contracts_below(market, cap, price)
        if keep <= 0 or keep >= size:
            return Step(None, f"tier {k + 1} → {target + 1} leaves nothing: closed in full", k)
        return Step(size - keep, f"step down from tier {k + 1} to tier {target + 1}", k, target)

    def core_form(self) -> tuple[int, int] | None:
        return self.tiers, self.min_tier


@dataclass(frozen=True, slots=True)
class FractionStep:
    """Hyperliquid: above ``min_notional``, close ``fraction`` per step, ``cooldown_ms`` apart; then all."""

    fraction: Decimal = Decimal("0.2")
    cooldown_ms: int = 30_000
    min_notional: Decimal = Decimal(100_000)
    name: str = "fraction_step"

    def step(self, market: MarketSpec, size: Decimal, price: Decimal, steps_done: int, since_last_ms: int | None
             ) -> Step | None:
        k = _tier_index(market, size, price)
        inst = market.instrument
        n = notional_of(inst.kind, size * inst.contract_size, price)
        if steps_done == 0 and n > self.min_notional:
            lot = inst.lot_size
            part = (size * self.fraction / lot).to_integral_value(rounding=ROUND_DOWN) * lot
            if 0 < part < size:
                return Step(part, f"notional {n:.2f} > {self.min_notional}: {self.fraction:%} first", k)
        if steps_done > 0 and since_last_ms is not None and since_last_ms < self.cooldown_ms:
            return None
        return Step(None, "closed in full" if steps_done == 0 else "after the cooldown: the whole remainder", k)

    def core_form(self) -> tuple[int, int] | None:
        return None  # a step in time (its cooldown) is not held by the core yet


@dataclass(frozen=True, slots=True)
class FullOnly:
    """No partial step: the position is closed in full."""

    name: str = "full"

    def step(self, market: MarketSpec, size: Decimal, price: Decimal, steps_done: int, since_last_ms: int | None
             ) -> Step | None:
        return Step(None, "closed in full", _tier_index(market, size, price))

    def core_form(self) -> tuple[int, int] | None:
        return 0, 0
