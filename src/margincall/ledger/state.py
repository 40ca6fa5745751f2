"""The ledger's state: markets, marks, accounts, books, positions, settings and order margin; lookups over it,
the conservation check, the snapshot and its digest.

Every event changes this state only through a :class:`~margincall.ledger.tx.Tx` (see :mod:`.ledger` for the
dispatch). The books and the invariant:

    Σ wallets + Σ isolated margins + insurance + fees + funding + clearing = Σ deposits − Σ withdrawals

per asset, after every event (the ``external`` book holds exactly the negative of the right-hand side).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self

from margincall.ledger.fields import read_id, read_number
from margincall.ledger.types import EXTERNAL, PositionKey, PositionState, Rejected, isolated_book, wallet_book
from margincall.model.enums import MarginMode, PositionSide
from margincall.model.numbers import ZERO
from margincall.venues.market import MarketSpec, market_from_listing

#: Smallest unit of every asset's balance (8 decimals, as Binance and Bybit wallets show).
DEFAULT_UNIT = Decimal("1e-8")
DEFAULT_LEVERAGE = Decimal(20)


def position_order(pos: PositionState) -> tuple[str, str]:
    """The order positions of one account are summed and checked in: by symbol, then leg."""
    return pos.key.symbol, pos.key.position_side.value


def default_leverage(market: MarketSpec) -> Decimal:
    """The leverage of an account that never set one for ``market``: 20x, or the first tier's maximum if lower."""
    return min(DEFAULT_LEVERAGE, market.tiers.tiers[0].max_leverage)


class State:
    """The ledger's data and the questions asked of it that involve no arithmetic on positions."""

    def __init__(self, unit: Decimal = DEFAULT_UNIT) -> None:
        self.unit = unit
        self.markets: dict[str, MarketSpec] = {}
        self.marks: dict[str, Decimal] = {}
        self.accounts: dict[str, bool] = {}  # account -> hedge mode
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.positions: dict[PositionKey, PositionState] = {}
        self.by_symbol: dict[str, set[PositionKey]] = {}
        self.by_account: dict[str, set[PositionKey]] = {}
        self.leverage: dict[tuple[str, str], Decimal] = {}
        self.modes: dict[tuple[str, str], MarginMode] = {}
        self.reserved: dict[tuple[str, str], tuple[str, Decimal]] = {}
        self.deposits: dict[str, Decimal] = {}
        self.withdrawals: dict[str, Decimal] = {}
        self.events_applied = 0
        self.last_ts = 0
        #: Wallet books of cross accounts under liquidation: they may go below zero between the waterfall's
        #: steps until the bankruptcy settlement brings them back to zero.
        self.liquidating: set[tuple[str, str]] = set()
        self._keys: dict[tuple[str, str, str], PositionKey] = {}  # one key object per position leg

    # ------------------------------------------------------------------------------------------- lookups
    def market(self, symbol: str) -> MarketSpec:
        try:
            return self.markets[symbol]
        except KeyError:
            raise Rejected("unknown_symbol", f"unknown symbol {symbol!r}", field="symbol") from None

    def account_of(self, payload: Mapping[str, Any], name: str = "account") -> str:
        """The known account named by ``payload[name]`` (``Rejected`` otherwise)."""
        acct = read_id(payload, name)
        if acct not in self.accounts:
            raise Rejected("unknown_account", f"unknown account {acct!r}", field=name)
        return acct

    def asset_of(self, payload: Mapping[str, Any]) -> str:
        """The asset named by ``payload["asset"]``, settled by some listed market (``Rejected`` otherwise)."""
        asset = read_id(payload, "asset")
        if not any(m.instrument.settle_asset == asset for m in self.markets.values()):
            raise Rejected("unknown_asset", f"no listed market settles in {asset!r}", field="asset")
        return asset

    def amount_of(self, payload: Mapping[str, Any], name: str = "amount") -> Decimal:
        """A positive amount of money in ``payload[name]``, with no digit below the smallest unit."""
        amt = read_number(payload, name)
        if amt != amt.quantize(self.unit, rounding="ROUND_DOWN"):
            raise Rejected("too_precise", f"{name}: {amt} has more digits than the smallest unit {self.unit}",
                           field=name)
        return amt

    def mark(self, symbol: str) -> Decimal | None:
        return self.marks.get(symbol)

    def wallet(self, account: str, asset: str) -> Decimal:
        return self.balances.get((wallet_book(account), asset), ZERO)

    def book_balance(self, book: str, asset: str) -> Decimal:
        return self.balances.get((book, asset), ZERO)

    def isolated_margin(self, key: PositionKey) -> Decimal:
        asset = self.market(key.symbol).instrument.settle_asset
        return self.balances.get((isolated_book(key.account, key.symbol, key.position_side), asset), ZERO)

    def positions_of(self, account: str) -> list[PositionState]:
        return sorted((self.positions[k] for k in self.by_account.get(account, ())), key=position_order)

    def positions_in(self, symbol: str) -> list[PositionState]:
        return sorted((self.positions[k] for k in self.by_symbol.get(symbol, ())),
                      key=lambda p: (p.key.account, p.key.position_side.value))

    def settings(self, account: str, symbol: str) -> tuple[Decimal, MarginMode]:
        """The account's leverage and margin mode for ``symbol`` (the market's defaults if never set)."""
        lev = self.leverage.get((account, symbol))
        if lev is None:
            lev = default_leverage(self.market(symbol))
        return lev, self.modes.get((account, symbol), MarginMode.CROSS)

    # --------------------------------------------------------------------------------- invariants, state
    def conservation_error(self) -> str | None:
        """``None`` when, per asset, Σ all non-external books = Σ deposits − Σ withdrawals (and the
        external book is exactly its negative); otherwise a message saying which asset is off by how much."""
        totals: dict[str, Decimal] = {}
        for (book, asset), v in self.balances.items():
            if book != EXTERNAL:
                totals[asset] = totals.get(asset, ZERO) + v
        assets = set(totals) | set(self.deposits) | set(self.withdrawals)
        for asset in sorted(assets):
            net = self.deposits.get(asset, ZERO) - self.withdrawals.get(asset, ZERO)
            held = totals.get(asset, ZERO)
            if held != net:
                return f"{asset}: books hold {held} but deposits − withdrawals = {net}"
            if self.balances.get((EXTERNAL, asset), ZERO) != -net:
                return f"{asset}: external book {self.balances.get((EXTERNAL, asset), ZERO)} is not −{net}"
        for (book, asset), v in self.balances.items():
            if book.startswith(("wallet:", "isolated:")) and v < 0 and (book, asset) not in self.liquidating:
                return f"{book} is negative: {v} {asset}"
        return None

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-able data (sorted, so equal states give equal JSON)."""
        return {
            "unit": str(self.unit),
            "markets": {s: m.listing for s, m in sorted(self.markets.items())},
            "marks": {s: str(v) for s, v in sorted(self.marks.items())},
            "accounts": {a: h for a, h in sorted(self.accounts.items())},
            "balances": [[b, a, str(v)] for (b, a), v in sorted(self.balances.items())],
            "positions": [
                [k.account, k.symbol, k.position_side.value, str(q.size), str(q.entry_price), q.margin_mode.value,
                 str(q.leverage)]
                for k, q in sorted(self.positions.items(),
                                   key=lambda kv: (kv[0].account, kv[0].symbol, kv[0].position_side.value))
            ],
            "leverage": [[a, s, str(v)] for (a, s), v in sorted(self.leverage.items())],
            "modes": [[a, s, v.value] for (a, s), v in sorted(self.modes.items())],
            "reserved": [[a, o, asset, str(v)] for (a, o), (asset, v) in sorted(self.reserved.items())],
            "liquidating": sorted([b, a] for b, a in self.liquidating),
            "deposits": {a: str(v) for a, v in sorted(self.deposits.items())},
            "withdrawals": {a: str(v) for a, v in sorted(self.withdrawals.items())},
            "events_applied": self.events_applied,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> Self:
        led = cls(Decimal(data["unit"]))
        for symbol, listing in data["markets"].items():
            led.markets[symbol] = market_from_listing(listing)
            led.by_symbol.setdefault(symbol, set())
        led.marks = {s: Decimal(v) for s, v in data["marks"].items()}
        led.accounts = dict(data["accounts"])
        for a in led.accounts:
            led.by_account.setdefault(a, set())
        led.balances = {(b, a): Decimal(v) for b, a, v in data["balances"]}
        for acct, sym, ps, size, entry, mode, lev in data["positions"]:
            key = PositionKey(acct, sym, PositionSide(ps))
            led.positions[key] = PositionState(key, Decimal(size), Decimal(entry), MarginMode(mode), Decimal(lev))
            led._keys[(acct, sym, ps)] = key
            led.by_symbol.setdefault(sym, set()).add(key)
            led.by_account.setdefault(acct, set()).add(key)
        led.leverage = {(a, s): Decimal(v) for a, s, v in data["leverage"]}
        led.modes = {(a, s): MarginMode(v) for a, s, v in data["modes"]}
        led.reserved = {(a, o): (asset, Decimal(v)) for a, o, asset, v in data["reserved"]}
        led.liquidating = {(b, a) for b, a in data.get("liquidating", [])}
        led.deposits = {a: Decimal(v) for a, v in data["deposits"].items()}
        led.withdrawals = {a: Decimal(v) for a, v in data["withdrawals"].items()}
        led.events_applied = int(data["events_applied"])
        led.last_ts = int(data["last_ts"])
        return led

    def digest(self) -> str:
        """sha256 of the canonical snapshot: two ledgers are in the same state iff their digests are equal."""
        blob = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
