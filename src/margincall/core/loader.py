"""The core's state from a Decimal :class:`~margincall.ledger.Ledger`, and back to Decimal for comparison.

``load(ledger)`` converts every number exactly or refuses the state (:class:`~margincall.core.ranges.CoreRangeError`
naming the field). One case deserves a word: the reference averages an entry price in Decimal's 28-digit context
(``math.trade.average_entry``), so a position increased at a second price usually holds an entry with more digits
than any fixed scale — its uPnL in the reference is then itself rounded at the 28th digit. The core refuses such
a state ("entry_price … has more digits than the core's scale") rather than hold a different number; the
reference must first fix the scale of an averaged entry (docs/architecture.md "Core", what is not yet built).

``reference_values(core)`` is the inverse: the state's numbers as exact Decimals keyed as the ledger keys them, so a
test compares them with the ledger's own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from margincall.core.build import assemble_markets, by_market, check_quantities, market_row, watches_of
from margincall.core.ranges import MAX_MONEY, RATE_DIGITS, CoreRangeError, money_digits, scaled, unscaled
from margincall.core.state import SIDES, SYSTEM_BOOKS, CoreState, Positions, Settings
from margincall.ledger import Ledger, PositionKey
from margincall.ledger.types import isolated_book, wallet_book
from margincall.model.enums import MarginMode, PositionSide


def _money(value: Decimal, u: int, field: str) -> int:
    return scaled(value, u, field, MAX_MONEY)


def load(ledger: Ledger) -> CoreState:
    """The core's arrays for the ledger's state (symbols and accounts in sorted order)."""
    u = money_digits(ledger.unit)
    symbols = sorted(ledger.markets)
    assets = sorted({m.instrument.settle_asset for m in ledger.markets.values()}
                    | {a for (_b, a) in ledger.balances} | set(ledger.deposits) | set(ledger.withdrawals))
    asset_ix = {a: i for i, a in enumerate(assets)}
    rows = [market_row(ledger.markets[s], u) for s in symbols]
    marks: list[int | None] = []
    for s, r in zip(symbols, rows, strict=True):
        m = ledger.marks.get(s)
        marks.append(None if m is None else scaled(m, r.price_digits, f"marks.{s}"))
    markets, tiers = assemble_markets(symbols, [ledger.markets[s].venue for s in symbols],
                                      [asset_ix[ledger.markets[s].instrument.settle_asset] for s in symbols],
                                      rows, marks)
    sym_ix = {s: i for i, s in enumerate(symbols)}
    accounts = sorted(ledger.accounts)
    acct_ix = {a: i for i, a in enumerate(accounts)}
    n_a, n_s = len(accounts), len(assets)

    wallet = np.zeros((n_a, n_s), np.int64)
    system = np.zeros((len(SYSTEM_BOOKS), n_s), np.int64)
    iso_margin: dict[PositionKey, int] = {}
    iso_books = {isolated_book(*k): k for k in ledger.positions}
    for (book, asset), v in ledger.balances.items():
        field = f"balances.{book}.{asset}"
        if book.startswith("wallet:"):
            wallet[acct_ix[book[7:]], asset_ix[asset]] = _money(v, u, field)
        elif book.startswith("isolated:"):
            key = iso_books.get(book)
            if key is None:
                raise CoreRangeError(f"{field}: an isolated margin without its position", field=field)
            iso_margin[key] = _money(v, u, field)
        elif book in SYSTEM_BOOKS:
            system[SYSTEM_BOOKS.index(book), asset_ix[asset]] = _money(v, u, field)
        else:
            raise CoreRangeError(f"{field}: a book the core does not hold", field=field)
    liquidating = np.zeros((n_a, n_s), np.bool_)
    for book, asset in ledger.liquidating:
        if not book.startswith("wallet:"):
            raise CoreRangeError(f"liquidating.{book}: only a wallet can be liquidating", field="liquidating")
        liquidating[acct_ix[book[7:]], asset_ix[asset]] = True
    order_margin = np.zeros((n_a, n_s), np.int64)
    for (acct, oid), (asset, amt) in ledger.reserved.items():
        order_margin[acct_ix[acct], asset_ix[asset]] += _money(amt, u, f"reserved.{acct}.{oid}")

    keys = sorted(ledger.positions, key=lambda k: (k.account, k.symbol, k.position_side.value))
    n_p = len(keys)
    p_acct = np.empty(n_p, np.int32)
    p_mkt = np.empty(n_p, np.int32)
    p_side = np.empty(n_p, np.int8)
    p_size = np.empty(n_p, np.int64)
    p_entry = np.empty(n_p, np.int64)
    p_iso = np.empty(n_p, np.bool_)
    p_margin = np.zeros(n_p, np.int64)
    p_lev = np.empty(n_p, np.int64)
    for i, k in enumerate(keys):
        pos = ledger.positions[k]
        where = f"positions.{k.account}.{k.symbol}.{k.position_side.value}"
        mi = sym_ix[k.symbol]
        r = rows[mi]
        p_acct[i], p_mkt[i], p_side[i] = acct_ix[k.account], mi, SIDES.index(k.position_side.value)
        p_size[i] = scaled(pos.size, r.size_digits, f"{where}.size")
        p_entry[i] = scaled(pos.entry_price, r.price_digits, f"{where}.entry_price")
        p_iso[i] = pos.margin_mode is MarginMode.ISOLATED
        p_margin[i] = iso_margin.pop(k, 0)
        p_lev[i] = scaled(pos.leverage, RATE_DIGITS, f"{where}.leverage")
    if iso_margin:
        k = next(iter(iso_margin))
        raise CoreRangeError(f"isolated margin of {k} held by a cross position", field="balances")
    pairs = sorted(set(ledger.leverage) | set(ledger.modes))
    settings = Settings(
        np.array([acct_ix[a] for a, _s in pairs], np.int32), np.array([sym_ix[s] for _a, s in pairs], np.int32),
        np.array([scaled(ledger.leverage[k], RATE_DIGITS, f"leverage.{k[0]}.{k[1]}") if k in ledger.leverage else 0
                  for k in pairs], np.int64),
        np.array([ledger.modes.get(k) is MarginMode.ISOLATED for k in pairs], np.bool_))
    watch, watches = watches_of(p_acct, p_mkt, p_iso, markets.asset, n_s)
    positions = Positions(p_acct, p_mkt, p_side, p_size, p_entry, p_iso, p_margin, p_lev, watch)
    check_quantities(positions, markets)
    return CoreState(
        unit_digits=u, assets=assets, markets=markets, tiers=tiers, accounts=accounts,
        hedge=np.array([ledger.accounts[a] for a in accounts], np.bool_), wallet=wallet, liquidating=liquidating,
        order_margin=order_margin, positions=positions, watches=watches,
        by_market=by_market(p_mkt, len(symbols)), settings=settings, system=system,
        deposits=np.array([_money(ledger.deposits.get(a, Decimal(0)), u, f"deposits.{a}") for a in assets], np.int64),
        withdrawals=np.array([_money(ledger.withdrawals.get(a, Decimal(0)), u, f"withdrawals.{a}") for a in assets],
                             np.int64),
        events_applied=ledger.events_applied, last_ts=ledger.last_ts,
    )


def reference_values(core: CoreState) -> dict[str, Any]:
    """The core's state as exact Decimals keyed as the ledger keys them: ``balances`` {(book, asset): amount}
    (zero balances left out, as the ledger drops them), ``positions`` {(account, symbol, leg): (size, entry,
    isolated, leverage)}, ``marks``, ``deposits``, ``withdrawals``, ``leverage`` and ``isolated`` (the settings:
    {(account, symbol): leverage}, {(account, symbol) set to isolated}), ``liquidating``."""
    u = core.unit_digits
    m = core.markets
    balances: dict[tuple[str, str], Decimal] = {}
    for a, acct in enumerate(core.accounts):
        for s, asset in enumerate(core.assets):
            if core.wallet[a, s]:
                balances[(wallet_book(acct), asset)] = unscaled(int(core.wallet[a, s]), u)
    for b, book in enumerate(SYSTEM_BOOKS):
        for s, asset in enumerate(core.assets):
            if core.system[b, s]:
                balances[(book, asset)] = unscaled(int(core.system[b, s]), u)
    p = core.positions
    positions: dict[tuple[str, str, str], tuple[Decimal, Decimal, bool, Decimal]] = {}
    for i in range(len(p.size)):
        mi = int(p.market[i])
        acct, sym, side = core.accounts[p.account[i]], m.symbols[mi], SIDES[p.side[i]]
        if p.isolated[i] and p.isolated_margin[i]:
            book = isolated_book(acct, sym, PositionSide(side))
            balances[(book, core.assets[m.asset[mi]])] = unscaled(int(p.isolated_margin[i]), u)
        positions[(acct, sym, side)] = (unscaled(int(p.size[i]), int(m.size_digits[mi])),
                                        unscaled(int(p.entry[i]), int(m.price_digits[mi])), bool(p.isolated[i]),
                                        unscaled(int(p.leverage[i]), RATE_DIGITS))
    return {
        "balances": balances,
        "positions": positions,
        "marks": {s: unscaled(int(m.mark[i]), int(m.price_digits[i])) for i, s in enumerate(m.symbols)
                  if m.has_mark[i]},
        "deposits": {a: unscaled(int(v), u) for a, v in zip(core.assets, core.deposits, strict=True) if v},
        "withdrawals": {a: unscaled(int(v), u) for a, v in zip(core.assets, core.withdrawals, strict=True) if v},
        "leverage": {(core.accounts[a], m.symbols[s]): unscaled(int(v), RATE_DIGITS)
                     for a, s, v in zip(core.settings.account, core.settings.market, core.settings.leverage,
                                        strict=True) if v},
        "isolated": {(core.accounts[a], m.symbols[s]) for a, s, i in zip(core.settings.account, core.settings.market,
                                                                          core.settings.isolated, strict=True) if i},
        "liquidating": {(wallet_book(core.accounts[a]), core.assets[s]) for a, s in zip(*np.nonzero(core.liquidating),
                                                                                         strict=True)},
    }
