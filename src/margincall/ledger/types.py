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
    """One position leg: account, symbol and side (``both`` in one-way mode, ``long``/``short`` in hedge mode)."""

    account: str
    symbol: str
    position_side: PositionSide = PositionSide.BOTH
    # The hash, computed once: keys index every dict and set of positions, and the generated __hash__ would
    # hash the three fields (the enum's through a Python call) at every lookup.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.account, self.symbol, self.position_side.value)))

    def __hash__(self) -> int:
        return self._hash


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

    __slots__ = ("_details", "_postings", "_rendered", "type")

    def __init__(self, type: str, postings: tuple[Posting, ...] = (), details: dict[str, Any] | None = None, *,
                 rendered: dict[str, Any] | None = None) -> None:
        self.type = type
        self._postings: tuple[Posting, ...] | None = postings if rendered is None else None
        self._details: dict[str, Any] | None = ({} if details is None else details) if rendered is None else None
        self._rendered = rendered

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


_new_object = object.__new__
_slots: dict[str, Any] = dict(vars(PositionState))  # the slots' member descriptors
_set_key = _slots["key"].__set__
_set_size = _slots["size"].__set__
_set_entry = _slots["entry_price"].__set__
_set_mode = _slots["margin_mode"].__set__
_set_leverage = _slots["leverage"].__set__


def new_position(
    key: PositionKey, size: Decimal, entry_price: Decimal, margin_mode: MarginMode, leverage: Decimal
) -> PositionState:
    """``PositionState(key, size, entry_price, margin_mode, leverage)``, built through its slots directly: the
    same object (equal, same hash) at half the cost of the frozen dataclass's ``__init__``, which sets each
    field through ``object.__setattr__`` (hot: every fill makes one)."""
    pos: PositionState = _new_object(PositionState)
    _set_key(pos, key)
    _set_size(pos, size)
    _set_entry(pos, entry_price)
    _set_mode(pos, margin_mode)
    _set_leverage(pos, leverage)
    return pos
