"""Errors raised for bad input. Every one carries a stable machine-readable ``code``."""

from __future__ import annotations


class MarginCallError(ValueError):
    """Base class: the input cannot be evaluated; the message says what is wrong."""

    code: str = "invalid_input"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.field = field


class InvalidNumber(MarginCallError):
    """NaN, infinity, a negative or zero value where a positive one is needed, or an oversized number."""

    code = "invalid_number"


class TierTableError(MarginCallError):
    """A tier table with gaps, overlaps, decreasing rates or inconsistent maintenance amounts."""

    code = "invalid_tiers"


class UnknownSymbol(MarginCallError):
    code = "unknown_symbol"


class UnknownVenue(MarginCallError):
    code = "unknown_venue"


class LeverageTooHigh(MarginCallError):
    code = "leverage_too_high"


class PositionTooLarge(MarginCallError):
    code = "position_too_large"
