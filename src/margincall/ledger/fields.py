"""Reading an event's payload: ids, numbers and choices, each refused with a :class:`Rejected` naming the field;
the accounts a payload names; and the text the ledger writes numbers as in its results."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from margincall.ledger.types import Rejected
from margincall.model.errors import MarginCallError
from margincall.model.numbers import MAX_MAGNITUDE, positive

#: The longest id (account, symbol, order id, asset, audit field) an event may carry.
MAX_ID_LENGTH = 64


#: The payload fields that name an account, in any event type (built-in or registered): ``account``, ``from`` /
#: ``to`` of a transfer, and the bankrupt counterpart of an ``adl`` event; then ``shares[].account`` (a
#: ``socialized_loss``).
ACCOUNT_FIELDS = ("account", "from", "to", "bankrupt_account")
_FROM, _TO, _BANKRUPT = ACCOUNT_FIELDS[1:]


def accounts_of(payload: Mapping[str, Any]) -> list[str]:
    """Every account a payload names, each once, in field order: :data:`ACCOUNT_FIELDS`, then the accounts of
    ``shares``. For an applied event this is the start of :attr:`ApplyResult.accounts
    <margincall.ledger.types.ApplyResult.accounts>`, and all of it for every event but those that move every
    holder of a symbol (``funding``; ``mark`` and ``marks`` change no account): a logged event is read back with
    this (the event log's per-account index, the API's account filter, ``explain``)."""
    get = payload.get
    # Most events (fills, deposits) name one account: four lookups say so (3x faster than a set's isdisjoint
    # walking the payload's keys; this runs for every event appended and every event the engine applies).
    if _FROM not in payload and _TO not in payload and _BANKRUPT not in payload and "shares" not in payload:
        first = get("account")
        return [first] if isinstance(first, str) else []
    found: list[str] = []
    for name in ACCOUNT_FIELDS:
        v = get(name)
        if isinstance(v, str) and v not in found:
            found.append(v)
    shares = get("shares")
    if isinstance(shares, list):
        for s in shares:
            v = s.get("account") if isinstance(s, Mapping) else None
            if isinstance(v, str) and v not in found:
                found.append(v)
    return found


def plain(d: Decimal) -> str:
    """A Decimal as plain text, never in exponent notation (``0E-8`` → ``0.00000000``)."""
    text = str(d)  # str() is 3x faster than format(); without an exponent it is the same text
    return format(d, "f") if "E" in text else text


def read_id(payload: Mapping[str, Any], name: str) -> str:
    """``payload[name]`` as a non-empty string of at most :data:`MAX_ID_LENGTH` characters."""
    v = payload.get(name)
    if not isinstance(v, str) or not v.strip():
        raise Rejected("invalid_field", f"{name}: expected a non-empty string", field=name)
    if len(v) > MAX_ID_LENGTH:
        raise Rejected("invalid_field", f"{name}: longer than {MAX_ID_LENGTH} characters", field=name)
    return v


def read_number(payload: Mapping[str, Any], name: str,
                check: Callable[[Any, str], Decimal] = positive) -> Decimal:
    """``payload[name]`` read by ``check`` (default :func:`~margincall.model.numbers.positive`)."""
    value = payload.get(name)
    if value is None:
        raise Rejected("missing_field", f"{name}: required", field=name)
    if check is positive and type(value) is str and len(value) <= 19 and "e" not in value and "E" not in value:
        # The common case, accepted without positive()'s generic checks: plain text of at most 19 characters
        # without an exponent has at most 18 digits after the point. Anything else (or any doubt) goes
        # through positive() below, which raises the documented error.
        try:
            d = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if d.is_finite() and 0 < d <= MAX_MAGNITUDE:
                return d
    try:
        return check(value, name)
    except MarginCallError as e:
        raise Rejected(e.code, str(e), field=name) from None


def read_choice(payload: Mapping[str, Any], name: str, options: Iterable[str], default: str | None = None) -> str:
    """``payload[name]`` (``default`` when absent), which must be one of ``options``."""
    v = payload.get(name, default)
    opts = options if type(options) is tuple else tuple(options)
    if v not in opts:
        raise Rejected("invalid_field", f"{name}: expected one of {', '.join(opts)}, got {v!r}", field=name)
    return str(v)


@dataclass(frozen=True, slots=True)
class FillTerms:
    """What a ``fill`` payload says of the trade, read and checked (``read_fill_terms``)."""

    side: str
    size: Decimal
    price: Decimal
    liquidity: str
    reduce_only: bool


def read_fill_terms(payload: Mapping[str, Any], lot: Decimal) -> FillTerms:
    """A fill's side, size (a multiple of the market's ``lot``), price, liquidity (default taker) and reduce-only
    flag, in the order the ledger reads them (the first bad field is the one named)."""
    side = read_choice(payload, "side", ("buy", "sell"))
    size = read_number(payload, "size")
    price = read_number(payload, "price")
    liquidity = read_choice(payload, "liquidity", ("maker", "taker"), "taker")
    reduce_only = payload.get("reduce_only", False)
    if not isinstance(reduce_only, bool):
        raise Rejected("invalid_field", "reduce_only: expected true or false", field="reduce_only")
    if size % lot != 0:
        raise Rejected("invalid_lot", f"size {size} is not a multiple of the lot size {lot}", field="size")
    return FillTerms(side, size, price, liquidity, reduce_only)

