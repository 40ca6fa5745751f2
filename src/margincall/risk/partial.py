"""The partial-liquidation rule the risk engine applies to a market: the one its venue profile carries
(:attr:`margincall.venues.profiles.VenueProfile.partial_liquidation`; the rules are in
:mod:`margincall.venues.partial`)."""

from __future__ import annotations

from margincall.venues.partial import PartialRule, Step
from margincall.venues.profiles import get_venue

__all__ = ["PartialRule", "Step", "partial_rule"]


def partial_rule(venue: str) -> PartialRule:
    """The partial-liquidation rule of ``venue``; :class:`~margincall.model.errors.UnknownVenue` for a venue
    without a profile."""
    return get_venue(venue).partial_liquidation
