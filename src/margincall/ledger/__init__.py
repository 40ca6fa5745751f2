"""The ledger: accounts, positions and balances as a double-entry journal, changed only by events.

``Ledger`` (:mod:`.ledger`) is the state machine; ``Tx`` (:mod:`.tx`) the staged change of one event, the only
way state changes; ``read_id`` / ``read_number`` / ``read_choice`` (:mod:`.fields`) read a payload the way the
built-in handlers do, for handlers added with ``Ledger.register``."""

from margincall.ledger.fields import ACCOUNT_FIELDS, accounts_of, plain, read_choice, read_id, read_number
from margincall.ledger.ledger import Ledger
from margincall.ledger.state import position_order
from margincall.ledger.tx import Tx
from margincall.ledger.types import ApplyResult, PositionKey, PositionState, Posting, Rejected

__all__ = [
    "ACCOUNT_FIELDS",
    "ApplyResult",
    "Ledger",
    "PositionKey",
    "PositionState",
    "Posting",
    "Rejected",
    "Tx",
    "accounts_of",
    "plain",
    "position_order",
    "read_choice",
    "read_id",
    "read_number",
]
