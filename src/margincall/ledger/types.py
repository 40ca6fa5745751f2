"""Value types of the ledger: postings, positions, markets, results, rejections."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from margincall.model.enums import MarginMode, PositionSide
from margincall.model.errors import MarginCallError

#: System books. Every event's postings sum to zero per asset across user and system books.
INSURANCE = "insurance"
FEES = "fees"
FUNDING = "funding"
#: The central counterparty of every fill (the other side of the trade, inside or outside the system).
CLEARING = "clearing"
#: Money outside the system: deposits come from it, withdrawals go to it (its balance is −net deposits).
EXTERNAL = "external"


def wallet_book(account: str) -> str:
    return f"wallet:{account}"


def isolated_book(account: str, symbol: str, position_side: PositionSide) -> str:
    return f"isolated:{account}:{symbol}:{position_side.value}"


class Rejected(MarginCallError):
    """An event that would break a rule: nothing changes, ``code`` says which rule."""

    code = "rejected"

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)


@dataclass(frozen=True, slots=True)
class Posting:
    """``amount`` of ``asset`` moved from book ``debit`` to book ``credit`` (``amount`` > 0)."""

    debit: str
    credit: str
    asset: str
    amount: Decimal
    memo: str

    def to_dict(self) -> dict[str, str]:
        return {"from": self.debit, "to": self.credit, "asset": self.asset, "amount": str(self.amount),
                "memo": self.memo}


@dataclass(frozen=True, slots=True)
class PositionKey:
    account: str
    symbol: str
    position_side: PositionSide = PositionSide.BOTH


@dataclass(frozen=True, slots=True)
class PositionState:
    """One position leg: ``size`` in contracts, signed (+ long, − short); never zero while it exists."""

    key: PositionKey
    size: Decimal
    entry_price: Decimal
    margin_mode: MarginMode
    leverage: Decimal

    @property
    def sign(self) -> int:
        return 1 if self.size > 0 else -1

    @property
    def is_isolated(self) -> bool:
        return self.margin_mode is MarginMode.ISOLATED


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What an applied event did: its postings and the numbers that explain it."""

    type: str
    postings: tuple[Posting, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "postings": [p.to_dict() for p in self.postings], **self.details}
