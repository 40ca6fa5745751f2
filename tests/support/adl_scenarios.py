"""Scenarios of holders, marks and liquidations for the ADL-queue, engine-cache, restart and warm-up tests."""

from __future__ import annotations

import random
from decimal import Decimal as D
from typing import Any

from margincall.ledger import Rejected
from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.executor import MarketExecutor

Event = tuple[str, dict[str, Any], int]
TIERS = [{"floor": "0", "cap": "50000", "mmr": "0.01", "max_leverage": "50"},
         {"floor": "50000", "cap": "250000", "mmr": "0.025", "max_leverage": "20"},
         {"floor": "250000", "cap": None, "mmr": "0.05", "max_leverage": "10"}]
VENUES = ["binance-usdm", "bybit-linear", "hyperliquid", "generic"]


def scenario(seed: int) -> tuple[list[Event], list[Event]]:
    """(setup inputs, then a path of inputs): a book of cross and isolated accounts long and short in four
    symbols, a small insurance fund, then marks with crashes and rebounds mixed with deposits, withdrawals,
    fills and funding of random accounts (some of these inputs are rejected: the same in every engine)."""
    rng = random.Random(seed)
    symbols = {f"S{i}USDT": D(rng.choice([50, 2000, 30000])) for i in range(4)}
    setup: list[Event] = []
    for i, sym in enumerate(symbols):
        setup.append(("market_listed", {"venue": VENUES[(seed + i) % len(VENUES)], "symbol": sym, "tiers": TIERS,
                                        "lot_size": "0.001", "liquidation_fee": "0.005"}, 1))
        setup.append(("mark", {"symbol": sym, "price": str(symbols[sym])}, 1))
    setup.append(("insurance_fund_deposit", {"asset": "USDT", "amount": str(rng.choice([0, 50, 500]))}, 1))
    accounts = [f"a{i}" for i in range(36)]
    for acct in accounts:
        setup.append(("account_opened", {"account": acct}, 1))
        setup.append(("deposit", {"account": acct, "asset": "USDT", "amount": str(rng.randint(300, 30_000))}, 1))
        mode = rng.choice(["cross", "cross", "isolated"])
        for sym in symbols:
            setup.append(("leverage_set", {"account": acct, "symbol": sym, "margin_mode": mode,
                                           "leverage": rng.choice(["3", "10", "20", "40"])}, 1))
        for sym in rng.sample(list(symbols), rng.randint(1, 4)):
            size = (D(rng.randint(1, 6000)) * D(30) / symbols[sym]).quantize(D("0.001"))
            if size > 0:
                setup.append(("fill", {"account": acct, "symbol": sym, "side": rng.choice(["buy", "sell"]),
                                       "size": str(size), "price": str(symbols[sym])}, 1))
    path: list[Event] = []
    prices = dict(symbols)
    for ts in range(2, 90):
        r = rng.random()
        sym = rng.choice(list(symbols))
        if r < 0.70:
            move = D(rng.choice([-2500, -1500, -300, -100, 80, 200, 700, 1800])) / 10_000
            prices[sym] = max(D("0.1"), (prices[sym] * (1 + move)).quantize(D("0.1")))
            path.append(("mark", {"symbol": sym, "price": str(prices[sym])}, ts))
        elif r < 0.80:
            path.append(("deposit", {"account": rng.choice(accounts), "asset": "USDT",
                                     "amount": str(rng.randint(10, 5000))}, ts))
        elif r < 0.85:
            path.append(("withdrawal", {"account": rng.choice(accounts), "asset": "USDT",
                                        "amount": str(rng.randint(10, 2000))}, ts))
        elif r < 0.95:
            size = (D(rng.randint(1, 3000)) * D(30) / prices[sym]).quantize(D("0.001"))
            if size > 0:
                path.append(("fill", {"account": rng.choice(accounts), "symbol": sym,
                                      "side": rng.choice(["buy", "sell"]), "size": str(size),
                                      "price": str(prices[sym])}, ts))
        else:
            path.append(("funding", {"symbol": sym, "rate": rng.choice(["0.001", "-0.002"])}, ts))
    return setup, path


def run(engine: RiskEngine, inputs: list[Event]) -> list[Any]:
    """Every event the engine applied for each input, or the rejection's code (rejected inputs included)."""
    out: list[Any] = []
    for t, p, ts in inputs:
        try:
            out.append([(a.type, a.payload, a.ts) for a in engine.process(t, p, ts)])
        except Rejected as exc:
            out.append(("rejected", exc.code))
    return out


def config(seed: int, incremental: bool) -> EngineConfig:
    return EngineConfig(executor=MarketExecutor(slippage=D("0.002")), max_steps_per_tick=(5, 9, 40)[seed % 3],
                        last_resort="socialize" if seed % 2 else "venue", adl_incremental=incremental)
