"""The ledger: accounts, positions and balances as a double-entry journal, changed only by events."""

from margincall.ledger.ledger import Ledger
from margincall.ledger.types import ApplyResult, PositionKey, PositionState, Posting, Rejected

__all__ = ["ApplyResult", "Ledger", "PositionKey", "PositionState", "Posting", "Rejected"]
