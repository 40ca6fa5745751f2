"""Random books of several symbols for the engine's property tests, and the invariant every state must keep."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import strategies as st

from margincall.ledger import Rejected
from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.executor import MarketExecutor
from margincall.risk.status import WatchId, status, watches_for

SYMBOLS = {"BTCUSDT": D(30000), "ETHUSDT": D(2000)}
TIERS = [{"floor": "0", "cap": "50000", "mmr": "0.01", "max_leverage": "50"},
         {"floor": "50000", "cap": "250000", "mmr": "0.025", "max_leverage": "20"},
         {"floor": "250000", "cap": None, "mmr": "0.05", "max_leverage": "10"}]

account_st = st.tuples(
    st.integers(min_value=200, max_value=50_000),  # deposit
    st.sampled_from(["cross", "isolated"]),
    st.sampled_from(["2", "5", "10", "20"]),
    st.lists(st.tuples(st.sampled_from(list(SYMBOLS)), st.sampled_from(["buy", "sell"]),
                       st.integers(min_value=1, max_value=8000)), min_size=1, max_size=3),
)
path_st = st.lists(st.tuples(st.sampled_from(list(SYMBOLS)), st.integers(min_value=-1500, max_value=1500)),
                   min_size=1, max_size=25)


def build(accounts: list[Any], fund: int, venue: str, socialize: bool
          ) -> tuple[RiskEngine, list[tuple[str, dict[str, Any], int]], list[tuple[str, dict[str, Any], int]]]:
    """The engine after setup, the input events it accepted, and every event it applied (the log)."""
    config = EngineConfig(executor=MarketExecutor(slippage=D("0.002")), max_steps_per_tick=7,
                          last_resort="socialize" if socialize else "venue")
    e = RiskEngine(config)
    inputs: list[tuple[str, dict[str, Any], int]] = []
    log: list[tuple[str, dict[str, Any], int]] = []

    def do(t: str, p: dict[str, Any]) -> None:
        try:
            applied = e.process(t, p, 1)
        except Rejected:  # a rejected input is fine (e.g. not enough margin); it is not logged
            return
        inputs.append((t, p, 1))
        log.extend((a.type, a.payload, a.ts) for a in applied)

    for sym in SYMBOLS:
        do("market_listed", {"venue": venue, "symbol": sym, "tiers": TIERS, "lot_size": "0.001",
                             "liquidation_fee": "0.005"})
        do("mark", {"symbol": sym, "price": str(SYMBOLS[sym])})
    if fund:
        do("insurance_fund_deposit", {"asset": "USDT", "amount": str(fund)})
    for i, (dep, mode, lev, trades) in enumerate(accounts):
        acct = f"a{i}"
        do("account_opened", {"account": acct})
        do("deposit", {"account": acct, "asset": "USDT", "amount": str(dep)})
        for sym in SYMBOLS:
            do("leverage_set", {"account": acct, "symbol": sym, "leverage": lev, "margin_mode": mode})
        for sym, side, lots in trades:
            size = D(lots) * D("0.001") * (D(30000) / SYMBOLS[sym])
            do("fill", {"account": acct, "symbol": sym, "side": side, "size": str(size.quantize(D("0.001"))),
                        "price": str(SYMBOLS[sym])})
    return e, inputs, log


def check_no_unhandled_breach(e: RiskEngine) -> None:
    led = e.ledger
    # a wallet may be below zero only while its account's liquidation is in progress
    for book, asset in led.liquidating:
        assert WatchId.cross(book.split(":", 1)[1], asset) in e.active, (book, asset)
    watches = {watches_for(led, k) for k in led.positions}
    for w in watches:
        st_ = status(led, w)
        if st_.liquidatable:
            assert w in e.active or w in e.queued, f"{w} has equity {st_.equity} ≤ MM {st_.maintenance_margin}"
