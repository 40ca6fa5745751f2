"""Replaying trades against price history through the service's own engine (:class:`RiskEngine`).

Every rule — fees, margin, funding, the trigger (equity ≤ MM at the mark), partial liquidation, the liquidation
fee, the insurance fund's settlement — is the engine's; this module only turns candles into mark ticks and
trades into input events (``market_listed``, ``account_opened``, ``deposit``, ``leverage_set``, ``fill``,
``mark``, ``funding``), and reads the engine's events back per trade.

**Mark path.** Liquidation is checked on the mark: the mark candles when given, otherwise the trade candles
(:attr:`BacktestResult.mark_source` says which). A candle covers ``[date, date + timeframe)``; it is replayed
after the events at its start and before those at its end. Within a candle the path is open → the adverse
extreme of the positions at risk → the favourable extreme → close (longs at risk: open, low, high, close;
otherwise open, high, low, close): each position's adverse extreme is checked before its favourable one — the
pessimistic reading of a candle, since its true order is unknown. When the path crosses a position's venue
liquidation price (:func:`margincall.risk.status.liquidation_price`) the mark is fed at that price (moved
≤ 1e-10 past it), as the venue's continuous mark would cross it; a candle that opens past it (a gap) liquidates
at the open.

**Finer candles** (``fine_candles`` / ``fine_marks``: e.g. 5m under 1h), when given, are replayed inside a coarse
candle the screen below picks (one that could reach a liquidation price, or every candle while fed densely), by the
same rules, so the liquidation's time and price are those of the finer path; a coarse candle its finer candles do
not cover without a gap is replayed on its own. The coarse candle's range is taken to hold its finer candles'
(the screen skips a coarse candle whose own extremes stay clear). A trade's default open and close prices are the
finer candles' opens.

**Only the candles that can matter are fed.** With no position open nothing is fed. Between events a float
screen finds the first candle whose adverse extreme comes within ``guard`` (relative) of a position's
liquidation price; the candles before it cannot liquidate anything and are skipped; that candle is fed as
above and the screen resumes after it. Funding needs no path (its payload carries the mark at its time); before
every event the mark at its time (the open of the candle holding it) is fed. A liquidation in progress is fed every
candle.

**A cross account holding several symbols** is fed every candle of those symbols, merged by time. The candles that
start at one time are replayed together, corner by corner, each corner one ``marks`` tick of all of them (the engine
checks each account once at all the new marks): every symbol's open; then every symbol's adverse extreme (the low of
a symbol with a long position, else the high: an account long A and short B sees A's low with B's high at once, the
worst corner for it); then the favourable extremes; then the closes. Assumed: the symbols' extremes within one
candle come at the same moment, adverse together — the pessimistic reading again. Such an account is liquidated at
the corner where its equity first reaches its maintenance margin, each position at its own symbol's mark there (not
interpolated between corners, since the crossing depends on all the marks at once); an isolated position in these
symbols still has its own exact liquidation price fed, as a tick of its symbol alone, on the way to a corner. The
merged candles are the given ones (finer candles are not opened up there). Symbols held by no such account are
replayed one after another between events, as above (their accounts do not interact).

**Money.** Without ``--wallet`` or a ``wallet`` column an account is funded, when each trade opens, with that
trade's initial margin and opening fee (computed by the ledger's own :func:`initial_margin`, :func:`trading_fee`
and :func:`charge`). The venue's insurance fund is deep (no auto-deleveraging of other backtested accounts).
At the same time, closes come before funding and opens after it. Two trades of one account in one symbol may
not overlap (the venue nets them into one position).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from margincall.backtest.candles import Series, candle_segments, dec
from margincall.backtest.instruments import market_listing
from margincall.backtest.io import BacktestInputError, funding_frame, ms_of
from margincall.backtest.results import BacktestResult, TradeResult
from margincall.backtest.trades import Trade
from margincall.ledger import PositionKey
from margincall.ledger.types import FUNDING, isolated_book, wallet_book
from margincall.math.contracts import notional_of
from margincall.math.margin import initial_margin
from margincall.math.trade import charge, trading_fee
from margincall.model.enums import ContractKind, PositionSide
from margincall.risk.engine import Applied, EngineConfig, RiskEngine
from margincall.risk.status import WatchId, liquidation_price, watches_for
from margincall.venues.market import market_from_listing

_FUND = "1000000000000"  # the venue's insurance fund: deep enough that no backtest reaches ADL
_SCAN = 8192  # candles screened per numpy pass


class Replay:
    """One backtest run (build with :func:`run_backtest`)."""

    def __init__(self, venue: str, trades: list[Trade], candles: Mapping[str, pd.DataFrame],
                 marks: Mapping[str, pd.DataFrame] | None = None, funding: Mapping[str, pd.DataFrame] | None = None,
                 instruments: Mapping[str, Mapping[str, Any]] | None = None, wallet: Decimal | None = None,
                 config: EngineConfig | None = None, guard: float = 0.0005,
                 fine_candles: Mapping[str, pd.DataFrame] | None = None,
                 fine_marks: Mapping[str, pd.DataFrame] | None = None) -> None:
        self.venue = venue
        self.trades = trades
        self.wallet = wallet
        self.guard = guard
        # the exact "holders" screen: a backtest holds few positions at once, and it needs no compiled index
        self.engine = RiskEngine(config or EngineConfig(screener="holders"))
        symbols = sorted({t.symbol for t in trades})
        for s in symbols:
            if s not in candles:
                raise BacktestInputError(f"no candles for {s} (have: {', '.join(sorted(candles)) or 'none'})",
                                         field="candles")
        fine_candles, fine_marks = fine_candles or {}, fine_marks or {}
        self.mark_source = "mark" if marks and all(s in marks for s in symbols) else "trade"
        for what, given in (("fine_candles", fine_candles), ("fine_marks", fine_marks)):
            extra = sorted(set(given) - set(symbols))
            if extra:
                raise BacktestInputError(f"{what}[{extra[0]}]: no trade in this symbol", field=what)
        if fine_marks and self.mark_source != "mark":
            raise BacktestInputError("fine_marks: given without mark candles for every symbol (the mark path is the "
                                     "trade candles)", field="fine_marks")
        self.candles = {s: Series.of(candles[s], f"candles[{s}]", fine_candles.get(s), f"fine_candles[{s}]")
                        for s in symbols}
        self.path = ({s: Series.of(marks[s], f"marks[{s}]", fine_marks.get(s), f"fine_marks[{s}]")
                      for s in symbols} if self.mark_source == "mark" and marks else self.candles)
        self.funding = {s: funding_frame(f, f"funding[{s}]") for s, f in (funding or {}).items() if s in symbols}
        instruments = instruments or {}
        led = self.engine.ledger
        funded: set[str] = set()
        for s in symbols:
            listing = market_listing(venue, s, instruments.get(s, {}))
            spec = market_from_listing(listing)  # refuses a bad listing with the field named
            self.engine.process("market_listed", listing, 0)
            if spec.instrument.settle_asset not in funded:
                funded.add(spec.instrument.settle_asset)
                self.engine.process("insurance_fund_deposit", {"asset": spec.instrument.settle_asset,
                                                               "amount": _FUND}, 0)
        self.cursor = dict.fromkeys(symbols, 0)
        self.results = {t.id: TradeResult(t) for t in trades}
        self.slots: dict[tuple[str, str], TradeResult] = {}  # (account, symbol) → its open trade
        self.books: dict[str, str] = {}  # wallet / isolated book → account
        self.accounts: set[str] = set()
        # watch → (sign, venue liquidation price), kept until an event changes its account
        self.thresholds: dict[WatchId, tuple[int, Decimal | None]] = {}
        self.stale: set[str] | None = set()  # accounts whose cached prices are stale (None: all)
        self.marks_fed = 0
        self.snap: list[tuple[int, float, dict[str, float]]] = []
        self.led = led

    # ------------------------------------------------------------------------------------------ driving
    def run(self) -> BacktestResult:
        events: list[tuple[int, int, int, str, Any]] = []
        for n, t in enumerate(self.trades):
            events.append((t.open_ts, 2, n, "open", t))
            if t.close_ts is not None:
                events.append((t.close_ts, 0, n, "close", t))
        for s, f in self.funding.items():
            stamps = ms_of(f["date"])
            events.extend((int(x), 1, i, "funding", (s, r))
                          for i, (x, r) in enumerate(zip(stamps.tolist(), f["rate"], strict=True)))
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        for ts, _o, _n, kind, data in events:
            self._merged(ts)
            for s in self.path:
                self._advance(s, ts)
            if kind == "funding":
                s, rate = data
                if any(k[1] == s for k in self.slots):
                    self._tick(s, ts, dec(self.path[s].at(ts)))
                    self._feed("funding", {"symbol": s, "rate": rate, "mark": format(dec(self.path[s].at(ts)), "f")},
                               ts)
            elif kind == "open":
                self._open(data)
            else:
                self._close(data)
        last = max(int(p.ends[-1]) for p in self.path.values())
        self._merged(last)
        for s in self._held_symbols():
            self._advance(s, int(self.path[s].ends[-1]))
        return BacktestResult(self.venue, self.mark_source, [self.results[t.id] for t in self.trades],
                              self._equity(), {s: self._frame(p) for s, p in self.path.items()},
                              self.led.events_applied, self.marks_fed,
                              {s: self.led.markets[s] for s in self.path})

    def _held_symbols(self) -> list[str]:
        return sorted({k[1] for k in self.slots})

    def _feed(self, type_: str, payload: dict[str, Any], ts: int) -> list[Applied]:
        # a candle replayed after an event stamped inside it (funding at 00:00:00.006) keeps the log's order; the
        # trades' table reports the candle's time
        out = self.engine.process(type_, payload, max(ts, self.led.last_ts))
        self._record(out, ts)
        return out

    def _tick(self, symbol: str, ts: int, price: Decimal) -> None:
        self.marks_fed += 1
        self._feed("mark", {"symbol": symbol, "price": format(price, "f")}, ts)

    # --------------------------------------------------------------------------------------------- trades
    def _open(self, t: Trade) -> None:
        key = (t.account, t.symbol)
        if key in self.slots:
            raise BacktestInputError(f"trade {t.id}: account {t.account} already holds {t.symbol} (trade "
                                     f"{self.slots[key].trade.id}); give it another account", field="account")
        market = self.led.markets[t.symbol]
        inst = market.instrument
        price = t.open_price if t.open_price is not None else dec(self.candles[t.symbol].at(t.open_ts))
        size = t.size
        if size is None:
            assert t.stake is not None
            size = t.stake * t.leverage / price
        size = (size / inst.lot_size).to_integral_value(ROUND_FLOOR) * inst.lot_size
        if size <= 0:
            raise BacktestInputError(f"trade {t.id}: size rounds to 0 lots of {inst.lot_size}", field="size")
        self._tick(t.symbol, t.open_ts, dec(self.path[t.symbol].at(t.open_ts)))
        if t.account not in self.accounts:
            self.accounts.add(t.account)
            self._feed("account_opened", {"account": t.account}, t.open_ts)
            self.books[wallet_book(t.account)] = t.account
            initial = t.wallet if t.wallet is not None else self.wallet
            if initial is not None and initial > 0:
                self._feed("deposit", {"account": t.account, "asset": inst.settle_asset, "amount": str(initial)},
                           t.open_ts)
        if t.wallet is None and self.wallet is None:
            qty = size * inst.contract_size
            need = (charge(initial_margin(notional_of(inst.kind, qty, price), t.leverage), self.led.unit)
                    + charge(trading_fee(inst.kind, qty, price, market.taker_fee), self.led.unit))
            self._feed("deposit", {"account": t.account, "asset": inst.settle_asset, "amount": str(need)}, t.open_ts)
        self.books[isolated_book(t.account, t.symbol, PositionSide.BOTH)] = t.account
        self._feed("leverage_set", {"account": t.account, "symbol": t.symbol, "leverage": str(t.leverage),
                                    "margin_mode": t.margin_mode}, t.open_ts)
        r = self.results[t.id]
        self.slots[key] = r
        r.size, r.entry_price = size, price
        self._feed("fill", {"account": t.account, "symbol": t.symbol, "side": "buy" if t.sign > 0 else "sell",
                            "size": str(size), "price": str(price), "liquidity": "taker"}, t.open_ts)

    def _close(self, t: Trade) -> None:
        assert t.close_ts is not None
        r = self.slots.get((t.account, t.symbol))
        if r is None or r.trade.id != t.id:
            return  # liquidated in full before its close
        pos = self.led.positions.get(PositionKey(t.account, t.symbol))
        self._tick(t.symbol, t.close_ts, dec(self.path[t.symbol].at(t.close_ts)))
        if pos is None or (t.account, t.symbol) not in self.slots:
            return
        price = t.close_price if t.close_price is not None else dec(self.candles[t.symbol].at(t.close_ts))
        self._feed("fill", {"account": t.account, "symbol": t.symbol, "side": "sell" if pos.size > 0 else "buy",
                            "size": str(abs(pos.size)), "price": str(price), "liquidity": "taker",
                            "reduce_only": True}, t.close_ts)

    # ------------------------------------------------------------------------------------ reading events
    def _touched(self, a: Applied) -> None:
        """Mark stale the cached liquidation prices of the accounts an event changed: its account and the owners
        of the books it posted to. A mark changes no position's size, entry or margin (a cross account's other
        positions are read densely, never cached); an event naming no account makes every price stale."""
        if a.type in ("mark", "marks"):
            return
        acct = a.payload.get("account")
        owners = {self.books[b] for post in a.result.postings for b in (post.debit, post.credit) if b in self.books}
        if isinstance(acct, str):
            owners.add(acct)
        elif not owners:
            self.stale = None
            return
        if self.stale is not None:
            self.stale |= owners

    def _record(self, applied: list[Applied], ts: int) -> None:
        for a in applied:
            self._touched(a)
            p, d = a.payload, a.result.details
            acct, sym = p.get("account"), p.get("symbol")
            if a.type == "funding":
                self._funding(a)
                continue
            r = self.slots.get((acct, sym)) if isinstance(acct, str) and isinstance(sym, str) else None
            if a.type == "liquidation_started":
                marks = p.get("marks") or {}
                for (ac, s), rr in self.slots.items():
                    if ac == acct and (p["scope"] == "cross" or p["what"].split(":")[0] == s) and not rr.liquidated:
                        rr.liquidated, rr.liquidation_time = True, ts
                        rr.liquidation_price = Decimal(str(marks.get(s))) if s in marks else None
            elif a.type == "bankruptcy_settlement":
                targets = [rr for (ac, s), rr in self.slots.items() if ac == acct and
                           (p.get("scope") == "cross" or str(p.get("what", "")).split(":")[0] == s)]
                if targets:
                    fee = Decimal(str(d.get("liquidation_fee") or 0))
                    targets[0].liquidation_fee += fee
                    targets[0].fees += fee
                    targets[0].surplus_to_fund += Decimal(str(d.get("surplus") or 0))
            elif r is not None and a.type in ("fill", "partial_liquidation", "liquidation", "adl"):
                r.realized_pnl += Decimal(str(d.get("realized_pnl") or 0))
                r.fees += Decimal(str(d.get("fee") or 0))
                if a.type == "partial_liquidation":
                    r.partial_steps += 1
                if d.get("position_size") == "0" and isinstance(acct, str) and isinstance(sym, str):
                    r.exit_price = Decimal(str(d.get("price")))
                    r.exit_time = ts
                    del self.slots[(acct, sym)]

    def _funding(self, a: Applied) -> None:
        symbol = a.payload["symbol"]
        for post in a.result.postings:
            if post.credit == FUNDING and post.debit in self.books:
                r = self.slots.get((self.books[post.debit], symbol))
                if r is not None:
                    r.funding -= post.amount
            elif post.debit == FUNDING and post.credit in self.books:
                r = self.slots.get((self.books[post.credit], symbol))
                if r is not None:
                    r.funding += post.amount

    # ---------------------------------------------------------------------------------------- the path
    def _risk(self, symbol: str) -> tuple[float, float, bool, list[tuple[int, Decimal]]]:
        """(highest long threshold, lowest short threshold, dense?, exact thresholds) of ``symbol``'s
        positions; each cached until an event changes its account."""
        led = self.led
        hi_long, lo_short, dense = -np.inf, np.inf, False
        exact: list[tuple[int, Decimal]] = []
        for (acct, s), r in self.slots.items():
            if s != symbol:
                continue
            key = PositionKey(acct, s)
            pos = led.positions.get(key)
            if pos is None:
                continue
            watch = watches_for(led, key)
            if watch in self.engine.active or (watch.scope == "cross" and len(led.positions_of(acct)) > 1):
                dense = True
                continue
            cached = self.thresholds.get(watch)
            if cached is None:
                cached = (pos.sign, liquidation_price(led, watch, s))
                self.thresholds[watch] = cached
                if cached[1] is not None:
                    r.liq_line.append((led.last_ts, float(cached[1])))
            sign, price = cached
            if price is None or price <= 0:
                if price is None:
                    dense = True
                continue
            exact.append((sign, price))
            if sign > 0:
                hi_long = max(hi_long, float(price))
            else:
                lo_short = min(lo_short, float(price))
        return hi_long, lo_short, dense, exact

    def _advance(self, symbol: str, ts: int) -> None:
        """Replay ``symbol``'s mark candles that end at or before ``ts``."""
        p = self.path[symbol]
        end = int(np.searchsorted(p.ends, ts, "right"))
        self._walk(symbol, p, self.cursor[symbol], end)
        self.cursor[symbol] = max(self.cursor[symbol], end)

    def _refresh(self) -> None:
        """Drop the cached liquidation prices of the accounts events changed since the last look."""
        if self.stale is None:
            self.thresholds.clear()
        elif self.stale:
            for w in [w for w in self.thresholds if w.account in self.stale]:
                del self.thresholds[w]
        self.stale = set()

    def _walk(self, symbol: str, p: Series, i: int, end: int) -> None:
        """Replay candles ``[i, end)`` of ``p``: the screen skips those that cannot liquidate anything."""
        g = self.guard
        while i < end:
            if not any(k[1] == symbol for k in self.slots):
                break
            self._refresh()
            hi_long, lo_short, dense, exact = self._risk(symbol)
            if dense:
                j = i
            else:
                j = end
                lo, hi_ = hi_long * (1 + g), lo_short * (1 - g)
                k = i
                while k < end:
                    stop = min(end, k + _SCAN)
                    hit = (p.low[k:stop] <= lo) | (p.h[k:stop] >= hi_)
                    if hit.any():
                        j = k + int(np.argmax(hit))
                        break
                    k = stop
                if j >= end:
                    break
            fine = p.inside(j)
            if fine is not None:  # the finer path decides when and where inside this candle
                self._walk(symbol, p.fine, *fine)  # type: ignore[arg-type]
            else:
                self._candle(symbol, p, j, exact)
            i = j + 1

    def _candle(self, symbol: str, p: Series, j: int, exact: list[tuple[int, Decimal]]) -> None:
        ts = int(p.dates[j])
        last = None
        for seg in candle_segments(p, j, exact, any(sign > 0 for sign, _ in exact) or not exact):
            for m in seg:
                if m != last and m > 0:
                    self._tick(symbol, ts, m)
                    last = m
                if not any(k[1] == symbol for k in self.slots):
                    return

    # ------------------------------------------------------------------------- cross accounts, many symbols
    def _joint_symbols(self) -> set[str]:
        """The symbols of the cross accounts that hold more than one symbol: their paths are replayed together."""
        held: dict[str, set[str]] = {}
        for (acct, s), r in self.slots.items():
            if r.trade.margin_mode == "cross":
                held.setdefault(acct, set()).add(s)
        return {s for syms in held.values() if len(syms) > 1 for s in syms}

    def _merged(self, ts: int) -> None:
        """Replay, merged by time, the candles ending at or before ``ts`` of the symbols a cross account holds
        together; each timestamp's candles as one path of multi-symbol ticks (:meth:`_joint_candle`)."""
        ends: dict[str, int] = {}
        while True:
            joint = self._joint_symbols()
            for s in joint:
                if s not in ends:
                    ends[s] = int(np.searchsorted(self.path[s].ends, ts, "right"))
            nxt = {s: self.cursor[s] for s in joint if self.cursor[s] < ends[s]}
            if not nxt:
                return
            t = min(int(self.path[s].dates[i]) for s, i in nxt.items())
            now = sorted(s for s, i in nxt.items() if int(self.path[s].dates[i]) == t)
            self._joint_candle(now, t)
            for s in now:
                self.cursor[s] += 1

    def _joint_candle(self, symbols: list[str], ts: int) -> None:
        """The candles of ``symbols`` starting at ``ts``: every symbol at its open, then at its adverse extreme,
        then its favourable one, then its close, each corner one ``marks`` tick of all the symbols (so a cross
        account is checked once at all the new marks). A symbol's adverse extreme is its longs' (the low) when it
        has a long, else its shorts' (the high): a cross account long A and short B sees A's low with B's high. An
        isolated position's exact liquidation price on the way to a corner is fed first, as a tick of its symbol
        alone."""
        self._refresh()
        segs = {}
        for s in symbols:
            exact = self._risk(s)[3]
            longs = any(r.trade.sign > 0 for (_, sym), r in self.slots.items() if sym == s)
            shorts = any(r.trade.sign < 0 for (_, sym), r in self.slots.items() if sym == s)
            segs[s] = candle_segments(self.path[s], self.cursor[s], exact, longs or not shorts)
        last: dict[str, Decimal] = {}
        for k in range(4):
            for s in symbols:
                for m in segs[s][k][:-1]:
                    if m != last.get(s) and m > 0:
                        self._tick(s, ts, m)
                        last[s] = m
            corner = [(s, segs[s][k][-1]) for s in symbols if segs[s][k][-1] != last.get(s)]
            if corner:
                self.marks_fed += 1
                self._feed("marks", {"marks": [{"symbol": s, "price": format(m, "f")} for s, m in corner]}, ts)
                last.update(corner)
            if not any(k_[1] in symbols for k_ in self.slots):
                return

    # ------------------------------------------------------------------------------------------- output
    @staticmethod
    def _frame(p: Series) -> pd.DataFrame:
        return pd.DataFrame({"date": pd.to_datetime(p.dates, unit="ms", utc=True), "open": p.o, "high": p.h,
                             "low": p.low, "close": p.c})

    def _equity(self) -> pd.DataFrame:
        """Cumulative PnL of the backtested trades at each mark candle's close (float, for plots): uPnL while a
        trade is held, its net result (PnL − fees + funding − surplus to the fund) after it ends (linear only)."""
        symbol = sorted(self.path)[0]
        p = self.path[symbol]
        n = len(p.dates)
        eq = np.zeros(n)
        step = np.zeros(n + 1)
        closes = {s: (s_.c if s == symbol else np.interp(p.ends.astype(float), s_.ends.astype(float), s_.c))
                  for s, s_ in self.path.items()}
        for r in self.results.values():
            t = r.trade
            inst = self.led.markets[t.symbol].instrument
            if r.entry_price is None or inst.kind is not ContractKind.LINEAR:
                continue
            end = r.exit_time if r.exit_time is not None else int(p.ends[-1])
            i0, i1 = np.searchsorted(p.ends, [t.open_ts, end], "right")
            qty = t.sign * float(r.size * inst.contract_size)
            eq[i0:i1] += qty * (closes[t.symbol][i0:i1] - float(r.entry_price))
            if r.exit_time is not None:
                step[i1] += float(r.realized_pnl - r.fees + r.funding - r.surplus_to_fund)
        eq += np.cumsum(step[:n])
        return pd.DataFrame({"date": pd.to_datetime(p.ends, unit="ms", utc=True), "pnl": eq})


def run_backtest(trades: pd.DataFrame, candles: Mapping[str, pd.DataFrame], *, venue: str = "binance-usdm",
                 marks: Mapping[str, pd.DataFrame] | None = None, funding: Mapping[str, pd.DataFrame] | None = None,
                 instruments: Mapping[str, Mapping[str, Any]] | None = None, wallet: Decimal | str | None = None,
                 config: EngineConfig | None = None, fine_candles: Mapping[str, pd.DataFrame] | None = None,
                 fine_marks: Mapping[str, pd.DataFrame] | None = None) -> BacktestResult:
    """The library entry point: trades (the columns of :data:`margincall.backtest.io.TRADE_COLUMNS`) and
    per-symbol candles / mark candles / funding as DataFrames in; a :class:`BacktestResult` out. ``fine_candles``
    / ``fine_marks``: finer candles of the same prices, replayed inside the coarser ones that could liquidate."""
    from margincall.backtest.io import trades_frame
    from margincall.backtest.trades import parse_trades

    parsed = parse_trades(trades_frame(trades))
    w = None if wallet is None else Decimal(str(wallet))
    return Replay(venue, parsed, candles, marks, funding, instruments, w, config, fine_candles=fine_candles,
                  fine_marks=fine_marks).run()
