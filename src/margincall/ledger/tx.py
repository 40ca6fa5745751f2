"""The transaction of one event: every change an event makes to the ledger is staged here and written by
:meth:`Tx.commit` only, after every check has passed.

A handler reads the state through the ledger (as it was before the event) or through the ``Tx`` (as the event
would leave it: :meth:`Tx.balance`, :meth:`Tx.position`, :meth:`Tx.mark`, :meth:`Tx.is_liquidating`) and changes it
only through the ``Tx``. A handler that raises leaves its ``Tx`` unwritten, so a refused event leaves no trace
whatever it had staged (``tests/test_ledger_refused_event_leaves_no_trace.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from margincall.ledger.fields import accounts_of
from margincall.ledger.types import EXTERNAL, PositionKey, PositionState, Posting
from margincall.model.enums import MarginMode
from margincall.model.numbers import ZERO

if TYPE_CHECKING:
    from margincall.ledger.state import State
    from margincall.venues.market import MarketSpec

_UNSTAGED: Any = object()  # "not staged in this transaction" (None means staged for removal)
#: What a Tx holds of a kind of change it has not staged (read-only: a write raises, never lands in it).
_NOTHING: Mapping[Any, Any] = MappingProxyType({})


class Tx:
    """Staged changes of one event, written only by :meth:`commit`.

    The staged maps are readable (the ledger's own checks look at them); write them through the methods. Most
    events stage balances and positions only: the other maps are made on the first change of their kind, and
    written only when there is one (an event is applied in a few microseconds, and eleven maps made and walked
    for each would cost a third of a mark event's time)."""

    leverage: Mapping[tuple[str, str], Decimal] = _NOTHING
    modes: Mapping[tuple[str, str], MarginMode] = _NOTHING
    reserved: Mapping[tuple[str, str], tuple[str, Decimal] | None] = _NOTHING
    markets: Mapping[str, MarketSpec] = _NOTHING
    accounts: Mapping[str, bool] = _NOTHING
    marks: Mapping[str, Decimal] = _NOTHING
    deposits: Mapping[str, Decimal] = _NOTHING
    withdrawals: Mapping[str, Decimal] = _NOTHING
    liquidating: Mapping[tuple[str, str], bool] = _NOTHING
    _kinds: tuple[str, ...] = ()  # the names of the maps above that hold changes, in the order first staged

    def __init__(self, ledger: State, *, record: bool = True) -> None:
        self.ledger = ledger
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.positions: dict[PositionKey, PositionState | None] = {}
        #: None when the caller does not want the postings (replay): moves then only change balances.
        self.postings: list[Posting] | None = [] if record else None

    def _staged(self, name: str) -> dict[Any, Any]:
        """The map of staged changes called ``name``, made on its first use."""
        m = getattr(self, name)
        if m is _NOTHING:
            m = {}
            setattr(self, name, m)
            self._kinds = (*self._kinds, name)
        return cast(dict[Any, Any], m)

    # ------------------------------------------------------------------------------ the state as it would be
    def balance(self, book: str, asset: str) -> Decimal:
        k = (book, asset)
        if k in self.balances:
            return self.balances[k]
        return self.ledger.balances.get(k, ZERO)

    def position(self, key: PositionKey) -> PositionState | None:
        staged = self.positions.get(key, _UNSTAGED)
        return self.ledger.positions.get(key) if staged is _UNSTAGED else staged

    def mark(self, symbol: str) -> Decimal | None:
        staged = self.marks.get(symbol)
        return self.ledger.marks.get(symbol) if staged is None else staged

    def is_liquidating(self, book: str, asset: str) -> bool:
        """Whether ``book`` may go below zero: a cross wallet whose liquidation is in progress."""
        k = (book, asset)
        staged = self.liquidating.get(k)
        return k in self.ledger.liquidating if staged is None else staged

    # ---------------------------------------------------------------------------------------------- money
    def move(self, debit: str, credit: str, asset: str, amount: Decimal, memo: str) -> None:
        """Move ``amount`` from ``debit`` to ``credit``; a negative amount moves the other way."""
        if not amount:
            return
        if amount < 0:
            debit, credit, amount = credit, debit, -amount
        staged, committed = self.balances, self.ledger.balances
        k = (debit, asset)
        staged[k] = (staged[k] if k in staged else committed.get(k, ZERO)) - amount
        k = (credit, asset)
        staged[k] = (staged[k] if k in staged else committed.get(k, ZERO)) + amount
        if self.postings is not None:
            self.postings.append(Posting(debit, credit, asset, amount, memo))

    def deposit(self, book: str, asset: str, amount: Decimal, memo: str) -> None:
        """Money from outside the system into ``book``, counted in the deposits (what conservation is checked
        against)."""
        self.move(EXTERNAL, book, asset, amount, memo)
        staged = self._staged("deposits")
        staged[asset] = staged.get(asset, self.ledger.deposits.get(asset, ZERO)) + amount

    def withdraw(self, book: str, asset: str, amount: Decimal, memo: str) -> None:
        """Money out of ``book`` to outside the system, counted in the withdrawals."""
        self.move(book, EXTERNAL, asset, amount, memo)
        staged = self._staged("withdrawals")
        staged[asset] = staged.get(asset, self.ledger.withdrawals.get(asset, ZERO)) + amount

    def start_liquidation(self, book: str, asset: str) -> None:
        """Let the cross wallet ``book`` go below zero between the waterfall's steps."""
        self._staged("liquidating")[(book, asset)] = True

    def end_liquidation(self, book: str, asset: str) -> None:
        """Hold ``book`` to zero or above again."""
        self._staged("liquidating")[(book, asset)] = False

    # ------------------------------------------------------------------------- positions, settings, orders
    def put_position(self, key: PositionKey, position: PositionState | None) -> None:
        """Set the position of ``key`` (None: closed)."""
        self.positions[key] = position

    def set_settings(self, account: str, symbol: str, leverage: Decimal, mode: MarginMode) -> None:
        """The account's leverage and margin mode for ``symbol``."""
        self._staged("leverage")[(account, symbol)] = leverage
        self._staged("modes")[(account, symbol)] = mode

    def reserve(self, account: str, order_id: str, asset: str, amount: Decimal) -> None:
        """Order margin held for an open order."""
        self._staged("reserved")[(account, order_id)] = (asset, amount)

    def release(self, account: str, order_id: str) -> None:
        self._staged("reserved")[(account, order_id)] = None

    # --------------------------------------------------------------------------- markets, accounts, marks
    def list_market(self, spec: MarketSpec) -> None:
        self._staged("markets")[spec.instrument.symbol] = spec

    def set_account(self, account: str, hedge: bool) -> None:
        """Open ``account`` or set its position mode (``hedge``: long and short legs; else one-way)."""
        self._staged("accounts")[account] = hedge

    def set_mark(self, symbol: str, price: Decimal) -> None:
        self._staged("marks")[symbol] = price

    # ------------------------------------------------------------------------------------- what it touches
    def accounts_of_event(self, payload: Mapping[str, Any]) -> tuple[str, ...]:
        """The accounts of the event: those ``payload`` names (:func:`~margincall.ledger.fields.accounts_of`),
        then, by name, the other accounts whose state this transaction changes — a wallet or an isolated margin,
        a position, a setting, an order's margin, the account itself, a liquidating wallet."""
        named = accounts_of(payload)
        others: set[str] = set()
        for book, _asset in (*self.balances, *self.liquidating):
            if book.startswith("wallet:"):
                others.add(book[7:])
            elif book.startswith("isolated:"):  # isolated:<account>:<symbol>:<side>
                others.add(book[9:].rsplit(":", 2)[0])
        others.update(key.account for key in self.positions)
        for staged in (self.leverage, self.modes, self.reserved):
            others.update(account for account, _ in staged)
        others.update(self.accounts)
        others.difference_update(named)
        return (*named, *sorted(others))

    # -------------------------------------------------------------------------------------------- writing
    def commit(self, ts: int) -> tuple[Posting, ...]:
        """Write every staged change, count the event and return its postings."""
        led = self.ledger
        for name in self._kinds:
            _WRITE[name](led, getattr(self, name))
        write_books(led, self.balances, self.positions, ts)
        return () if self.postings is None else tuple(self.postings)


def write_books(led: State, balances: Mapping[tuple[str, str], Decimal],
                positions: Mapping[PositionKey, PositionState | None], ts: int) -> None:
    """Write staged balances (a zero balance is dropped) and positions (None: closed), and count the event at
    ``ts``: the end of :meth:`Tx.commit`, and the whole write of the fast fill path (:mod:`.fastfill`), which
    stages its three balances and its position itself."""
    for k, v in balances.items():
        if not v:
            led.balances.pop(k, None)
        else:
            led.balances[k] = v
    for key, pos in positions.items():
        if pos is None:
            if led.positions.pop(key, None) is not None:
                led.by_symbol[key.symbol].discard(key)
                led.by_account[key.account].discard(key)
        else:
            if key not in led.positions:  # a new position: index it
                led.by_symbol.setdefault(key.symbol, set()).add(key)
                led.by_account.setdefault(key.account, set()).add(key)
            led.positions[key] = pos
    led.events_applied += 1
    led.last_ts = ts


def _write_markets(led: State, staged: dict[str, MarketSpec]) -> None:
    for sym, spec in staged.items():
        led.markets[sym] = spec
        led.by_symbol.setdefault(sym, set())


def _write_accounts(led: State, staged: dict[str, bool]) -> None:
    for acct, hedge in staged.items():
        led.accounts[acct] = hedge
        led.by_account.setdefault(acct, set())


def _write_reserved(led: State, staged: dict[tuple[str, str], tuple[str, Decimal] | None]) -> None:
    for k, v in staged.items():
        if v is None:
            led.reserved.pop(k, None)
        else:
            led.reserved[k] = v


def _write_liquidating(led: State, staged: dict[tuple[str, str], bool]) -> None:
    for book, on in staged.items():
        if on:
            led.liquidating.add(book)
        else:
            led.liquidating.discard(book)


#: How each of the maps a Tx makes on first use is written.
_WRITE: dict[str, Callable[[State, Any], None]] = {
    "markets": _write_markets,
    "accounts": _write_accounts,
    "marks": lambda led, staged: led.marks.update(staged),
    "leverage": lambda led, staged: led.leverage.update(staged),
    "modes": lambda led, staged: led.modes.update(staged),
    "reserved": _write_reserved,
    "deposits": lambda led, staged: led.deposits.update(staged),
    "withdrawals": lambda led, staged: led.withdrawals.update(staged),
    "liquidating": _write_liquidating,
}
