"""Funding-rate formulas (docs/venues.md §3.7, §4.7, §7, §8, §10).

* Binance/Bybit/Hyperliquid: ``F = P̄ + clamp(I − P̄, −0.05 %, +0.05 %)``, ``I`` = 0.01 % per 8 h.
* Binance cap/floor: ``±0.75 × (IMR − MMR)`` at the max-leverage tier (V24: ADAUSDT 75x → ±0.4875 %).
* Binance impact margin notional: ``200 USDT / IMR at max leverage`` (V24: 20x → 4,000 USDT).
* dYdX v4: 8-hour cap ``600 % × (IMF − MMF)`` (V23: 12 %); impact notional ``500 USDC / IMF``.
* Premium index: ``[max(0, impact bid − index) − max(0, index − impact ask)] / index``.
* Payment: ``rate × notional at the mark``; a positive rate makes longs pay shorts.
"""

from __future__ import annotations

from decimal import Decimal

from margincall.model.numbers import ZERO

INTEREST_8H = Decimal("0.0001")
CLAMP_8H = Decimal("0.0005")


def premium_index(impact_bid: Decimal, impact_ask: Decimal, index: Decimal) -> Decimal:
    return (max(ZERO, impact_bid - index) - max(ZERO, index - impact_ask)) / index


def funding_rate(premium: Decimal, interest: Decimal = INTEREST_8H, clamp: Decimal = CLAMP_8H) -> Decimal:
    """``F = P + clamp(I − P, −clamp, +clamp)`` (V26: P 1 %, I 0.01 % → 0.95 %)."""
    return premium + min(max(interest - premium, -clamp), clamp)


def binance_funding_cap(imr: Decimal, mmr: Decimal) -> Decimal:
    """``0.75 × (IMR − MMR)`` at the max-leverage tier; the rate is clamped to ± this."""
    return Decimal("0.75") * (imr - mmr)


def capped_funding_rate(rate: Decimal, cap: Decimal) -> Decimal:
    """The rate clamped to ``[−cap, +cap]`` (Binance: the cap of :func:`binance_funding_cap`, §3.7)."""
    return min(max(rate, -cap), cap)


def binance_impact_margin_notional(imr: Decimal, impact_margin: Decimal = Decimal(200)) -> Decimal:
    return impact_margin / imr


def dydx_funding_cap_8h(imf: Decimal, mmf: Decimal) -> Decimal:
    """``600 % × (IMF − MMF)`` per 8 hours (V23: BTC-USD 5 %/3 % → 12 %)."""
    return 6 * (imf - mmf)


def dydx_impact_notional(imf: Decimal) -> Decimal:
    return Decimal(500) / imf


def funding_payment(sign: int, position_notional: Decimal, rate: Decimal) -> Decimal:
    """Amount the position *receives* (negative: pays): ``−s × notional × rate``."""
    return -sign * position_notional * rate
