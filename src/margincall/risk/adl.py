"""The ADL ranking the risk engine applies to a market: the one its venue profile carries
(:attr:`margincall.venues.profiles.VenueProfile.adl_ranking`; the rankings and their order are in
:mod:`margincall.venues.adl`)."""

from __future__ import annotations

from margincall.venues.adl import AdlCandidate, AdlRanking, rank, rank_key
from margincall.venues.profiles import get_venue

__all__ = ["AdlCandidate", "AdlRanking", "adl_ranking", "rank", "rank_key"]


def adl_ranking(venue: str) -> AdlRanking:
    """The ADL ranking of ``venue``; :class:`~margincall.model.errors.UnknownVenue` for a venue without a
    profile."""
    return get_venue(venue).adl_ranking
