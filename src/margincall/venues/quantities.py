"""The quantities besides liquidation a venue publishes a rule for, as strategy objects on its profile.

Each object says which published formula of :mod:`margincall.math` the venue uses and with which constants; a
venue without one (``None`` on its profile) has published no such rule (docs/venues.md §13), and the calculator
refuses the question rather than answer it with another venue's rule.

* :class:`FundingBasisMark` — ``Price 1 = index × (1 + funding rate × time until funding / interval)`` and the
  mark ``median(Price 1, Price 2, last)``, ``Price 2 = index + MA(basis)`` (Binance §3.6, Bybit §4.7; §11 V14).
* :class:`FundingRule` — the 8-hour rate ``F = P + clamp(I − P, ±0.05 %)`` (Binance §3.7, Bybit §4.7,
  Hyperliquid §7; V26), the cap (Binance ``±0.75 × (IMR − MMR)``, V24; dYdX ``600 % × (IMF − MMF)`` per 8 h,
  V23) and the impact notional (Binance ``200 / IMR``; dYdX ``500 / IMF``).
* :class:`FillableRule` — dYdX's fillable price of a liquidation order (§8; V21).
* :class:`CollateralRule` — collateral at a discount (Bitunix multi-asset mode §6, V30), optionally with Drift's
  size-discounted deposit weight (§9, V29).
* :class:`LegacyRatioRule` — OKX's 2020 fixed-margin ratio, liquidated below ``MMR + liquidation fee`` (§5, V25).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from margincall.math import collateral, dydx, funding, mark, okx
from margincall.math.rounding import round_trigger_price
from margincall.model.enums import PriceRounding


@dataclass(frozen=True, slots=True)
class FundingBasisMark:
    """A mark price built on the funding basis (docs/venues.md §3.6, §4.7); ``interval_hours``: the default
    funding interval."""

    section: str
    interval_hours: Decimal = Decimal(8)

    def price_1(self, index: Decimal, funding_rate: Decimal, hours_until: Decimal, interval_hours: Decimal) -> Decimal:
        """``index × (1 + rate × hours until funding / interval)`` — the 2019 mark itself (§11 V14)."""
        return mark.funding_basis_price(index, funding_rate, hours_until, interval_hours)

    def mark(self, price_1: Decimal, index: Decimal, basis_ma: Decimal, last: Decimal) -> tuple[Decimal, Decimal]:
        """``(Price 2, median(Price 1, Price 2, last))``, ``Price 2 = index + MA(basis)``."""
        price_2 = mark.basis_price(index, basis_ma)
        return price_2, mark.median3(price_1, price_2, last)


@dataclass(frozen=True, slots=True)
class FundingRule:
    """A venue's funding rule: how often it is paid, the 8-hour rate from the premium index (``None``: no rate
    rule of this family), and the cap and impact notional from the rates at max leverage (``None``: none
    published)."""

    section: str
    interval_hours: Decimal
    interest_8h: Decimal | None = funding.INTEREST_8H
    clamp_8h: Decimal = funding.CLAMP_8H
    cap: Callable[[Decimal, Decimal], Decimal] | None = None
    cap_period: str = ""
    impact_notional: Callable[[Decimal], Decimal] | None = None

    def premium(self, impact_bid: Decimal, impact_ask: Decimal, index: Decimal) -> Decimal:
        return funding.premium_index(impact_bid, impact_ask, index)

    def rate(self, premium: Decimal, interest: Decimal) -> Decimal:
        """``F = P + clamp(I − P, −clamp, +clamp)`` (§11 V26)."""
        return funding.funding_rate(premium, interest, self.clamp_8h)


@dataclass(frozen=True, slots=True)
class FillableRule:
    """dYdX v4's fillable price (docs/venues.md §8): SMMR and BA are the venue's parameters (1.5 and 1 in the
    docs' example, §11 V21)."""

    section: str
    spread_to_mmr: Decimal = Decimal("1.5")
    bankruptcy_adjustment: Decimal = Decimal(1)

    def price(
        self, oracle: Decimal, sign: int, mmf: Decimal, equity: Decimal, total_mmr: Decimal, smmr: Decimal, ba: Decimal
    ) -> Decimal:
        return dydx.dydx_fillable_price(oracle, sign, mmf, equity, total_mmr, smmr, ba)

    def rounded(self, price: Decimal, tick: Decimal, sign: int) -> Decimal:
        """To the tick: up for the sell closing a long, down for the buy closing a short (§8, V21: 0.76645 → 0.77)."""
        return round_trigger_price(price, tick, sign, PriceRounding.VENUE_FAVOUR)


@dataclass(frozen=True, slots=True)
class CollateralRule:
    """Collateral valued ``Σ amount × price × weight`` (Bitunix's discount, §6); ``size_weight``: a deposit's
    weight may shrink with its size, ``min(weight, 1.1 / (1 + imf_factor × √size))`` (Drift v2, §9)."""

    section: str
    size_weight: bool = False

    def weight(self, weight: Decimal, imf_factor: Decimal, amount: Decimal) -> Decimal:
        return collateral.drift_asset_weight(weight, imf_factor, amount)

    def value(self, holdings: list[tuple[Decimal, Decimal, Decimal]]) -> Decimal:
        return collateral.discounted_collateral(holdings)


@dataclass(frozen=True, slots=True)
class LegacyRatioRule:
    """OKX's 2020 fixed-margin check (docs/venues.md §5): ``(fixed margin + UPL) / position value``, liquidated
    below ``tier MMR + liquidation fee rate`` (§11 V25)."""

    section: str
    published: str

    def check(
        self, margin: Decimal, upl: Decimal, value: Decimal, mmr: Decimal, fee_rate: Decimal
    ) -> tuple[Decimal, Decimal, bool]:
        """``(margin ratio, threshold, liquidated)``."""
        ratio = okx.okx_legacy_margin_ratio(margin, upl, value)
        threshold = mmr + fee_rate
        return ratio, threshold, ratio < threshold


#: Binance USDⓈ-M and COIN-M (§3.6, §3.7): 8-hour funding, cap ±0.75 × (IMR − MMR), IMN 200 / IMR.
BINANCE_MARK = FundingBasisMark("§3.6")
BINANCE_FUNDING = FundingRule(
    "§3.7",
    Decimal(8),
    cap=funding.binance_funding_cap,
    cap_period="per funding, ±",
    impact_notional=funding.binance_impact_margin_notional,
)
#: Bybit (§4.7): Price 1 as Binance's; the same rate family, no published cap formula ("widened in volatility").
BYBIT_MARK = FundingBasisMark("§4.7")
BYBIT_FUNDING = FundingRule("§4.7", Decimal(8))
#: Hyperliquid (§7): the 8-hour rate paid an eighth each hour.
HYPERLIQUID_FUNDING = FundingRule("§7", Decimal(1))
#: dYdX v4 (§8): hourly, its own rate (premium / 8 + interest, not this family); 8-hour cap 600 % × (IMF − MMF).
DYDX_FUNDING = FundingRule(
    "§8",
    Decimal(1),
    interest_8h=None,
    cap=funding.dydx_funding_cap_8h,
    cap_period="per 8 h, ±",
    impact_notional=funding.dydx_impact_notional,
)
DYDX_FILLABLE = FillableRule("§8")
BITUNIX_COLLATERAL = CollateralRule("§6")
#: The generic venue values collateral with both published shapes; Drift, whose rule it is, has no profile (§9).
GENERIC_COLLATERAL = CollateralRule("§6, §9", size_weight=True)
OKX_LEGACY_RATIO = LegacyRatioRule("§5", "2020")

__all__ = [
    "BINANCE_FUNDING",
    "BINANCE_MARK",
    "BITUNIX_COLLATERAL",
    "BYBIT_FUNDING",
    "BYBIT_MARK",
    "DYDX_FILLABLE",
    "DYDX_FUNDING",
    "GENERIC_COLLATERAL",
    "HYPERLIQUID_FUNDING",
    "OKX_LEGACY_RATIO",
    "CollateralRule",
    "FillableRule",
    "FundingBasisMark",
    "FundingRule",
    "LegacyRatioRule",
]
