"""Random books spread over every venue profile and formula form, as calculator scenarios (one per account) and
as the arrays of :func:`margincall.venues.batch.evaluate_book`; and the Decimal reference for them: the
calculator's own evaluation of each account's scenario (bankruptcy prices unrounded from the same rule)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from margincall.calculator.evaluate import evaluate, holding_of
from margincall.calculator.scenario import Scenario
from margincall.model.enums import ContractKind
from margincall.model.instrument import Instrument
from margincall.model.tiers import TierTable
from margincall.venues.batch import BatchInstrument, BatchInstruments
from margincall.venues.profiles import get_venue
from margincall.venues.rules import Fees
from margincall.venues.tables import BINANCE_USDM_BTCUSDT_2024

#: A coin-margined bracket table (floors in BTC), Binance COIN-M style (docs/venues.md §3.4).
_COIN_TIERS = [("0", "5", "0.004", "125"), ("5", "10", "0.005", "100"), ("10", "20", "0.01", "50"),
               ("20", "50", "0.025", "20"), ("50", None, "0.05", "10")]
#: Whole-position tiers keyed on notional (an OKX-style table with jumps at the floors, docs/venues.md §2.2).
_WHOLE_TIERS = [("0", "50000", "0.01", "50"), ("50000", "250000", "0.02", "25"), ("250000", "1000000", "0.05", "10"),
                ("1000000", None, "0.1", "5")]


def _tiers_in(rows: list[tuple[str, str | None, str, str]]) -> list[dict[str, Any]]:
    return [{"floor": f, "cap": c, "mmr": m, "max_leverage": x} for f, c, m, x in rows]


def _binance_rows() -> list[tuple[str, str | None, str, str]]:
    return [(str(t.floor), None if t.cap is None else str(t.cap), str(t.mmr), str(t.max_leverage))
            for t in BINANCE_USDM_BTCUSDT_2024.tiers]


@dataclass(frozen=True)
class Entry:
    """One instrument of the universe: venue, formula, taker fee, symbol, its scenario spec (None: built in),
    price scale, and which margin modes it is drawn in."""

    venue: str
    formula: str | None
    taker: str | None
    symbol: str
    spec: dict[str, Any] | None
    price: float
    modes: tuple[bool, ...] = (False, True)  # cross flags allowed
    single: bool = False  # only alone in its account (Bybit's classic inverse cross)


UNIVERSE: tuple[Entry, ...] = (
    Entry("binance-usdm", None, None, "BTCUSDT", None, 60000),
    Entry("binance-usdm", None, None, "ETHUSDT", None, 3000),
    Entry("binance-coinm", None, None, "BTCUSD_PERP",
          {"kind": "inverse", "contract_size": "100", "settle_asset": "BTC", "tiers": _tiers_in(_COIN_TIERS)}, 60000),
    *(Entry("bybit-linear", f, t, "BTCUSDT", None, 60000)
      for f, t in (("2026", "0.00055"), ("2024", None), ("legacy", None), ("2026", None))),
    *(Entry("bybit-inverse", f, t, "BTCUSD",
            {"kind": "inverse", "contract_size": "1", "settle_asset": "BTC", "tiers": _tiers_in(_COIN_TIERS)}, 60000)
      for f, t in (("2026", "0.00055"), ("2024", None))),
    Entry("bybit-inverse", "legacy", None, "BTCUSD",
          {"kind": "inverse", "contract_size": "1", "settle_asset": "BTC", "tiers": _tiers_in(_COIN_TIERS)}, 60000,
          modes=(False,)),
    Entry("bybit-inverse", "legacy", "0.00075", "BTCUSD",
          {"kind": "inverse", "contract_size": "1", "settle_asset": "BTC", "tiers": _tiers_in(_COIN_TIERS)}, 60000,
          modes=(True,), single=True),
    Entry("okx", None, "0.0005", "ETH-USDT-SWAP", None, 3000),
    Entry("hyperliquid", None, None, "BTC", None, 60000),
    Entry("hyperliquid", None, None, "ETH", None, 3000),
    Entry("hyperliquid", None, None, "SOL", None, 150),
    Entry("dydx", None, None, "BTC-USD", None, 60000),
    Entry("dydx", None, None, "ETH-USD", None, 3000),
    Entry("bitunix", None, "0.0006", "BTCUSDT", {"tiers": _tiers_in(_binance_rows())}, 60000),
    Entry("generic", None, None, "WHOLE", {"tiers": _tiers_in(_WHOLE_TIERS), "tier_mode": "whole_position"}, 60000),
)


def _table_of(e: Entry) -> TierTable:
    from margincall.calculator.evaluate import instrument_tiers
    from margincall.calculator.scenario import InstrumentIn

    profile = get_venue(e.venue)
    return instrument_tiers(profile, e.symbol, None if e.spec is None else InstrumentIn.model_validate(e.spec))


def _instrument_of(e: Entry) -> Instrument:
    profile = get_venue(e.venue)
    if e.spec is None:
        return profile.market(e.symbol).instrument
    s = e.spec
    kind = ContractKind(s.get("kind", profile.kind.value))
    return Instrument.of(e.symbol, kind, s.get("contract_size", "1"), "0.01", "0.001",
                         s.get("settle_asset", profile.settle_asset))


def batch_instruments() -> BatchInstruments:
    return BatchInstruments.of([
        BatchInstrument(e.venue, _instrument_of(e), _table_of(e), e.formula, Decimal(e.taker or 0)) for e in UNIVERSE
    ])


def _fmt(x: float, places: int) -> str:
    return f"{x:.{places}f}"


def random_book(n_accounts: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """``n_accounts`` scenarios and the book arrays of the same positions (rows in account order)."""
    rng = np.random.default_rng(seed)
    tables = [_table_of(e) for e in UNIVERSE]
    insts = [_instrument_of(e) for e in UNIVERSE]
    scenarios: list[dict[str, Any]] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("account", "instrument", "side", "size", "entry_price",
                                                  "mark_price", "cross", "leverage", "isolated_margin",
                                                  "extra_margin", "wallet_balance")}
    groups: dict[tuple[str, str | None, str | None], list[int]] = {}
    for i, e in enumerate(UNIVERSE):
        groups.setdefault((e.venue, e.formula, e.taker), []).append(i)
    keys = list(groups)
    for a in range(n_accounts):
        members = groups[keys[int(rng.integers(len(keys)))]]
        first = members[int(rng.integers(len(members)))]
        chosen = [first] if UNIVERSE[first].single else list(
            rng.choice(members, size=min(len(members), int(rng.integers(1, 4))), replace=False))
        positions = []
        total_im = 0.0
        rows = []
        for ix in chosen:
            e, table, inst = UNIVERSE[ix], tables[ix], insts[ix]
            cross = bool(e.modes[int(rng.integers(len(e.modes)))])
            entry = float(_fmt(e.price * rng.uniform(0.5, 1.5), 2))
            mark = float(_fmt(entry * rng.uniform(0.8, 1.2), 2))
            k = int(rng.integers(0, min(3, len(table.tiers))))
            tier = table.tiers[k]
            hi = float(tier.cap) if tier.cap is not None else float(tier.floor) * 2 + 1e5
            amount = rng.uniform(float(tier.floor) + 1e-9 * hi, hi * 0.999)  # notional or contracts
            cs = float(inst.contract_size)
            if table.basis.value == "contracts":
                size = max(1.0, math.floor(amount))
            elif inst.kind is ContractKind.INVERSE:
                size = max(1.0, math.floor(amount * entry / cs))
            else:
                size = max(0.001, round(amount / entry / cs, 3))
            size_s = _fmt(size, 3)
            key = (float(size_s) if table.basis.value == "contracts" else
                   (float(size_s) * cs / entry if inst.kind is ContractKind.INVERSE else float(size_s) * cs * entry))
            max_lev = float(table.tier_for(Decimal(repr(key))).max_leverage)
            lev = _fmt(max(1.0, rng.uniform(1.0, max_lev)), 1)
            lev = str(min(float(lev), max_lev))
            im = key / float(lev) if table.basis.value != "contracts" else float(size_s) * cs * entry / float(lev)
            pos: dict[str, Any] = {"symbol": e.symbol, "side": "long" if rng.random() < 0.5 else "short",
                                   "size": size_s, "entry_price": _fmt(entry, 2), "mark_price": _fmt(mark, 2),
                                   "margin_mode": "cross" if cross else "isolated", "leverage": lev}
            iso = extra = math.nan
            if not cross:
                r = rng.random()
                if r < 0.3:
                    iso = float(_fmt(im * rng.uniform(0.6, 2.0), 8))
                    pos["isolated_margin"] = _fmt(iso, 8)
                elif r < 0.5:
                    extra = float(_fmt(im * rng.uniform(-0.3, 0.5), 8))
                    pos["extra_margin"] = _fmt(extra, 8)
            else:
                total_im += im
            positions.append(pos)
            rows.append((ix, pos, cross, iso, extra))
        wallet = float(_fmt(total_im * rng.uniform(0.3, 3.0), 8)) if total_im else math.nan
        e0 = UNIVERSE[chosen[0]]
        scen: dict[str, Any] = {"venue": e0.venue, "positions": positions}
        if e0.formula:
            scen["formula"] = e0.formula
        if e0.taker:
            scen["taker_fee"] = e0.taker
        if not math.isnan(wallet):
            scen["wallet_balance"] = _fmt(wallet, 8)
        specs = {UNIVERSE[ix].symbol: UNIVERSE[ix].spec for ix in chosen if UNIVERSE[ix].spec is not None}
        if specs:
            scen["instruments"] = specs
        scenarios.append(scen)
        for ix, pos, cross, iso, extra in rows:
            for name, v in (("account", a), ("instrument", ix), ("side", 1.0 if pos["side"] == "long" else -1.0),
                            ("size", float(pos["size"])), ("entry_price", float(pos["entry_price"])),
                            ("mark_price", float(pos["mark_price"])), ("cross", cross),
                            ("leverage", float(pos["leverage"])), ("isolated_margin", iso), ("extra_margin", extra),
                            ("wallet_balance", wallet)):
                cols[name].append(v)
    arrays = {k: np.array(v, dtype=np.int64 if k in ("account", "instrument") else
                          (np.bool_ if k == "cross" else np.float64)) for k, v in cols.items()}
    return scenarios, arrays


def _f(d: Decimal | None) -> float:
    return math.nan if d is None else float(d)


def reference(scenario_data: dict[str, Any]) -> list[tuple[float, float, float, float, float]]:
    """Per position ``(LP, BP, IM, MM, ratio)`` from the calculator (BP unrounded from the same rule)."""
    scenario = Scenario.model_validate(scenario_data)
    result = evaluate(scenario)
    profile = get_venue(scenario.venue)
    rule = profile.form(scenario.formula).rule
    holdings = [holding_of(profile, scenario, i, p) for i, p in enumerate(scenario.positions)]
    cross = [h for h in holdings if not h.position.is_isolated]
    fees = Fees(taker=scenario.taker_fee or Decimal(0))
    out = []
    for h, r in zip(holdings, result.positions, strict=True):
        if h.position.is_isolated:
            bp = rule.isolated_bankruptcy_price(h, r.position_margin)  # type: ignore[arg-type]
        else:
            bp = rule.cross_bankruptcy_price(scenario.wallet_balance, cross, h.position.symbol, fees)
        out.append((_f(r.liquidation_price_unrounded), _f(bp), float(r.initial_margin), float(r.maintenance_margin),
                    _f(r.margin_ratio)))
    return out
