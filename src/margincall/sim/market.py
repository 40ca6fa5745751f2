"""A seeded synthetic market: symbols, accounts with positions, an insurance fund, and their price path.

Everything becomes ordinary input events (``market_listed``, ``account_opened``, ``deposit``, ``leverage_set``,
``fill``, ``insurance_fund_deposit``, then ``mark`` ticks), so the engine, the log and the API see a synthetic
market exactly as they would see a real one.

The population (fractions of ``accounts``):

* **retail** — leverage drawn log-uniformly in 2–50x, cross (55 %), isolated (30 %) or mixed (15 %: an
  isolated position at that leverage beside a 2–5x cross one, so a liquidated account can keep a position), long
  (75 %) or short, notional log-uniform 200–40,000 USDT, in one symbol (a third of the cross accounts hold two);
* **whales** — about 1 % (at least 6): 0.8–6 M USDT long positions in BTCUSDT / ETHUSDT at 4–10x, i.e. in
  Binance's tiers 3–4 (docs/venues.md §3.3 brackets), so their liquidations step down tier by tier (partial
  liquidations, §3.8);
* **market makers** — a few low-leverage cross accounts holding, per symbol, the opposite of everyone else's
  net position: the profitable side the crash needs for auto-deleveraging (§3.8, §12.5).

Whales are isolated: a cross account whose equity is already below zero when its liquidation starts keeps
taking partial steps (the cross wallet may go negative while liquidating), which leaves a tiny remainder with
an absurd bankruptcy price for ADL (reported to the engine's owner); an isolated position goes straight to the
full close instead.

The insurance fund starts small (``insurance_fund``, default 0.5 USDT per account), so the crash's opening gap
empties it and ADL happens.

BTCUSDT and ETHUSDT use venue ``binance-usdm``'s built-in tier tables (docs/venues.md §3.3); SOLUSDT and DOGEUSDT
are listed on the same venue with explicit tiers shaped like Binance's altcoin brackets.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from margincall.model.errors import MarginCallError
from margincall.sim.prices import PathShape, calm_step, crash_path, on_tick
from margincall.venues.market import MarketSpec, market_from_listing

VENUE = "binance-usdm"
ASSET = "USDT"

#: Liquidation clearance fee of the synthetic listings: 0.3 %, below the maintenance rates of the tiers whales sit
#: in, so a partial step (docs/venues.md §3.8) can leave the rest of the position healthy. Binance's profile default
#: (1.25 %) is above every MMR up to tier 5, which makes any partial step bankrupt the account at once.
_FEE = {"liquidation_fee": "0.003"}

_ALT_TIERS = [
    {"floor": "0", "cap": "50000", "mmr": "0.005", "max_leverage": "75"},
    {"floor": "50000", "cap": "250000", "mmr": "0.01", "max_leverage": "50"},
    {"floor": "250000", "cap": "1000000", "mmr": "0.025", "max_leverage": "20"},
    {"floor": "1000000", "cap": "5000000", "mmr": "0.05", "max_leverage": "10"},
    {"floor": "5000000", "cap": "20000000", "mmr": "0.1", "max_leverage": "5"},
]


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A listed symbol: its ``market_listed`` payload, start price and share of the traders."""

    symbol: str
    start: Decimal
    weight: float
    listing: dict[str, Any] = field(hash=False)
    whales: bool = False


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", Decimal("60000"), 0.40, {"venue": VENUE, "symbol": "BTCUSDT", **_FEE}, whales=True),
    SymbolSpec("ETHUSDT", Decimal("3000"), 0.30, {"venue": VENUE, "symbol": "ETHUSDT", **_FEE}, whales=True),
    SymbolSpec("SOLUSDT", Decimal("150"), 0.20, {"venue": VENUE, "symbol": "SOLUSDT", "tick_size": "0.01",
                                                  "lot_size": "0.01", "tiers": _ALT_TIERS, **_FEE}),
    SymbolSpec("DOGEUSDT", Decimal("0.15"), 0.10, {"venue": VENUE, "symbol": "DOGEUSDT", "tick_size": "0.00001",
                                                    "lot_size": "1", "tiers": _ALT_TIERS, **_FEE}),
)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to generate; the same config and seed always give the same market, events and path."""

    accounts: int = 3000
    seed: int = 7
    #: Initial insurance fund (USDT); ``None``: 0.5 USDT per account — less than the deficits of the crash's
    #: opening gap, so the fund runs dry and ADL follows.
    insurance_fund: Decimal | None = None
    market_makers: int = 4
    shape: PathShape = field(default_factory=PathShape)
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS

    def __post_init__(self) -> None:
        if isinstance(self.accounts, bool) or not isinstance(self.accounts, int) or not 10 <= self.accounts <= 200_000:
            raise MarginCallError(f"accounts: expected an integer in 10..200000, got {self.accounts!r}",
                                  field="accounts")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise MarginCallError(f"seed: expected an integer, got {self.seed!r}", field="seed")
        if not isinstance(self.market_makers, int) or not 1 <= self.market_makers <= 100:
            raise MarginCallError("market_makers: expected an integer in 1..100", field="market_makers")
        if self.insurance_fund is not None and self.insurance_fund < 0:
            raise MarginCallError("insurance_fund: must not be negative", field="insurance_fund")


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    side: str  # "buy" (long) or "sell" (short)
    size: Decimal  # contracts
    leverage: Decimal
    margin_mode: str  # cross or isolated


@dataclass(frozen=True, slots=True)
class Trader:
    """A synthetic account: who it is, its deposit, margin mode and the positions it opens at the start."""

    account: str
    kind: str  # retail, whale, market_maker
    margin_mode: str  # cross, isolated, or mixed (one isolated and one cross position)
    deposit: Decimal
    holdings: tuple[Holding, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One input event to submit: ``type``, ``payload`` and a stable idempotency ``key``."""

    type: str
    payload: dict[str, Any]
    key: str


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _lots(notional: float, price: Decimal, lot: Decimal) -> Decimal:
    n = (Decimal(repr(notional)) / price / lot).to_integral_value(rounding=ROUND_DOWN)
    return max(n, Decimal(1)) * lot


def _cents_up(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_UP)


class SyntheticMarket:
    """The generated market. ``setup_events()`` lists the events that create it; ``marks(step)`` the ticks."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = cfg = config or SimConfig()
        self.specs: dict[str, MarketSpec] = {s.symbol: market_from_listing(s.listing) for s in cfg.symbols}
        rng = random.Random(cfg.seed)
        self.traders: list[Trader] = self._population(rng)
        path_rng = random.Random(cfg.seed * 7919 + 1)
        self.path: dict[str, list[Decimal]] = {}
        self._float_path: dict[str, list[float]] = {}
        for s in cfg.symbols:
            tick = self.specs[s.symbol].instrument.tick_size
            raw = crash_path(path_rng, float(s.start), cfg.shape)
            self._float_path[s.symbol] = raw
            self.path[s.symbol] = [on_tick(p, tick) for p in raw]

    # ------------------------------------------------------------------------------------------ population
    def _population(self, rng: random.Random) -> list[Trader]:
        cfg = self.config
        symbols = list(cfg.symbols)
        weights = [s.weight for s in symbols]
        whale_symbols = [s for s in symbols if s.whales]
        n_whales = max(6, cfg.accounts // 100) if whale_symbols else 0
        n_retail = max(1, cfg.accounts - n_whales - cfg.market_makers)
        traders: list[Trader] = []
        for i in range(n_retail):
            r = rng.random()
            mode = "isolated" if r < 0.3 else "mixed" if r < 0.45 else "cross"
            n_sym = 2 if mode == "mixed" or (mode == "cross" and rng.random() < 0.33) else 1
            picked: list[SymbolSpec] = []
            while len(picked) < n_sym:
                s = rng.choices(symbols, weights)[0]
                if s not in picked:
                    picked.append(s)
            lev = Decimal(round(_log_uniform(rng, 2, 50)))
            holdings = []
            im = Decimal(0)
            for j, s in enumerate(picked):
                spec = self.specs[s.symbol]
                size = _lots(_log_uniform(rng, 200, 40_000), s.start, spec.instrument.lot_size)
                side = "buy" if rng.random() < 0.75 else "sell"
                # mixed: an isolated bet at the drawn leverage, and a cross position at 2-5x beside it
                h_mode, h_lev = mode, lev
                if mode == "mixed":
                    h_mode, h_lev = ("isolated", lev) if j == 0 else ("cross", Decimal(rng.choice([2, 3, 4, 5])))
                holdings.append(Holding(s.symbol, side, size, h_lev, h_mode))
                im += size * s.start * spec.instrument.contract_size / h_lev
            lo, hi = (1.05, 1.5) if mode == "isolated" else (1.02, 1.6)
            cushion = Decimal(repr(rng.uniform(lo, hi)))
            notional = sum((h.size * sp.start for h, sp in zip(holdings, picked, strict=True)), Decimal(0))
            deposit = _cents_up(im * cushion + notional * Decimal("0.001") + 1)
            traders.append(Trader(f"t{i + 1:05d}", "retail", mode, deposit, tuple(holdings)))
        for i in range(n_whales):
            s = whale_symbols[i % len(whale_symbols)]
            spec = self.specs[s.symbol]
            target = _log_uniform(rng, 800_000, 6_000_000)
            lev = Decimal(rng.choice([4, 5, 6, 7, 8, 10]))  # liquidated at −8 … −23 %: mostly inside the crash
            size = _lots(target, s.start, spec.instrument.lot_size)
            side = "buy"  # long into the crash: their liquidations come in the crash, by tier steps
            mode = "isolated"  # see the note on cross whales in the module docstring
            im = size * s.start / lev
            deposit = _cents_up(im * Decimal(repr(rng.uniform(1.05, 1.4))) + size * s.start * Decimal("0.001"))
            traders.append(Trader(f"w{i + 1:03d}", "whale", mode, deposit, (Holding(s.symbol, side, size, lev, mode),)))
        # market makers: the opposite of everyone else's net position, per symbol, split evenly
        net: dict[str, Decimal] = {s.symbol: Decimal(0) for s in symbols}
        for t in traders:
            for h in t.holdings:
                net[h.symbol] += h.size if h.side == "buy" else -h.size
        k = cfg.market_makers
        mm_holdings: list[list[Holding]] = [[] for _ in range(k)]
        mm_notional = [Decimal(0)] * k
        for s in symbols:
            lot = self.specs[s.symbol].instrument.lot_size
            total = net[s.symbol]
            if total == 0:
                continue
            side = "sell" if total > 0 else "buy"
            each = (abs(total) / k / lot).to_integral_value(rounding=ROUND_DOWN) * lot
            for j in range(k):
                size = abs(total) - each * (k - 1) if j == k - 1 else each
                if size > 0:
                    mm_holdings[j].append(Holding(s.symbol, side, size, Decimal(5), "cross"))
                    mm_notional[j] += size * s.start
        for j in range(k):
            # wallet = half the notional: effective leverage 2, safe through a 25 % move either way
            deposit = _cents_up(mm_notional[j] / 2 + 1000)
            traders.append(Trader(f"mm{j + 1}", "market_maker", "cross", deposit, tuple(mm_holdings[j])))
        return traders

    # --------------------------------------------------------------------------------------------- events
    def setup_events(self) -> Iterator[Event]:
        """Listings, the fund, first marks, then per account: open, deposit, leverage, fills (at the start)."""
        cfg = self.config
        for s in cfg.symbols:
            yield Event("market_listed", dict(s.listing), f"sim-{cfg.seed}-list-{s.symbol}")
        if self.insurance_fund > 0:
            yield Event("insurance_fund_deposit", {"asset": ASSET, "amount": str(self.insurance_fund)},
                        f"sim-{cfg.seed}-fund")
        for s in cfg.symbols:
            yield Event("mark", {"symbol": s.symbol, "price": str(s.start)}, f"sim-{cfg.seed}-mark0-{s.symbol}")
        starts = {s.symbol: s.start for s in cfg.symbols}
        for t in self.traders:
            k = f"sim-{cfg.seed}-{t.account}"
            yield Event("account_opened", {"account": t.account}, f"{k}-open")
            yield Event("deposit", {"account": t.account, "asset": ASSET, "amount": str(t.deposit)}, f"{k}-dep")
            for h in t.holdings:
                yield Event("leverage_set", {"account": t.account, "symbol": h.symbol, "leverage": str(h.leverage),
                                             "margin_mode": h.margin_mode}, f"{k}-lev-{h.symbol}")
            for h in t.holdings:
                yield Event("fill", {"account": t.account, "symbol": h.symbol, "side": h.side, "size": str(h.size),
                                     "price": str(starts[h.symbol]), "liquidity": "taker"}, f"{k}-fill-{h.symbol}")

    @property
    def insurance_fund(self) -> Decimal:
        cfg = self.config
        return cfg.insurance_fund if cfg.insurance_fund is not None else Decimal(cfg.accounts) / 2

    @property
    def steps(self) -> int:
        return self.config.shape.steps

    def marks(self, step: int) -> list[tuple[str, Decimal]]:
        """The marks of every symbol at scripted ``step`` (0 ≤ step < ``steps``)."""
        if not 0 <= step < self.steps:
            raise MarginCallError(f"step: expected 0..{self.steps - 1}, got {step}", field="step")
        return [(s.symbol, self.path[s.symbol][step]) for s in self.config.symbols]

    def calm(self, seed_offset: int = 0) -> Iterator[list[tuple[str, Decimal]]]:
        """Endless marks after the scripted path: a mean-reverting walk around the last price."""
        rng = random.Random(self.config.seed * 104729 + seed_offset)
        last = {s: p[-1] for s, p in self._float_path.items()}
        anchor = dict(last)
        while True:
            out = []
            for s in self.config.symbols:
                last[s.symbol] = calm_step(rng, last[s.symbol], anchor[s.symbol])
                out.append((s.symbol, on_tick(last[s.symbol], self.specs[s.symbol].instrument.tick_size)))
            yield out
