"""The engine's screener over the float band index: a mark tick touches only the watches that may have
changed band, not every holder of the symbol. It implements every hook of
:class:`~margincall.risk.screener_protocol.Screener` and sees the engine through its
:class:`~margincall.risk.screener_protocol.EngineView`.

The ledger stays the truth: after every applied event the accounts it touched are marked dirty, and before
the next query their rows in the float :class:`~margincall.risk.screening.book.RiskBook` (one per settle asset) are
re-synced from the ledger and re-banded with thresholds taken from the engine's current margin-call band:
a watch in band B is a candidate once ``equity − k_down·MM ≤ 0`` (``k_down = 1 / threshold(B + 1)``) or
``equity − k_up·MM > 0`` (``k_up = 1 / (threshold(B) − hysteresis)``). Candidates are then checked exactly
(Decimal) by the view. Symbols the float book cannot model (whole-position or contract-keyed tiers) are
screened by holding instead, for every account that holds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np

from margincall.ledger.types import PositionKey, PositionState
from margincall.model.enums import MarginMode, PositionSide, TierBasis, TierMode
from margincall.model.errors import MarginCallError
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.screener_protocol import EngineView
from margincall.risk.screening.band_index import BandIndex, warm_up
from margincall.risk.screening.book import RiskBook
from margincall.risk.screening.screen import full_screen
from margincall.risk.status import WatchId, status, watches_for

_LEG = {PositionSide.BOTH: 0, PositionSide.LONG: 1, PositionSide.SHORT: -1}


class _AssetBook:
    def __init__(self, asset: str) -> None:
        self.asset = asset
        self.book = RiskBook(settle_asset=asset)
        self.index = BandIndex(self.book)
        self.slot_keys: dict[int, PositionKey] = {}
        #: what each position's row was last written from: (position, isolated margin or None, slot); a position
        #: is immutable in the ledger (a change is a new object), so the same object and margin: the same row
        self.rows: dict[PositionKey, tuple[PositionState, Decimal | None, int]] = {}


class IndexScreener:
    def __init__(self) -> None:
        warm_up()  # every kernel compiled (or loaded from the disk cache) now, never inside a tick
        self.books: dict[str, _AssetBook] = {}
        self.symbol_book: dict[str, tuple[_AssetBook, int]] = {}
        self.unsupported: set[str] = set()
        #: accounts changed by an event, or candidates of a tick, since the last flush: re-synced and re-banded
        self.dirty: set[str] = set()

    # ------------------------------------------------------------------------------------------- syncing
    def on_applied(self, view: EngineView, event_type: str, payload: Mapping[str, Any],
                   accounts: Sequence[str]) -> None:
        led = view.ledger
        if event_type == "market_listed":
            symbol = str(payload["symbol"])
            m = led.markets[symbol]
            if m.tiers.mode is not TierMode.BRACKET or m.tiers.basis is not TierBasis.NOTIONAL:
                self.unsupported.add(symbol)
                return
            asset = m.instrument.settle_asset
            ab = self.books.get(asset)
            if ab is None:
                ab = self.books[asset] = _AssetBook(asset)
            s = ab.book.add_symbol(symbol, m.tiers, m.instrument.is_inverse)
            self.symbol_book[symbol] = (ab, s)
            return
        if event_type == "mark" or event_type == "marks":
            for symbol in [payload["symbol"]] if event_type == "mark" else [m["symbol"] for m in payload["marks"]]:
                hit = self.symbol_book.get(str(symbol))
                if hit is not None:
                    hit[0].book.set_mark(hit[1], float(led.marks[str(symbol)]))
            return
        if event_type == "funding":
            self.dirty.update(k.account for k in led.by_symbol.get(str(payload["symbol"]), ()))
            return
        self.dirty.update(accounts)

    def flush(self, view: EngineView) -> None:
        """Re-sync and re-band every dirty account from the ledger."""
        self._sync_dirty(view)

    def _sync_dirty(self, view: EngineView) -> list[str]:
        """Re-sync and re-band every dirty account from the ledger; returns those accounts."""
        if not self.dirty:
            return []
        led = view.ledger
        dirty, self.dirty = self.dirty, set()
        synced = [acct for acct in sorted(dirty) if acct in led.accounts]
        batches: dict[str, tuple[list[int], list[int]]] = {}
        for acct in synced:
            for asset, ab in self.books.items():
                batch = batches.get(asset)
                if batch is None:
                    batch = batches[asset] = ([], [])
                self._sync_account(view, ab, acct, batch)
        for asset, (accounts, slots) in batches.items():
            if accounts or slots:
                self.books[asset].index.rebuild(accounts=accounts, slots=slots)
        return synced

    def _sync_account(self, view: EngineView, ab: _AssetBook, acct: str,
                      batch: tuple[list[int], list[int]]) -> None:
        """Re-sync the rows of ``acct`` in ``ab`` from the ledger; its entries to re-band go to ``batch``."""
        led, book = view.ledger, ab.book
        try:
            a = book.account_id(acct)
        except MarginCallError:
            a = book.add_account(acct)
        book.set_wallet(a, float(led.wallet(acct, ab.asset)))
        keep: set[int] = set()
        iso_slots: list[int] = []
        rows = ab.rows
        for pos in led.positions_of(acct):
            hit = self.symbol_book.get(pos.key.symbol)
            if hit is None or hit[0] is not ab:
                continue
            s = hit[1]
            if led.marks.get(pos.key.symbol) is None:
                book.set_mark(s, float(pos.entry_price))
            isolated = pos.margin_mode is MarginMode.ISOLATED
            margin = led.isolated_margin(pos.key) if isolated else None
            row = rows.get(pos.key)
            if row is not None and row[0] is pos and row[1] == margin:
                slot = row[2]  # the row was written from this very (immutable) position and margin
            else:
                slot = book.upsert_position(
                    a, s, pos.sign, float(led.position_qty(pos)), float(pos.entry_price), isolated,
                    0.0 if margin is None else float(margin), _LEG[pos.key.position_side])
                rows[pos.key] = (pos, margin, slot)
            keep.add(slot)
            ab.slot_keys[slot] = pos.key
            if isolated:
                iso_slots.append(slot)
                kd, ku = self._thresholds(view, WatchId.isolated(pos.key))
                book.set_position_thresholds(slot, kd, ku)
        removed = [s for s in book.slots_of(a) if s not in keep]
        if removed:
            gone = [s for s in removed if book.isolated[s]]
            if gone:  # before the slots are freed: another account of this flush may reuse them
                ab.index.remove(slots=gone)
            for s in removed:
                book.remove_position(s)
                key = ab.slot_keys.pop(s, None)
                if key is not None and (row := rows.get(key)) is not None and row[2] == s:
                    del rows[key]
        kd, ku = self._thresholds(view, WatchId.cross(acct, ab.asset))
        book.set_thresholds(a, kd, ku)
        batch[0].append(a)
        batch[1].extend(iso_slots)

    @staticmethod
    def _thresholds(view: EngineView, watch: WatchId) -> tuple[float, float]:
        return _band_thresholds(view.band_config, view.bands.get(watch, Band.HEALTHY))

    def restore(self, view: EngineView) -> None:
        """Build the float books of an engine restored from a snapshot."""
        for symbol, m in view.ledger.markets.items():
            self.on_applied(view, "market_listed", {"symbol": symbol, **m.listing}, ())
            if symbol in view.ledger.marks:
                self.on_applied(view, "mark", {"symbol": symbol}, ())
        self.dirty.update(view.ledger.accounts)
        self.flush(view)

    def audit(self, view: EngineView) -> list[WatchId]:
        """The periodic full re-screen: every watch the vectorised screen finds past a threshold, confirmed
        exactly, that the engine has not acted on. Empty when the incremental path missed nothing."""
        self._sync_dirty(view)
        led = view.ledger
        found: set[WatchId] = set()
        for ab in self.books.values():
            if not ab.book.n_active:
                continue
            res = full_screen(ab.book)
            for a in np.union1d(res.flagged_accounts, res.recovered_accounts).tolist():
                found.add(WatchId.cross(ab.book.account_names[a], ab.asset))
            for slot in np.union1d(res.flagged_slots, res.recovered_slots).tolist():
                key = ab.slot_keys.get(slot)
                if key is not None:
                    found.add(WatchId.isolated(key))
        missed = []
        cfg = view.band_config
        for watch in sorted(found, key=str):
            if view.in_waterfall(watch):
                continue
            st = status(led, watch)
            current = view.bands.get(watch, Band.HEALTHY)
            exact = cfg.next_band(current, st.maintenance_margin, st.equity) if st.positions else Band.HEALTHY
            if exact != current or st.liquidatable:
                missed.append(watch)
        return missed

    def most_at_risk(self, view: EngineView, n: int) -> list[WatchId]:
        """The ``n`` watches with the highest margin ratio (MM / equity; equity ≤ 0 first) by the vectorised
        screen — a superset for the caller to order exactly. Watches on unsupported symbols are all included."""
        self._sync_dirty(view)
        scored: list[tuple[float, WatchId]] = []
        for ab in self.books.values():
            if not ab.book.n_active:
                continue
            res = full_screen(ab.book)
            for a in ab.book.cross_accounts().tolist():
                eq, mm = float(res.account_equity[a]), float(res.account_mm[a])
                scored.append((np.inf if eq <= 0 else mm / eq, WatchId.cross(ab.book.account_names[a], ab.asset)))
            for slot in ab.book.isolated_slots().tolist():
                key = ab.slot_keys.get(slot)
                if key is None:
                    continue
                eq, mm = float(res.position_equity[slot]), float(res.position_mm[slot])
                scored.append((np.inf if eq <= 0 else mm / eq, WatchId.isolated(key)))
        scored.sort(key=lambda r: -r[0])
        out = [w for _r, w in scored[:n]]
        led = view.ledger
        for sym in self.unsupported:
            out.extend(watches_for(led, k) for k in led.by_symbol.get(sym, ()))
        return out

    # ------------------------------------------------------------------------------------------ querying
    def candidates(self, view: EngineView, symbols: Iterable[str]) -> set[WatchId]:
        """The watches a tick that moved the marks of ``symbols`` (already applied) may have changed. With several
        symbols: the union of each symbol's candidates from bands built before the tick — exact, as a band
        index entry cannot change state while every mark stays inside its band on that symbol (the slack is
        split among the symbols; :mod:`margincall.risk.screening.band_index`)."""
        # The engine flushes at the end of every call, so an account still dirty here changed since without being
        # re-banded (events replayed with apply(), or applied to the ledger directly): its band is re-built at
        # this tick's marks, so a crossing on this very tick would not show in the index. Check it exactly.
        stale = self._sync_dirty(view)
        led = view.ledger
        out: set[WatchId] = set()
        for acct in stale:
            out.update(watches_for(led, k) for k in led.by_account.get(acct, ()))
        for symbol in symbols:
            self._symbol_candidates(view, symbol, out)
        return out

    def _symbol_candidates(self, view: EngineView, symbol: str, out: set[WatchId]) -> None:
        led = view.ledger
        hit = self.symbol_book.get(symbol)
        if hit is None:
            out.update(watches_for(led, k) for k in led.by_symbol.get(symbol, ()))
            return
        ab, s = hit
        cands = ab.index.on_tick(s, float(led.marks[symbol]))
        for a in cands.accounts.tolist():
            out.add(WatchId.cross(ab.book.account_names[a], ab.asset))
            self.dirty.add(ab.book.account_names[a])
        for slot in cands.slots.tolist():
            key = ab.slot_keys.get(slot)
            if key is not None:
                out.add(WatchId.isolated(key))
                self.dirty.add(key.account)
        if self.unsupported:  # their float rows leave these positions out: check their holders exactly too
            holders = {k.account for k in led.by_symbol.get(symbol, ())}
            for sym in self.unsupported:
                out.update(watches_for(led, k) for k in led.by_symbol.get(sym, ()) if k.account in holders)


@lru_cache(maxsize=256)
def _band_thresholds(cfg: BandConfig, band: Band) -> tuple[float, float]:
    """(k_down, k_up) of the float index for a watch in ``band``."""
    worse = Band(min(band + 1, Band.LIQUIDATION))
    k_down = 1.0 / float(cfg.threshold(worse))
    if band == Band.HEALTHY:
        return k_down, 0.0
    better = float(cfg.threshold(band) - (cfg.hysteresis if band < Band.LIQUIDATION else 0))
    return k_down, 1.0 / better
