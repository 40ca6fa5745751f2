"""Margin-call bands: a per-watch state machine on the margin ratio ``MM / equity`` with hysteresis.

Defaults after Binance: a margin-call warning when the margin ratio reaches 80 % (Binance's "margin call"
notification), reduce-only at 90 %, liquidation at 100 % (equity ≤ MM, docs/venues.md §3.2). Entering a worse band
happens as soon as its threshold is reached; returning to a better band needs the ratio to fall below that
band's threshold minus ``hysteresis`` so an account hovering at a threshold does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from margincall.model.errors import MarginCallError


class Band(IntEnum):
    HEALTHY = 0
    WARNING = 1
    REDUCE_ONLY = 2
    LIQUIDATION = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Band:
        return cls[label.upper()]


@dataclass(frozen=True, slots=True)
class BandConfig:
    warning: Decimal = Decimal("0.80")
    reduce_only: Decimal = Decimal("0.90")
    liquidation: Decimal = Decimal("1")
    hysteresis: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        if not (0 < self.warning <= self.reduce_only <= self.liquidation == 1):
            raise MarginCallError("bands must satisfy 0 < warning ≤ reduce_only ≤ liquidation = 1", field="bands")
        if not (0 <= self.hysteresis < self.warning):
            raise MarginCallError("hysteresis must be in [0, warning)", field="hysteresis")

    def threshold(self, band: Band) -> Decimal:
        return {Band.WARNING: self.warning, Band.REDUCE_ONLY: self.reduce_only, Band.LIQUIDATION: self.liquidation,
                Band.HEALTHY: Decimal(0)}[band]

    def next_band(self, current: Band, maintenance: Decimal, equity: Decimal) -> Band:
        """The band after observing ``MM`` and ``equity`` while in ``current``."""
        def at_least(th: Decimal) -> bool:  # MM / equity ≥ th, equity ≤ 0 counting as infinite
            return maintenance > 0 and (equity <= 0 or maintenance >= th * equity)

        if maintenance > 0 and equity <= maintenance:
            return Band.LIQUIDATION
        raw = Band.HEALTHY
        for band in (Band.REDUCE_ONLY, Band.WARNING):
            if at_least(self.threshold(band)):
                raw = band
                break
        if raw >= current:
            return raw
        # improving: leave each band only once below its threshold − hysteresis (liquidation is left as soon
        # as equity > MM: the liquidation process decides when it is done)
        band = min(current, Band.REDUCE_ONLY)
        while band > raw and not at_least(self.threshold(band) - self.hysteresis):
            band = Band(band - 1)
        return band

    def deposit_to_healthy(self, maintenance: Decimal, equity: Decimal) -> Decimal:
        """Deposit that brings ``MM / equity`` below ``warning − hysteresis`` (0 if already there)."""
        target = self.warning - self.hysteresis
        if maintenance <= 0:
            return Decimal(0)
        need = maintenance / target - equity
        return max(Decimal(0), need)
