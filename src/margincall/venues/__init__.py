"""Venue profiles (formula choices, fees, dated tier tables) and loaders for venue/ccxt tier data."""

from margincall.venues.profiles import VENUES, Market, RatioConvention, VenueProfile, get_venue
from margincall.venues.rules import Fees, GenericRule

__all__ = ["VENUES", "Fees", "GenericRule", "Market", "RatioConvention", "VenueProfile", "get_venue"]
