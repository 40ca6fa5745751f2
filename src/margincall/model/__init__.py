"""Value types: instruments, tier tables, positions, accounts. Frozen, validated on construction."""

from margincall.model.account import Account
from margincall.model.enums import (
    ContractKind,
    MarginMode,
    PositionSide,
    PriceRounding,
    Side,
    TierBasis,
    TierMode,
)
from margincall.model.errors import (
    InvalidNumber,
    LeverageTooHigh,
    MarginCallError,
    PositionTooLarge,
    TierTableError,
    UnknownSymbol,
    UnknownVenue,
)
from margincall.model.holding import Holding
from margincall.model.instrument import Instrument
from margincall.model.numbers import to_decimal
from margincall.model.position import Position
from margincall.model.tiers import Tier, TierSpec, TierTable

__all__ = [
    "Account",
    "ContractKind",
    "Holding",
    "Instrument",
    "InvalidNumber",
    "LeverageTooHigh",
    "MarginCallError",
    "MarginMode",
    "Position",
    "PositionSide",
    "PositionTooLarge",
    "PriceRounding",
    "Side",
    "Tier",
    "TierBasis",
    "TierMode",
    "TierSpec",
    "TierTable",
    "TierTableError",
    "UnknownSymbol",
    "UnknownVenue",
    "to_decimal",
]
