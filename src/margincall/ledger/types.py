"""Value types of the ledger: postings, positions, markets, results, rejections."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from margincall.model.construct import slots_constructor
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


def moves_insurance_fund(result: Mapping[str, Any] | None) -> bool:
    """Whether a stored result (``{"postings": [{"from", "to", ...}, ...], ...}``) moved the insurance fund: a
    posting from or to :data:`INSURANCE`."""
    if not result:
        return False
    for p in result.get("postings", ()):  # noqa: SIM110 - a loop: called for every stored event, any() costs 2x
        if p.get("from") == INSURANCE or p.get("to") == INSURANCE:
            return True
    return False


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


class PositionKey(NamedTuple):
    """One position leg: account, symbol and side (``both`` in one-way mode, ``long``/``short`` in hedge mode).

    A named tuple (immutable, compared and hashed by its three fields) rather than a dataclass: keys index every
    dict and set of positions, and a tuple's hash is computed in C where a dataclass's is a Python call."""

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


class ApplyResult:
    """What an applied event did: its postings and the numbers that explain it.

    ``to_dict()`` is the result as stored in the log: ``{"type", "postings": [...], **details}``. The ledger's
    fast fill path builds that dict directly (``rendered``); its :attr:`postings` are then derived from it on
    first use, equal to what the general path would have recorded."""

    __slots__ = ("_accounts", "_details", "_postings", "_rendered", "type")

    def __init__(self, type: str, postings: tuple[Posting, ...] = (), details: dict[str, Any] | None = None, *,
                 rendered: dict[str, Any] | None = None,
                 accounts: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()) -> None:
        self.type = type
        self._postings: tuple[Posting, ...] | None = postings if rendered is None else None
        self._details: dict[str, Any] | None = ({} if details is None else details) if rendered is None else None
        self._rendered = rendered
        self._accounts = accounts

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts this event concerns, each once: those its payload names
        (:func:`~margincall.ledger.fields.accounts_of`, in field order), then every other account whose state
        its transaction changed (:meth:`~margincall.ledger.tx.Tx.accounts_of_event`: a ``funding`` names none and pays
        or charges every holder). The one answer to "which accounts did this event touch": the risk engine's
        caches, the ADL queue and the screener re-check these. Not part of the stored result."""
        accounts = self._accounts
        if not isinstance(accounts, tuple):
            accounts = self._accounts = accounts()
        return accounts

    @property
    def details(self) -> dict[str, Any]:
        if self._details is None:
            assert self._rendered is not None
            self._details = {k: v for k, v in self._rendered.items() if k != "type" and k != "postings"}
        return self._details

    @property
    def postings(self) -> tuple[Posting, ...]:
        if self._postings is None:
            assert self._rendered is not None
            self._postings = tuple(Posting(d["from"], d["to"], d["asset"], Decimal(d["amount"]), d["memo"])
                                   for d in self._rendered["postings"])
        return self._postings

    def to_dict(self) -> dict[str, Any]:
        if self._rendered is not None:
            return {**self._rendered}
        return {"type": self.type, "postings": [p.to_dict() for p in self.postings], **self.details}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApplyResult):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ApplyResult({self.to_dict()!r})"


#: ``PositionState(key, size, entry_price, margin_mode, leverage)`` at half the cost (hot: every fill makes one).
new_position = slots_constructor(PositionState)
