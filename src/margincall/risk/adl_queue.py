"""The ADL queue: per (symbol, side), the positions in profit ranked by the venue's formula (:mod:`.adl`),
kept between :meth:`RiskEngine.process` calls and refreshed only where something changed.

When the ranking is taken (unchanged from the ranking recomputed per call): at its **first use in a
``process()`` call**, a side's ranking is exactly ``rank()`` of every position of that side in profit at the
mark, at the state of that moment; the rest of the call walks that ranking (each counterparty's position is
re-read before it is reduced, and positions closed meanwhile are dropped). Like a venue's ADL queue that is
refreshed once per tick, not after each fill.

What is kept is derived state only, never logged: the entries' scores, each with the state it was computed
from. An entry is recomputed when what its score depends on may have changed:

* an event concerning an account (:attr:`margincall.ledger.ApplyResult.accounts`): every position of it
  (its wallet, its positions and so its equity and maintenance margin may have changed);
* a ``mark`` or a ``funding`` of a symbol (or a ``marks`` tick of several): every position in the symbol, and
  every ranked position of a cross account holding it (the cross equity and MM move with every mark the
  account holds; a position not ranked stays out, as whether it is in profit depends on its own mark only);
* anything else (a listing, an event type this module does not know, a ledger changed behind the engine's
  back — ``events_applied`` tells): everything is dropped and rebuilt on demand.

Invalidation is O(1) per event (account and symbol names are only noted); they are expanded to positions when
a ranking is next needed, and a side is recomputed only for the entries that changed. A queue built after a
restore (snapshot or log replay) starts empty, so it is rebuilt from the state on first use. With
``incremental=False`` every side is recomputed from scratch at its first use in each call: the reference the
incremental queue is tested against (identical events).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from margincall.ledger import Ledger, PositionKey
from margincall.math.contracts import notional_of, pnl_of
from margincall.model.construct import slots_constructor
from margincall.model.enums import MarginMode
from margincall.risk.adl import AdlCandidate, AdlRanking, rank_key
from margincall.risk.status import MarginStatus, WatchId

#: (−score, −size, account, position_side) — unique within a side — then score, candidate and position key.
Entry = tuple[Decimal, Decimal, str, str, Decimal, AdlCandidate, PositionKey]

#: ``AdlCandidate(...)`` (all fields, in order) without the frozen dataclass's __init__
_candidate = slots_constructor(AdlCandidate)

#: Event types whose effect on the ranked positions is fully named by their account fields.
_ACCOUNT_SCOPED = frozenset({
    "account_opened", "position_mode_set", "deposit", "withdrawal", "transfer", "fill", "margin_added",
    "margin_removed", "leverage_set", "order_margin_reserved", "order_margin_released", "insurance_fund_deposit",
    "margin_call", "liquidation_started", "partial_liquidation", "liquidation", "adl", "socialized_loss",
    "liquidation_finished", "bankruptcy_settlement", "audit"})
#: Event types that move every holder of their ``symbol``.
_SYMBOL_SCOPED = frozenset({"mark", "funding"})


@dataclass(eq=False)
class _Side:
    sign: int
    ranking: AdlRanking
    entries: list[Entry] = field(default_factory=list)  # in rank order
    by_key: dict[PositionKey, Entry] = field(default_factory=dict)
    dirty: set[PositionKey] = field(default_factory=set)
    #: the dirty keys not yet checked by :meth:`AdlQueue.drop_closed` since the last refresh
    fresh: set[PositionKey] = field(default_factory=set)
    call: int = -1  # the process() call of the last refresh


class AdlQueue:
    def __init__(self, ledger: Ledger, incremental: bool = True) -> None:
        self.ledger = ledger
        self.incremental = incremental
        self.sides: dict[tuple[str, int], _Side] = {}
        self._symbols: dict[str, list[_Side]] = {}  # symbol → its built sides
        self._ranked_of: dict[str, set[PositionKey]] = {}  # account → its positions with an entry
        self._accounts: set[str] = set()  # noted, not yet expanded
        self._marks: set[str] = set()
        self._seen = ledger.events_applied

    def clear(self) -> None:
        self.sides.clear()
        self._symbols.clear()
        self._ranked_of.clear()
        self._accounts.clear()
        self._marks.clear()

    # ------------------------------------------------------------------------------------- invalidation
    def on_applied(self, event_type: str, p: Mapping[str, Any], accounts: Sequence[str]) -> None:
        """Note what an event applied to the ledger may have changed (O(1); expanded on the next use):
        ``accounts`` are the accounts it concerns (:attr:`margincall.ledger.ApplyResult.accounts`)."""
        if not self.sides or not self.incremental:
            return
        applied = self.ledger.events_applied
        if applied != self._seen + 1:  # events reached the ledger without us: trust nothing
            self.clear()
            return
        self._seen = applied
        if event_type in _SYMBOL_SCOPED:
            symbol = p.get("symbol")
            if isinstance(symbol, str):
                self._marks.add(symbol)
            return
        if event_type == "marks":  # applied, so a list of {symbol, price}
            self._marks.update(m["symbol"] for m in p["marks"])
            return
        if event_type not in _ACCOUNT_SCOPED:
            self.clear()
            return
        self._accounts.update(accounts)

    def _expand(self) -> None:
        """Turn the noted accounts and symbols into dirty entries of the built sides."""
        if self.ledger.events_applied != self._seen:  # the ledger changed without us: trust nothing
            self.clear()
            self._seen = self.ledger.events_applied
            return
        if not (self._marks or self._accounts):
            return
        led, built, ranked_of = self.ledger, self._symbols, self._ranked_of
        positions, by_account, accounts = led.positions, led.by_account, self._accounts
        # a mark moves the entries of its symbol (and may bring positions in or out of profit) and, through the
        # cross equity and MM, the score of the ranked positions of the cross accounts holding it (a position
        # not ranked stays out: whether it is in profit depends on its own mark only)
        moved: set[str] = set()
        for symbol in self._marks:
            sides = built.get(symbol, ())
            for key in led.by_symbol.get(symbol, ()):
                pos = positions[key]
                for side in sides:
                    if pos.sign == side.sign or key in side.by_key:
                        side.dirty.add(key)
                        side.fresh.add(key)
                if not pos.is_isolated and key.account not in accounts:
                    moved.add(key.account)
        self._marks.clear()
        for acct in moved:
            for key in ranked_of.get(acct, ()):
                for side in built[key.symbol]:
                    if key in side.by_key:
                        side.dirty.add(key)
                        side.fresh.add(key)
        # an event of an account may change any of its positions (and the wallet behind every score)
        for acct in accounts:
            for keys in (by_account.get(acct, ()), ranked_of.get(acct, ())):
                for key in keys:
                    if key.symbol in built:
                        now = positions.get(key)
                        for side in built[key.symbol]:
                            if (now is not None and now.sign == side.sign) or key in side.by_key:
                                side.dirty.add(key)
                                side.fresh.add(key)
        accounts.clear()

    # ------------------------------------------------------------------------------------------ ranking
    def ranked(self, symbol: str, sign: int, ranking: AdlRanking, call: int,
               status_of: Callable[[WatchId], MarginStatus]) -> list[Entry]:
        """The ``sign`` side of ``symbol`` in rank order, as of its first use in ``call`` (see the module doc)."""
        side = self.sides.get((symbol, sign))
        if side is not None and side.call == call:
            return side.entries
        if self.incremental:
            self._expand()
            side = self.sides.get((symbol, sign))  # _expand may have dropped everything
        if side is None or not self.incremental or side.ranking != ranking:
            side = self._build(symbol, sign, ranking, status_of)
        elif side.dirty:
            self._refresh(symbol, sign, side, status_of)
        side.call = call
        return side.entries

    def _entry(self, key: PositionKey, sign: int, mark: Decimal, ranking: AdlRanking,
               status_of: Callable[[WatchId], MarginStatus]) -> Entry | None:
        led = self.ledger
        pos = led.positions.get(key)
        if pos is None:
            return None
        size = pos.size
        if (1 if size > 0 else -1) != sign:  # pos.sign
            return None
        # the arithmetic of position_upnl, position_notional and watches_for, inlined (every ranked position of
        # the accounts a crash tick moves is recomputed)
        inst = led.markets[key.symbol].instrument
        kind, entry = inst.kind, pos.entry_price
        qty = abs(size) * inst.contract_size
        upnl = pnl_of(kind, sign, qty, entry, mark)
        if upnl <= 0:
            return None
        if pos.margin_mode is MarginMode.ISOLATED:
            st = status_of(WatchId.isolated(key))
            wallet = led.isolated_margin(key)
        else:
            st = status_of(WatchId.cross(key.account, inst.settle_asset))
            wallet = led.wallet(key.account, inst.settle_asset)
        c = _candidate(key.account, key.symbol, key.position_side.value, abs(size), sign, entry, mark,
                       notional_of(kind, qty, mark), notional_of(kind, qty, entry), upnl, wallet, st.equity,
                       st.maintenance_margin)
        score = ranking.score(c)
        return (*rank_key(score, c), score, c, key)

    def _build(self, symbol: str, sign: int, ranking: AdlRanking,
               status_of: Callable[[WatchId], MarginStatus]) -> _Side:
        old = self.sides.pop((symbol, sign), None)
        if old is not None:
            self._symbols[symbol].remove(old)
            for key in old.by_key:
                self._unrank(key)
        led = self.ledger
        mark = led.price_for(symbol)
        side = _Side(sign, ranking)
        for key in led.by_symbol.get(symbol, ()):
            e = self._entry(key, sign, mark, ranking, status_of)
            if e is not None:
                side.entries.append(e)
                self._rank(key, side, e)
        side.entries.sort()
        self.sides[(symbol, sign)] = side
        self._symbols.setdefault(symbol, []).append(side)
        self._seen = led.events_applied
        return side

    def _refresh(self, symbol: str, sign: int, side: _Side, status_of: Callable[[WatchId], MarginStatus]) -> None:
        mark = self.ledger.price_for(symbol)
        entries, by_key, dirty = side.entries, side.by_key, side.dirty
        old = [by_key[k] for k in dirty if k in by_key]
        new = [e for k in dirty if (e := self._entry(k, sign, mark, side.ranking, status_of)) is not None]
        for e in old:
            del by_key[e[6]]
            self._unrank(e[6])
        if 8 * (len(old) + len(new)) > len(entries):
            gone = {e[6] for e in old}
            entries[:] = [e for e in entries if e[6] not in gone]
            entries.extend(new)
            entries.sort()
        else:
            for e in old:
                del entries[bisect_left(entries, e)]
            for e in new:
                insort(entries, e)
        for e in new:
            self._rank(e[6], side, e)
        dirty.clear()
        side.fresh.clear()

    def _rank(self, key: PositionKey, side: _Side, e: Entry) -> None:
        side.by_key[key] = e
        self._ranked_of.setdefault(key.account, set()).add(key)

    def _unrank(self, key: PositionKey) -> None:
        keys = self._ranked_of.get(key.account)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._ranked_of[key.account]

    def unheld(self, symbol: str, sign: int) -> list[Entry] | None:
        """The entries of the side whose position is no longer held on that side (closed, or on the other side
        now): those the next :meth:`drop_closed` drops; None when not known (the queue is not incremental, or the
        side is not built). Drops from the keys :meth:`drop_closed` will check those found held (the same
        invariant: held when checked, and no event of their account since)."""
        if not self.incremental:
            return None
        side = self.sides.get((symbol, sign))
        if side is None:
            return None
        self._expand()
        if self.sides.get((symbol, sign)) is not side:
            return None
        by_key = side.by_key
        if side.fresh:
            positions = self.ledger.positions
            side.fresh = {k for k in side.fresh if k in by_key and ((q := positions.get(k)) is None or q.sign != sign)}
        return [by_key[k] for k in side.fresh]

    def drop_closed(self, symbol: str, sign: int) -> list[Entry] | None:
        """Drop the entries of the side whose position is gone or no longer on that side (taken by ADL during
        this call), so later liquidations of the call do not walk past them; the others keep their rank.

        Returns the entries dropped (removed in place from the list :meth:`ranked` returned), or None when the
        side was rebuilt or dropped meanwhile (the caller's view of the ranking is stale)."""
        side = self.sides.get((symbol, sign))
        if side is None:
            return None
        positions = self.ledger.positions
        if not self.incremental:
            side.entries[:] = [e for e in side.entries if (q := positions.get(e[6])) is not None and q.sign == sign]
            side.by_key = {e[6]: e for e in side.entries}
            return None
        self._expand()  # every position changed since the refresh is now dirty: the closed ones among them
        if self.sides.get((symbol, sign)) is not side:
            return None
        # only the keys dirtied since the last check: one checked then (still held, on this side) and not dirtied
        # again since has had no event of its account, so it is still held
        fresh, by_key = side.fresh, side.by_key
        dropped: list[Entry] = []
        for key in [k for k in fresh if k in by_key]:
            q = positions.get(key)
            if q is None or q.sign != sign:
                e = by_key.pop(key)
                del side.entries[bisect_left(side.entries, e)]
                self._unrank(key)
                dropped.append(e)
        fresh.clear()
        return dropped
