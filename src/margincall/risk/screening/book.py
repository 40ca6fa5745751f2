"""The engine's screening book: one settle asset's symbols, accounts and positions as float64 struct-of-arrays.

Floats only screen (issue #4 item 2): every action the engine takes is confirmed with the exact Decimal path
(:mod:`margincall.math.margin`, :mod:`margincall.math.contracts`). The book mirrors the ledger; it decides nothing.

Layout (all arrays are growable by capacity doubling; read them, never resize them from outside):

* symbols ``s``: ``mark[s]`` (NaN until :meth:`RiskBook.set_mark`), ``inverse[s]``, ``sym_table[s]`` (row of
  :attr:`RiskBook.tiers`, a :class:`~margincall.math.vector.TierArrays`), ``min_mmr[s]``/``max_mmr[s]`` (the
  table's smallest and largest rates, the bounds on ``dMM/dnotional``), ``max_jump[s]`` (largest float
  discontinuity of ``N·mmr_k − cum_k`` at a tier floor, ≈ 0 for a consistent table), ``sym_count[s]`` (positions).
* positions, slot ``i`` (a free list reuses removed slots): ``account[i]``, ``symbol[i]``, ``sign[i]`` (±1.0),
  ``qty[i]`` (``Q`` of docs/venues.md §0: base units for linear, USD face value = contracts × contract size for
  inverse, as :func:`margincall.math.contracts.quantity`), ``entry[i]``, ``isolated[i]``, ``margin[i]``
  (isolated margin, 0 for cross), ``leg[i]`` (0 one-way, +1/−1 hedge-mode long/short leg), ``active[i]``,
  ``pos_k_down[i]``/``pos_k_up[i]`` (an isolated position's thresholds, see below).
* accounts ``a``: ``wallet[a]`` (cross wallet balance), ``k_down[a]``/``k_up[a]`` (thresholds, below), and the
  account's positions as a doubly linked list kept in ascending slot order (``head[a]``, ``nxt[i]``,
  ``prv[i]``; −1 ends), ``n_cross[a]`` (its active cross positions). Ascending order makes a per-account sum
  add the same terms in the same order as the whole-book pass, so the two give bit-identical floats.

Thresholds: an entry (a cross account, or one isolated position) is *flagged* when
``equity − k_down·MM ≤ 0`` and *recovered* when ``k_up > 0`` and ``equity − k_up·MM > 0``. ``k_down = 1`` is
liquidation (docs/venues.md §1: equity < MM); a margin-call state machine sets e.g. ``k_down = 1.25`` in the healthy
state and ``k_up`` to its hysteresis band in the worse ones. ``k_up = 0`` means "no better state".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from margincall.math.vector import TierArrays
from margincall.model.enums import TierBasis, TierMode
from margincall.model.errors import InvalidNumber, MarginCallError, TierTableError, UnknownSymbol
from margincall.model.tiers import TierTable
from margincall.risk.screening.book_checks import check_array, grow, number, table_jump

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

_SYMBOL_BITS = 20  # position keys pack (account, symbol, isolated, leg) into one int
MAX_SYMBOLS = 1 << _SYMBOL_BITS
MAX_ACCOUNTS = 1 << 38

_POS_F = ("sign", "qty", "entry", "margin", "pos_k_down", "pos_k_up")
_POS_I = ("account", "symbol", "leg", "nxt", "prv")
_POS_B = ("isolated", "active")
_ACC_F = ("wallet", "k_down", "k_up")
_ACC_I = ("head", "tail", "n_cross")
_SYM = ("mark", "min_mmr", "max_mmr", "max_jump", "sym_table", "inverse", "sym_count")


class UnknownAccount(MarginCallError):
    code = "unknown_account"


class UnknownPosition(MarginCallError):
    code = "unknown_position"


class DuplicateId(MarginCallError):
    code = "duplicate_id"


class RiskBook:
    """Struct-of-arrays mirror of one settle asset's book, for the float screens (see the module docstring)."""

    def __init__(self, settle_asset: str = "", capacity: int = 1024) -> None:
        self.settle_asset = settle_asset
        cap = max(16, int(capacity))
        # positions
        self.sign = np.zeros(cap)
        self.qty = np.zeros(cap)
        self.entry = np.zeros(cap)
        self.margin = np.zeros(cap)
        self.pos_k_down = np.ones(cap)
        self.pos_k_up = np.zeros(cap)
        self.account = np.full(cap, -1, dtype=np.int64)
        self.symbol = np.full(cap, -1, dtype=np.int64)
        self.leg = np.zeros(cap, dtype=np.int64)
        self.nxt = np.full(cap, -1, dtype=np.int64)
        self.prv = np.full(cap, -1, dtype=np.int64)
        self.isolated = np.zeros(cap, dtype=np.bool_)
        self.active = np.zeros(cap, dtype=np.bool_)
        self.n_slots = 0  # high-water mark: every active slot is < n_slots
        self._free: list[int] = []
        self._keys: dict[int, int] = {}
        # accounts
        acap = max(16, cap // 8)
        self.wallet = np.zeros(acap)
        self.k_down = np.ones(acap)
        self.k_up = np.zeros(acap)
        self.head = np.full(acap, -1, dtype=np.int64)
        self.tail = np.full(acap, -1, dtype=np.int64)
        self.n_cross = np.zeros(acap, dtype=np.int64)
        self.account_names: list[str] = []
        self._account_ids: dict[str, int] = {}
        # symbols
        scap = 16
        self.mark = np.full(scap, np.nan)
        self.min_mmr = np.zeros(scap)
        self.max_mmr = np.zeros(scap)
        self.max_jump = np.zeros(scap)
        self.sym_table = np.zeros(scap, dtype=np.int64)
        self.inverse = np.zeros(scap, dtype=np.bool_)
        self.sym_count = np.zeros(scap, dtype=np.int64)
        self.symbol_names: list[str] = []
        self._symbol_ids: dict[str, int] = {}
        self._tables: list[TierTable] = []
        self._table_rows: dict[int, int] = {}
        self.tiers = TierArrays(np.full((1, 1), np.inf), np.full((1, 1), np.inf), np.zeros((1, 1)), np.zeros((1, 1)))

    # ------------------------------------------------------------------------------------------ sizes
    @property
    def n_accounts(self) -> int:
        return len(self.account_names)

    @property
    def n_symbols(self) -> int:
        return len(self.symbol_names)

    @property
    def n_active(self) -> int:
        return self.n_slots - len(self._free)

    def _reserve_positions(self, need: int) -> None:
        cap = len(self.qty)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in _POS_F + _POS_I + _POS_B:
            old = getattr(self, name)
            fill = {"pos_k_down": 1.0, "account": -1, "symbol": -1, "nxt": -1, "prv": -1}.get(name, 0)
            setattr(self, name, grow(old, cap, fill))

    def _reserve_accounts(self, need: int) -> None:
        cap = len(self.wallet)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in _ACC_F + _ACC_I:
            fill = {"k_down": 1.0, "head": -1, "tail": -1}.get(name, 0)
            setattr(self, name, grow(getattr(self, name), cap, fill))

    # ---------------------------------------------------------------------------------------- symbols
    def add_symbol(self, name: str, tiers: TierTable, inverse: bool = False) -> int:
        """Register a symbol with its tier table (bracket mode, keyed on notional); returns its id.

        ``inverse``: coin-margined, PnL ``s·Q·(1/EP − 1/P)`` and notional ``Q/P`` (docs/venues.md §3.4).
        """
        if name in self._symbol_ids:
            raise DuplicateId(f"symbol: {name!r} is already registered", field="symbol")
        if tiers.mode is not TierMode.BRACKET or tiers.basis is not TierBasis.NOTIONAL:
            raise TierTableError(
                f"symbol {name!r}: the screening book takes bracket tier tables keyed on notional", field="tiers"
            )
        s = self.n_symbols
        if s >= MAX_SYMBOLS:
            raise MarginCallError(f"symbol: more than {MAX_SYMBOLS} symbols", field="symbol")
        if s >= len(self.mark):
            cap = 2 * len(self.mark)
            for attr in _SYM:
                setattr(self, attr, grow(getattr(self, attr), cap, np.nan if attr == "mark" else 0))
        row = self._table_rows.get(id(tiers))
        if row is None:
            row = len(self._tables)
            self._tables.append(tiers)
            self._table_rows[id(tiers)] = row
            self.tiers = TierArrays.from_tables(self._tables)
        self.sym_table[s] = row
        self.inverse[s] = bool(inverse)
        self.min_mmr[s] = min(float(t.mmr) for t in tiers.tiers)
        self.max_mmr[s] = max(float(t.mmr) for t in tiers.tiers)
        self.max_jump[s] = table_jump(self.tiers, row)
        self.symbol_names.append(name)
        self._symbol_ids[name] = s
        return s

    def symbol_id(self, name: str) -> int:
        try:
            return self._symbol_ids[name]
        except KeyError:
            raise UnknownSymbol(f"symbol: {name!r} is not registered", field="symbol") from None

    def set_mark(self, s: int, price: float) -> None:
        """Set symbol ``s``'s mark price (finite, > 0). The index must be told too: ``BandIndex.on_tick``."""
        if not 0 <= s < len(self.symbol_names):
            raise UnknownSymbol(f"symbol: id {s!r} is not registered", field="symbol")
        p = float(price)
        if not 0.0 < p < math.inf:
            raise InvalidNumber(f"mark: {price!r} is not a positive finite price", field="mark")
        self.mark[s] = p

    def check_marks(self) -> None:
        """Raise if a symbol that has positions has no mark yet (a screen would otherwise see NaN)."""
        n = self.n_symbols
        missing = np.isnan(self.mark[:n]) & (self.sym_count[:n] > 0)
        if missing.any():
            name = self.symbol_names[int(np.argmax(missing))]
            msg = f"mark: symbol {name!r} has positions but no mark price"
            raise MarginCallError(msg, code="no_mark", field="mark")

    # --------------------------------------------------------------------------------------- accounts
    def add_account(self, name: str) -> int:
        """Register an account (wallet 0, ``k_down`` 1, ``k_up`` 0); returns its id."""
        return int(self.add_accounts([name])[0])

    def add_accounts(self, names: Sequence[str]) -> I64:
        """Register many accounts at once; ids are consecutive."""
        first = self.n_accounts
        for name in names:
            if name in self._account_ids:
                raise DuplicateId(f"account: {name!r} is already registered", field="account")
        if len(set(names)) != len(names):
            raise DuplicateId("account: duplicate names in the batch", field="account")
        if first + len(names) > MAX_ACCOUNTS:
            raise MarginCallError(f"account: more than {MAX_ACCOUNTS} accounts", field="account")
        self._reserve_accounts(first + len(names))
        self._account_ids.update(zip(names, range(first, first + len(names)), strict=True))
        self.account_names.extend(names)
        return np.arange(first, first + len(names), dtype=np.int64)

    def account_id(self, name: str) -> int:
        try:
            return self._account_ids[name]
        except KeyError:
            raise UnknownAccount(f"account: {name!r} is not registered", field="account") from None

    def _check_account(self, a: int) -> int:
        if not 0 <= a < len(self.account_names):
            raise UnknownAccount(f"account: id {a!r} is not registered", field="account")
        return int(a)

    def set_wallet(self, a: int, wallet: float) -> None:
        """Cross wallet balance in the settle asset (may be negative after a loss)."""
        self.wallet[self._check_account(a)] = number(wallet, "wallet")

    def set_wallets(self, accounts: I64, wallets: F64) -> None:
        accounts = np.asarray(accounts, dtype=np.int64)
        wallets = np.asarray(wallets, dtype=np.float64)
        if len(accounts) and (accounts.min() < 0 or accounts.max() >= self.n_accounts):
            raise UnknownAccount("account: id out of range", field="account")
        check_array(wallets, "wallet")
        self.wallet[accounts] = wallets

    def set_thresholds(self, a: int, k_down: float, k_up: float = 0.0) -> None:
        """Account thresholds: flagged at ``equity ≤ k_down·MM``, recovered at ``equity > k_up·MM`` (0 = none)."""
        a = self._check_account(a)
        self.k_down[a], self.k_up[a] = self._thresholds(k_down, k_up)

    def set_position_thresholds(self, slot: int, k_down: float, k_up: float = 0.0) -> None:
        """The same thresholds for one isolated position."""
        slot = self._check_slot(slot)
        self.pos_k_down[slot], self.pos_k_up[slot] = self._thresholds(k_down, k_up)

    def set_thresholds_many(self, accounts: I64, k_down: F64 | float, k_up: F64 | float = 0.0) -> None:
        """Vectorised :meth:`set_thresholds` (scalars broadcast)."""
        ids = np.asarray(accounts, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_accounts):
            raise UnknownAccount("account: id out of range", field="account")
        kd, ku = self._threshold_arrays(len(ids), k_down, k_up)
        self.k_down[ids], self.k_up[ids] = kd, ku

    def set_position_thresholds_many(self, slots: I64, k_down: F64 | float, k_up: F64 | float = 0.0) -> None:
        """Vectorised :meth:`set_position_thresholds` (scalars broadcast)."""
        ids = np.asarray(slots, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_slots or not self.active[ids].all()):
            raise UnknownPosition("position: slot is not an active position", field="slot")
        kd, ku = self._threshold_arrays(len(ids), k_down, k_up)
        self.pos_k_down[ids], self.pos_k_up[ids] = kd, ku

    @staticmethod
    def _threshold_arrays(n: int, k_down: F64 | float, k_up: F64 | float) -> tuple[F64, F64]:
        kd = np.broadcast_to(np.asarray(k_down, dtype=np.float64), (n,))
        ku = np.broadcast_to(np.asarray(k_up, dtype=np.float64), (n,))
        check_array(kd, "k_down", non_negative=True)
        check_array(ku, "k_up", non_negative=True)
        if np.any((ku > 0) & (ku < kd)):
            raise InvalidNumber("k_up: below k_down", field="k_up")
        return kd, ku

    @staticmethod
    def _thresholds(k_down: float, k_up: float) -> tuple[float, float]:
        kd = number(k_down, "k_down", non_negative=True)
        ku = number(k_up, "k_up", non_negative=True)
        if ku and ku < kd:
            raise InvalidNumber(f"k_up: {ku} is below k_down {kd}", field="k_up")
        return kd, ku

    # -------------------------------------------------------------------------------------- positions
    @staticmethod
    def _key(a: int, s: int, isolated: bool, leg: int) -> int:
        return (((a << _SYMBOL_BITS) | s) << 3) | (int(isolated) << 2) | (leg + 1)

    def _check_slot(self, slot: int) -> int:
        if not (0 <= slot < self.n_slots and self.active[slot]):
            raise UnknownPosition(f"position: slot {slot!r} is not an active position", field="slot")
        return int(slot)

    def slot_of(self, a: int, s: int, isolated: bool = False, leg: int = 0) -> int | None:
        """The slot holding (account, symbol, margin mode, leg), or None."""
        return self._keys.get(self._key(a, s, isolated, leg))

    def upsert_position(
        self,
        a: int,
        s: int,
        side_sign: int,
        qty: float,
        entry: float,
        isolated: bool = False,
        margin: float = 0.0,
        leg: int = 0,
    ) -> int:
        """Create or update the position (account ``a``, symbol ``s``, margin mode, ``leg``); returns its slot.

        One-way mode: ``leg = 0``, one slot per (account, symbol, mode), ``side_sign`` may flip on update.
        Hedge mode: ``leg = +1`` (long leg) or ``−1`` (short leg), two slots; the sign must match the leg.
        ``qty`` is ``Q`` (> 0): base units, or the USD face value for inverse. ``margin`` is the isolated
        margin (≥ 0) and must be 0 for cross. A closed position is removed with :meth:`remove_position`.
        """
        a = self._check_account(a)
        if not 0 <= s < self.n_symbols:
            raise UnknownSymbol(f"symbol: id {s!r} is not registered", field="symbol")
        if side_sign not in (1, -1):
            raise MarginCallError(f"side: {side_sign!r} must be +1 or -1", field="side")
        if leg not in (0, 1, -1):
            raise MarginCallError(f"leg: {leg!r} must be 0 (one-way), +1 or -1 (hedge legs)", field="leg")
        if leg and leg != side_sign:
            raise MarginCallError(f"side: {side_sign} does not match hedge leg {leg}", field="side")
        q = number(qty, "qty", positive=True)
        ep = number(entry, "entry", positive=True)
        m = number(margin, "margin", non_negative=True)
        if not isolated and m != 0.0:
            raise InvalidNumber("margin: a cross position carries no isolated margin", field="margin")
        key = self._key(a, s, bool(isolated), leg)
        slot = self._keys.get(key)
        if slot is None:
            if self._free:
                slot = self._free.pop()
            else:
                self._reserve_positions(self.n_slots + 1)
                slot = self.n_slots
                self.n_slots += 1
            self._keys[key] = slot
            self.account[slot], self.symbol[slot], self.leg[slot] = a, s, leg
            self.isolated[slot] = bool(isolated)
            self.active[slot] = True
            self.pos_k_down[slot], self.pos_k_up[slot] = 1.0, 0.0
            self._link(a, slot)
            self.sym_count[s] += 1
            if not isolated:
                self.n_cross[a] += 1
        self.sign[slot], self.qty[slot], self.entry[slot], self.margin[slot] = float(side_sign), q, ep, m
        return slot

    def _link(self, a: int, slot: int) -> None:
        """Insert ``slot`` into account ``a``'s list, keeping ascending slot order."""
        after = int(self.tail[a])
        while after >= 0 and after > slot:
            after = int(self.prv[after])
        before = int(self.head[a]) if after < 0 else int(self.nxt[after])
        self.prv[slot], self.nxt[slot] = after, before
        if after >= 0:
            self.nxt[after] = slot
        else:
            self.head[a] = slot
        if before >= 0:
            self.prv[before] = slot
        else:
            self.tail[a] = slot

    def remove_position(self, slot: int) -> None:
        """Remove a closed position; its slot goes to the free list (and may be reused by another position)."""
        slot = self._check_slot(slot)
        a, s = int(self.account[slot]), int(self.symbol[slot])
        before, after = int(self.prv[slot]), int(self.nxt[slot])
        if before >= 0:
            self.nxt[before] = after
        else:
            self.head[a] = after
        if after >= 0:
            self.prv[after] = before
        else:
            self.tail[a] = before
        del self._keys[self._key(a, s, bool(self.isolated[slot]), int(self.leg[slot]))]
        self.sym_count[s] -= 1
        if not self.isolated[slot]:
            self.n_cross[a] -= 1
        self.active[slot] = False
        self.nxt[slot] = self.prv[slot] = -1
        self.qty[slot] = self.margin[slot] = 0.0
        self._free.append(slot)

    def add_positions(
        self,
        accounts: I64,
        symbols: I64,
        signs: F64,
        qty: F64,
        entry: F64,
        isolated: B,
        margin: F64,
        legs: I64 | None = None,
    ) -> I64:
        """Insert many new positions at once (vectorised; for loading a book). Returns their slots.

        Same rules as :meth:`upsert_position`, but every (account, symbol, mode, leg) must be new: a batch
        never updates. New slots are appended after the high-water mark (the free list is not used).
        """
        acc = np.asarray(accounts, dtype=np.int64)
        sym = np.asarray(symbols, dtype=np.int64)
        sgn = np.asarray(signs, dtype=np.float64)
        q = np.asarray(qty, dtype=np.float64)
        ep = np.asarray(entry, dtype=np.float64)
        iso = np.asarray(isolated, dtype=np.bool_)
        m = np.asarray(margin, dtype=np.float64)
        lg = np.zeros(len(acc), dtype=np.int64) if legs is None else np.asarray(legs, dtype=np.int64)
        n = len(acc)
        if not all(len(x) == n for x in (sym, sgn, q, ep, iso, m, lg)):
            raise MarginCallError("positions: the arrays differ in length", field="positions")
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if acc.min() < 0 or acc.max() >= self.n_accounts:
            raise UnknownAccount("account: id out of range", field="account")
        if sym.min() < 0 or sym.max() >= self.n_symbols:
            raise UnknownSymbol("symbol: id out of range", field="symbol")
        if not np.all(np.abs(sgn) == 1.0):
            raise MarginCallError("side: every sign must be +1 or -1", field="side")
        if not np.all((lg == 0) | (lg == sgn)):
            raise MarginCallError("leg: every leg must be 0 or equal to its sign", field="leg")
        check_array(q, "qty", positive=True)
        check_array(ep, "entry", positive=True)
        check_array(m, "margin", non_negative=True)
        if np.any(~iso & (m != 0.0)):
            raise InvalidNumber("margin: a cross position carries no isolated margin", field="margin")
        keys = (((acc << _SYMBOL_BITS) | sym) << 3) | (iso.astype(np.int64) << 2) | (lg + 1)
        if len(np.unique(keys)) != n:
            raise DuplicateId("positions: the batch holds the same (account, symbol, mode, leg) twice")
        key_list = keys.tolist()
        if self._keys and any(k in self._keys for k in key_list):
            raise DuplicateId("positions: a position in the batch already exists; use upsert_position")
        first = self.n_slots
        self._reserve_positions(first + n)
        slots = np.arange(first, first + n, dtype=np.int64)
        self.account[slots], self.symbol[slots], self.sign[slots], self.qty[slots] = acc, sym, sgn, q
        self.entry[slots], self.isolated[slots], self.margin[slots], self.leg[slots] = ep, iso, m, lg
        self.active[slots] = True
        self.pos_k_down[slots], self.pos_k_up[slots] = 1.0, 0.0
        self.n_slots = first + n
        self._keys.update(zip(key_list, slots.tolist(), strict=True))
        np.add.at(self.sym_count, sym, 1)
        np.add.at(self.n_cross, acc[~iso], 1)
        # Link: new slots are above every existing one, so each account's run is appended at its tail.
        order = np.argsort(acc, kind="stable")
        sa, ss = acc[order], slots[order]
        starts = np.ones(n, dtype=np.bool_)
        starts[1:] = sa[1:] != sa[:-1]
        ends = np.ones(n, dtype=np.bool_)
        ends[:-1] = starts[1:]
        prv = np.empty(n, dtype=np.int64)
        prv[1:] = ss[:-1]
        prv[starts] = self.tail[sa[starts]]
        nxt = np.empty(n, dtype=np.int64)
        nxt[:-1] = ss[1:]
        nxt[ends] = -1
        self.prv[ss], self.nxt[ss] = prv, nxt
        old_tail = self.tail[sa[starts]]
        has_tail = old_tail >= 0
        self.nxt[old_tail[has_tail]] = ss[starts][has_tail]
        self.head[sa[starts][~has_tail]] = ss[starts][~has_tail]
        self.tail[sa[ends]] = ss[ends]
        return slots

    def slots_of(self, a: int) -> list[int]:
        """Account ``a``'s active position slots (cross and isolated), ascending."""
        out = []
        i = int(self.head[self._check_account(a)])
        while i >= 0:
            out.append(i)
            i = int(self.nxt[i])
        return out

    def isolated_slots(self) -> I64:
        """Every active isolated position's slot."""
        n = self.n_slots
        return np.flatnonzero(self.active[:n] & self.isolated[:n]).astype(np.int64)

    def cross_accounts(self) -> I64:
        """Every account holding at least one active cross position (the watched cross entries)."""
        return np.flatnonzero(self.n_cross[: self.n_accounts] > 0).astype(np.int64)
