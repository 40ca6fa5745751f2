"""Mark- and index-price building blocks (docs/venues.md §3.6, §4.7, §7).

``Price 1 = Index × (1 + last funding rate × time until funding / interval)`` — the 2019 Binance
mark price and today's first median input (V14: 10,000 × (1 + 0.03 % × 4/8) = 10,001.5).

Index aggregation (§3.6): median, weighted median, weighted average ``Σ w_i·p_i / Σ w_i``; a source
deviating more than a band (5 %) from the median is an outlier. Basis (§3.6, §4.7, §7):
``(Bid1 + Ask1)/2 − Index``. Hyperliquid EMA (§7): ``num ← num·e^(−t/τ) + sample·t``,
``den ← den·e^(−t/τ) + t``, ``ema = num/den``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from decimal import Decimal

from margincall.model.numbers import ONE


def funding_basis_price(
    index: Decimal, funding_rate: Decimal, time_until_funding: Decimal, interval: Decimal
) -> Decimal:
    return index * (ONE + funding_rate * time_until_funding / interval)


def basis_price(index: Decimal, basis_ma: Decimal) -> Decimal:
    """``Price 2 = Price Index + MA(basis)``: the mark's second median input (§3.6, §4.7)."""
    return index + basis_ma


def median3(a: Decimal, b: Decimal, c: Decimal) -> Decimal:
    """``median(Price 1, Price 2, last)`` (Binance, Bybit mark price)."""
    return sorted((a, b, c))[1]


def median(values: Iterable[Decimal]) -> Decimal:
    """Plain median; the mean of the two middle values for an even count. Raises on no values."""
    return statistics.median(list(values))


def weighted_median(pairs: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Weighted median of ``(price, weight)`` pairs (weights > 0).

    The smallest price whose cumulative weight reaches half the total; when the cumulative weight
    equals exactly half at a price, the mean of it and the next price — so equal weights give the
    plain :func:`median`. Hyperliquid's oracle is a weighted median of spot prices (§7).
    """
    if not pairs:
        raise ValueError("weighted_median of no values")
    ordered = sorted(pairs)
    half = sum((w for _, w in ordered), Decimal(0)) / 2
    cumulative = Decimal(0)
    for i, (price, weight) in enumerate(ordered):
        cumulative += weight
        if cumulative == half and i + 1 < len(ordered):
            return (price + ordered[i + 1][0]) / 2
        if cumulative >= half:
            return price
    return ordered[-1][0]  # pragma: no cover - cumulative reaches the total


def weighted_mean(pairs: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """``Σ w_i·p_i / Σ w_i`` — Binance's price index, weight percent = weight / Σ weights (§3.6)."""
    if not pairs:
        raise ValueError("weighted_mean of no values")
    total = sum((w for _, w in pairs), Decimal(0))
    return sum((p * w for p, w in pairs), Decimal(0)) / total


def relative_distance(price: Decimal, reference: Decimal) -> Decimal:
    """``|price − reference| / reference``: the deviation tested against the 5 % outlier band (§3.6)."""
    return abs(price - reference) / reference


def mid_basis(bid: Decimal, ask: Decimal, index: Decimal) -> Decimal:
    """``(Bid1 + Ask1)/2 − PriceIndex``: one basis sample for the mark price's moving average (§3.6, §4.7)."""
    return (bid + ask) / 2 - index


def ema_step(num: Decimal, den: Decimal, sample: Decimal, elapsed: Decimal, tau: Decimal) -> tuple[Decimal, Decimal]:
    """One Hyperliquid EMA update (§7): ``num·e^(−t/τ) + sample·t``, ``den·e^(−t/τ) + t``; ema = num/den."""
    decay = (-elapsed / tau).exp()
    return num * decay + sample * elapsed, den * decay + elapsed


def time_until_funding(ts_ms: int, interval_ms: int) -> int:
    """Milliseconds to the next funding time; funding times are whole intervals since the epoch.

    8-hour interval: 00:00/08:00/16:00 UTC (§3.7). At a funding instant the next one is a full interval away.
    """
    return interval_ms - ts_ms % interval_ms


def band_edges(reference: Decimal, band: Decimal) -> tuple[Decimal, Decimal]:
    """``reference × (1 − band)``, ``reference × (1 + band)``: the circuit-breaker band around the last mark."""
    return reference * (ONE - band), reference * (ONE + band)
