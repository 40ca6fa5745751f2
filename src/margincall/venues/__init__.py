"""Venue profiles (formula choices, fees, dated tier tables) and loaders for venue/ccxt tier data."""

from margincall.venues.loaders import (
    load_binance_brackets,
    load_bybit_risk_limits,
    load_ccxt_leverage_tiers,
    load_ccxt_market_tiers,
    load_okx_position_tiers,
    select_table,
)
from margincall.venues.profiles import VENUES, Market, RatioConvention, VenueProfile, get_venue
from margincall.venues.rules import Fees, GenericRule

__all__ = [
    "VENUES",
    "Fees",
    "GenericRule",
    "Market",
    "RatioConvention",
    "VenueProfile",
    "get_venue",
    "load_binance_brackets",
    "load_bybit_risk_limits",
    "load_ccxt_leverage_tiers",
    "load_ccxt_market_tiers",
    "load_okx_position_tiers",
    "select_table",
]
