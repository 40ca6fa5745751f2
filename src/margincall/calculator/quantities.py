"""A scenario's question sections besides its positions: mark price, funding, fillable price, collateral and
the OKX 2020 margin-ratio check.

Each answer comes from the venue's rule on its profile (:mod:`margincall.venues.quantities`), which calls the
one formula of :mod:`margincall.math`; a venue that has published no such rule is refused (``no_venue_rule``)
with the venues that have one. Every input is checked and named in its error; an input the answer would not use
is refused (``unused_input``), never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from margincall.calculator.inputs import UnusedInput
from margincall.calculator.scenario import (
    CollateralIn,
    FillablePriceIn,
    FundingIn,
    MarginRatioCheckIn,
    MarkPriceIn,
    Scenario,
)
from margincall.model.errors import InvalidNumber, MarginCallError
from margincall.model.numbers import ONE, ZERO
from margincall.venues.profiles import VENUES, VenueProfile


class NoVenueRule(MarginCallError):
    """The scenario asks a venue for a quantity the venue has published no rule for."""

    code = "no_venue_rule"


@dataclass(frozen=True, slots=True)
class MarkPriceResult:
    price_1: Decimal
    price_2: Decimal | None
    mark_price: Decimal | None
    funding_interval_hours: Decimal
    docs: str


@dataclass(frozen=True, slots=True)
class FundingResult:
    premium_index: Decimal | None
    interest_rate: Decimal | None
    funding_rate_8h: Decimal | None
    interval_hours: Decimal
    cap: Decimal | None
    cap_period: str | None
    impact_notional: Decimal | None
    docs: str


@dataclass(frozen=True, slots=True)
class FillablePriceResult:
    side: str
    fillable_price: Decimal
    fillable_price_rounded: Decimal | None
    spread_to_mmr: Decimal
    bankruptcy_adjustment: Decimal
    docs: str


@dataclass(frozen=True, slots=True)
class CollateralAssetResult:
    asset: str
    amount: Decimal
    price: Decimal
    weight: Decimal
    value: Decimal


@dataclass(frozen=True, slots=True)
class CollateralResult:
    assets: tuple[CollateralAssetResult, ...]
    total: Decimal
    docs: str


@dataclass(frozen=True, slots=True)
class MarginRatioCheckResult:
    margin_ratio: Decimal
    threshold: Decimal
    liquidated: bool
    published: str
    docs: str


@dataclass(frozen=True, slots=True)
class Quantities:
    """The answers to the sections a scenario gave (``None``: not asked)."""

    mark_price: MarkPriceResult | None = None
    funding: FundingResult | None = None
    fillable_price: FillablePriceResult | None = None
    collateral: CollateralResult | None = None
    margin_ratio_check: MarginRatioCheckResult | None = None


_WHAT = {
    "mark": "funding-basis mark price",
    "funding": "funding",
    "fillable": "fillable-price",
    "collateral": "collateral-valuation",
    "legacy_ratio": "2020 fixed-margin ratio",
}


def _rule(profile: VenueProfile, attr: str, field: str, have: Callable[[Any], bool] = lambda r: True) -> Any:
    rule = getattr(profile, attr)
    if rule is None or not have(rule):
        venues = [p.name for p in VENUES.values() if getattr(p, attr) is not None and have(getattr(p, attr))]
        raise NoVenueRule(
            f"{field}: venue {profile.name} has no published {_WHAT[attr]} rule for this; venues with one:"
            f' {", ".join(venues) or "none"} (choose one with "venue")',
            field=field,
        )
    return rule


def _positive(value: Decimal, field: str) -> Decimal:
    if value <= 0:
        raise InvalidNumber(f"{field}: must be greater than zero, got {value}", field=field)
    return value


def _non_negative(value: Decimal, field: str) -> Decimal:
    if value < 0:
        raise InvalidNumber(f"{field}: must not be negative, got {value}", field=field)
    return value


def _fraction(value: Decimal, field: str) -> Decimal:
    if not ZERO <= value <= ONE:
        raise InvalidNumber(f"{field}: must be between 0 and 1, got {value}", field=field)
    return value


def mark_price(profile: VenueProfile, m: MarkPriceIn) -> MarkPriceResult:
    rule = _rule(profile, "mark", "mark_price")
    index = _positive(m.index, "mark_price.index")
    interval = _positive(
        rule.interval_hours if m.funding_interval_hours is None else m.funding_interval_hours,
        "mark_price.funding_interval_hours",
    )
    if not ZERO <= m.hours_until_funding <= interval:
        raise InvalidNumber(
            f"mark_price.hours_until_funding: {m.hours_until_funding} is outside [0, funding interval {interval}]",
            field="mark_price.hours_until_funding",
        )
    price_1 = rule.price_1(index, m.funding_rate, m.hours_until_funding, interval)
    price_2 = mark = None
    if (m.basis_ma is None) != (m.last_price is None):
        missing = "last_price" if m.last_price is None else "basis_ma"
        raise MarginCallError(
            f"mark_price.{missing}: the median mark needs both basis_ma and last_price (give neither for Price 1"
            " alone)",
            code="missing_input",
            field=f"mark_price.{missing}",
        )
    if m.basis_ma is not None and m.last_price is not None:
        price_2, mark = rule.mark(price_1, index, m.basis_ma, _positive(m.last_price, "mark_price.last_price"))
    return MarkPriceResult(price_1, price_2, mark, interval, f"docs/venues.md {rule.section}")


def _premium(rule: Any, f: FundingIn) -> Decimal | None:
    impact = {"impact_bid": f.impact_bid, "impact_ask": f.impact_ask, "index": f.index}
    given = [k for k, v in impact.items() if v is not None]
    if f.premium_index is not None:
        if given:
            raise UnusedInput(
                f"funding.{given[0]}: give premium_index or impact_bid, impact_ask and index, not both",
                field=f"funding.{given[0]}",
            )
        return f.premium_index
    if not given:
        return None
    for k, v in impact.items():
        if v is None:
            raise MarginCallError(
                f"funding.{k}: the premium index needs impact_bid, impact_ask and index",
                code="missing_input",
                field=f"funding.{k}",
            )
        _positive(v, f"funding.{k}")
    return rule.premium(f.impact_bid, f.impact_ask, f.index)  # type: ignore[no-any-return]


def funding(profile: VenueProfile, f: FundingIn) -> FundingResult:
    rule = _rule(profile, "funding", "funding")
    premium = _premium(rule, f)
    rate = interest = None
    if premium is not None:
        asked = "funding.premium_index" if f.premium_index is not None else "funding.impact_bid"
        _rule(profile, "funding", asked, lambda r: r.interest_8h is not None)
        interest = rule.interest_8h if f.interest_rate is None else f.interest_rate
        rate = rule.rate(premium, interest)
    elif f.interest_rate is not None:
        raise UnusedInput(
            "funding.interest_rate: used only with a premium index (premium_index, or impact_bid, impact_ask and"
            " index)",
            field="funding.interest_rate",
        )
    cap = impact = None
    if f.mmr is not None and f.imr is None:
        raise MarginCallError(
            "funding.imr: the cap needs imr beside mmr (both at the max-leverage tier)",
            code="missing_input",
            field="funding.imr",
        )
    if f.imr is not None:
        imr = _fraction(_positive(f.imr, "funding.imr"), "funding.imr")
        _rule(profile, "funding", "funding.imr", lambda r: r.impact_notional is not None or r.cap is not None)
        if rule.impact_notional is not None:
            impact = rule.impact_notional(imr)
        if f.mmr is not None:
            _rule(profile, "funding", "funding.mmr", lambda r: r.cap is not None)
            mmr = _non_negative(f.mmr, "funding.mmr")
            if mmr > imr:
                raise InvalidNumber(f"funding.mmr: {mmr} is above imr {imr}", field="funding.mmr")
            cap = rule.cap(imr, mmr)
    if premium is None and f.imr is None:
        raise MarginCallError(
            "funding: give premium_index (or impact_bid, impact_ask and index) for the rate, or imr (and mmr) for"
            " the impact notional and cap",
            code="missing_input",
            field="funding",
        )
    period = rule.cap_period if cap is not None else None
    return FundingResult(
        premium, interest, rate, rule.interval_hours, cap, period, impact, f"docs/venues.md {rule.section}"
    )


def fillable_price(profile: VenueProfile, f: FillablePriceIn) -> FillablePriceResult:
    rule = _rule(profile, "fillable", "fillable_price")
    oracle = _positive(f.oracle_price, "fillable_price.oracle_price")
    mmf = _fraction(f.mmf, "fillable_price.mmf")
    total = _positive(f.total_mmr, "fillable_price.total_mmr")
    smmr = _non_negative(
        rule.spread_to_mmr if f.spread_to_mmr is None else f.spread_to_mmr, "fillable_price.spread_to_mmr"
    )
    ba = _non_negative(
        rule.bankruptcy_adjustment if f.bankruptcy_adjustment is None else f.bankruptcy_adjustment,
        "fillable_price.bankruptcy_adjustment",
    )
    sign = 1 if f.side == "long" else -1
    price = rule.price(oracle, sign, mmf, f.equity, total, smmr, ba)
    rounded = None
    if f.tick_size is not None:
        rounded = rule.rounded(price, _positive(f.tick_size, "fillable_price.tick_size"), sign)
    return FillablePriceResult(f.side, price, rounded, smmr, ba, f"docs/venues.md {rule.section}")


def collateral(profile: VenueProfile, c: CollateralIn) -> CollateralResult:
    rule = _rule(profile, "collateral", "collateral")
    rows, seen = [], set()
    for i, a in enumerate(c.assets):
        where = f"collateral.assets[{i}]"
        if a.asset in seen:
            raise MarginCallError(f"{where}.asset: {a.asset} is given twice", field=f"{where}.asset")
        seen.add(a.asset)
        amount = _non_negative(a.amount, f"{where}.amount")
        price = _positive(a.price, f"{where}.price")
        weight = _fraction(a.weight, f"{where}.weight")
        if a.imf_factor is not None:
            _rule(profile, "collateral", f"{where}.imf_factor", lambda r: r.size_weight)
            weight = rule.weight(weight, _non_negative(a.imf_factor, f"{where}.imf_factor"), amount)
        rows.append(CollateralAssetResult(a.asset, amount, price, weight, rule.value([(amount, price, weight)])))
    total = rule.value([(r.amount, r.price, r.weight) for r in rows])
    return CollateralResult(tuple(rows), total, f"docs/venues.md {rule.section}")


def margin_ratio_check(profile: VenueProfile, m: MarginRatioCheckIn) -> MarginRatioCheckResult:
    rule = _rule(profile, "legacy_ratio", "margin_ratio_check")
    value = _positive(m.position_value, "margin_ratio_check.position_value")
    mmr = _fraction(m.mmr, "margin_ratio_check.mmr")
    fee = _fraction(m.liquidation_fee_rate, "margin_ratio_check.liquidation_fee_rate")
    margin = _non_negative(m.margin, "margin_ratio_check.margin")
    ratio, threshold, liquidated = rule.check(margin, m.unrealized_pnl, value, mmr, fee)
    return MarginRatioCheckResult(ratio, threshold, liquidated, rule.published, f"docs/venues.md {rule.section}")


def answer(profile: VenueProfile, scenario: Scenario) -> Quantities:
    """The answers to every section ``scenario`` gives, in the venue's rules."""
    s = scenario
    return Quantities(
        mark_price=None if s.mark_price is None else mark_price(profile, s.mark_price),
        funding=None if s.funding is None else funding(profile, s.funding),
        fillable_price=None if s.fillable_price is None else fillable_price(profile, s.fillable_price),
        collateral=None if s.collateral is None else collateral(profile, s.collateral),
        margin_ratio_check=None if s.margin_ratio_check is None else margin_ratio_check(profile, s.margin_ratio_check),
    )


__all__ = [
    "CollateralAssetResult",
    "CollateralResult",
    "FillablePriceResult",
    "FundingResult",
    "MarginRatioCheckResult",
    "MarkPriceResult",
    "NoVenueRule",
    "Quantities",
    "answer",
]
