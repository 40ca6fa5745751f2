"""The core's state: integer fixed-point arrays (struct of arrays) for markets and their tier tables, accounts,
positions, the watches the engine checks, and the system books (the insurance fund among them).

Scales and ranges are :mod:`margincall.core.ranges`'s. Row ``i`` of every array of one table is one market, tier,
account, position or watch; strings (symbols, account names, assets) stay in Python lists beside the arrays, for
orchestration only. A watch is what the engine checks (``risk.status.WatchId``): a cross account per settle asset
(its base is the wallet) or one isolated position (its base is the position's isolated margin); the positions of
watch ``w`` are ``watch_positions[watch_ptr[w]:watch_ptr[w + 1]]`` in the reference's summing order (symbol,
then leg).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]

#: ``position_side`` codes: one-way ``both``, hedge-mode ``long`` and ``short``.
SIDES = ("both", "long", "short")
#: The system books held per asset, in this order in :attr:`CoreState.system`.
SYSTEM_BOOKS = ("insurance", "fees", "funding", "clearing", "external")
SYSTEM_INSURANCE = 0
SYSTEM_FEES = 1
SYSTEM_FUNDING = 2
SYSTEM_CLEARING = 3
SYSTEM_EXTERNAL = 4


@dataclass(frozen=True, slots=True)
class Markets:
    """One row per listed market (``symbols[i]``), with its tier table in rows ``tier_ptr[i]:tier_ptr[i+1]`` of
    :class:`Tiers`."""

    symbols: list[str]
    venue: list[str]
    asset: I32            # index into CoreState.assets (the settle asset)
    size_digits: I8       # sd: sizes at 10^-sd
    contract_size: I64    # at 10^-cd
    contract_digits: I8   # cd
    price_digits: I8      # pd = u − sd − cd: prices at 10^-pd
    basis_contracts: B    # tiers keyed on contracts (else on notional in the settle asset)
    bracket: B            # MM = N·rate − amount (else whole-position: N·rate)
    cap_inclusive: B      # a tier holds (floor, cap] (else [floor, cap))
    tier_ptr: I64
    maker_fee: I64        # fee rates at 1e-8
    taker_fee: I64
    liquidation_fee: I64
    has_mark: B
    mark: I64             # at 10^-pd; meaningful where has_mark
    lot: I64              # the lot size at 10^-sd: a fill's size is a multiple of it
    last_cap: I64         # the last tier's cap at the floors' scale (−1: open-ended); beyond it no position


@dataclass(frozen=True, slots=True)
class Tiers:
    """Tier rows: ``floor`` in money units (notional basis) or size units (contracts basis), ``rate`` at 1e-8,
    the maintenance amount as ``amount_whole`` money units + ``amount_frac`` at 10^-(u+8) (0 ≤ frac < 1e8), the
    tier's maximum leverage at 1e-8."""

    floor: I64
    rate: I64
    amount_whole: I64
    amount_frac: I64
    max_leverage: I64     # at 1e-8


@dataclass(frozen=True, slots=True)
class Positions:
    """One row per position leg, sorted by (account, symbol, leg): the ledger's summing order."""

    account: I32
    market: I32
    side: I8              # index into SIDES
    size: I64             # signed, at the market's 10^-sd
    entry: I64            # at the market's 10^-pd
    isolated: B
    isolated_margin: I64  # money units; 0 for cross
    leverage: I64         # at 1e-8
    watch: I64            # the watch this position counts in


@dataclass(frozen=True, slots=True)
class Watches:
    """One row per watch: cross (``account``, ``asset``) or isolated (``position``)."""

    isolated: B
    account: I32
    asset: I32
    position: I64         # the isolated position (−1 for cross)
    ptr: I64              # CSR into ``positions``
    positions: I64


@dataclass(frozen=True, slots=True)
class Settings:
    """The leverage and margin mode an account set for a market (``Ledger.settings``), one row per pair set:
    ``leverage`` at 1e-8 (0: never set, the market's default), ``isolated`` (False: cross, also when never set)."""

    account: I32
    market: I32
    leverage: I64
    isolated: B


@dataclass(frozen=True, slots=True)
class ByMarket:
    """The positions of market ``m``: ``positions[ptr[m]:ptr[m + 1]]`` (what a mark of ``m`` can move)."""

    ptr: I64
    positions: I64


@dataclass(frozen=True, slots=True)
class CoreState:
    """The whole state as arrays. ``unit_digits`` is ``u`` of the smallest money unit ``10^-u``."""

    unit_digits: int
    assets: list[str]
    markets: Markets
    tiers: Tiers
    accounts: list[str]
    hedge: B
    wallet: I64           # [account, asset] money units
    liquidating: B        # [account, asset]: the wallet may be below zero (liquidation in progress)
    order_margin: I64     # [account, asset]: Σ reserved order margin
    positions: Positions
    watches: Watches
    by_market: ByMarket
    settings: Settings
    system: I64           # [book, asset] money units, books in SYSTEM_BOOKS order
    deposits: I64         # [asset]
    withdrawals: I64      # [asset]
    events_applied: int
    last_ts: int

    def market_index(self, symbol: str) -> int:
        return self.markets.symbols.index(symbol)

    @property
    def insurance_fund(self) -> I64:
        """The insurance fund per asset (money units)."""
        row: I64 = self.system[SYSTEM_INSURANCE]
        return row
