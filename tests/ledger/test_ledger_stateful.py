"""Simulation test of the ledger's invariants (after TigerBeetle's VOPR idea, on hypothesis' state machines).

Random sequences of every command over several accounts and symbols (linear and inverse, one-way and hedge,
cross and isolated), submitted through the durable Journal on a SQLite log with idempotency keys; after every
step: money is conserved exactly, no wallet or isolated margin is negative, the durable log replayed into a
fresh ledger gives the live state, a snapshot round-trips, a rejected command changed nothing, and a repeated
key returns the original acknowledgement (same payload) or is refused as a conflict (different payload)
without changing anything.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from margincall.ledger import Ledger, Rejected
from margincall.store import open_log
from margincall.store.journal import Ack, IdempotencyConflict, Journal, replay

ACCOUNTS = ["a0", "a1", "a2", "h0"]
SYMBOLS = {"BTCUSDT": ("USDT", "60000", "0.001"), "ETHUSDT": ("USDT", "3000", "0.01"), "BTCUSD": ("BTC", "60000", "1")}

prices = st.integers(min_value=-300, max_value=300)  # basis points from the reference price
amounts = st.integers(min_value=1, max_value=2_000_000).map(lambda c: D(c) / 100)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.journal = Journal(open_log(str(Path(self.dir.name) / "log.db")), Ledger, snapshot_every=17)
        self.log: list[tuple[str, dict[str, Any], int]] = []
        self.acks: list[tuple[str, str, dict[str, Any], Ack]] = []  # key, type, payload, ack
        self.ts = 0
        self.applied = 0
        self.rejected = 0

    @property
    def ledger(self) -> Ledger:
        return self.journal.ledger  # type: ignore[return-value]

    def teardown(self) -> None:
        self.journal.log.close()
        self.dir.cleanup()

    def do(self, etype: str, payload: dict[str, Any]) -> bool:
        self.ts += 1
        before = self.ledger.digest()
        key = f"k{self.ts}"
        try:
            ack = self.journal.submit(etype, payload, key=key, ts=self.ts)
        except Rejected:
            assert self.ledger.digest() == before, f"rejected {etype} changed state"
            assert self.journal.log.by_key(key) is None, "a rejected event reached the log"
            self.rejected += 1
            return False
        self.log.append((etype, payload, self.ts))
        self.acks.append((key, etype, payload, ack))
        self.applied += 1
        return True

    @precondition(lambda self: bool(self.acks))
    @rule(data=st.data(), same=st.booleans())
    def repeat_a_key(self, data: st.DataObject, same: bool) -> None:
        key, etype, payload, ack = data.draw(st.sampled_from(self.acks))
        before, last = self.ledger.digest(), self.journal.last_seq
        if same:
            again = self.journal.submit(etype, payload, key=key, ts=self.ts)
            assert again.duplicate and again.seq == ack.seq and again.result == ack.result
        else:
            try:
                self.journal.submit(etype, {**payload, "extra": "x"}, key=key, ts=self.ts)
                raise AssertionError("a reused key with a different payload was accepted")
            except IdempotencyConflict:
                pass
        assert self.ledger.digest() == before and self.journal.last_seq == last

    @initialize()
    def setup(self) -> None:
        self.do("market_listed", {"venue": "binance-usdm", "symbol": "BTCUSDT"})
        self.do("market_listed", {"venue": "binance-usdm", "symbol": "ETHUSDT"})
        self.do("market_listed", {"venue": "generic", "symbol": "BTCUSD", "kind": "inverse", "contract_size": "100",
                                  "lot_size": "1", "settle_asset": "BTC", "tick_size": "0.1",
                                  "tiers": [{"floor": "0", "cap": "50", "mmr": "0.005", "max_leverage": "100"},
                                            {"floor": "50", "cap": None, "mmr": "0.01", "max_leverage": "50"}]})
        for a in ACCOUNTS:
            self.do("account_opened", {"account": a, "position_mode": "hedge" if a.startswith("h") else "one_way"})
        for sym, (_, ref, _) in SYMBOLS.items():
            self.do("mark", {"symbol": sym, "price": ref})
        for a in ACCOUNTS:
            self.do("deposit", {"account": a, "asset": "USDT", "amount": "20000"})
            self.do("deposit", {"account": a, "asset": "BTC", "amount": "0.5"})

    def price(self, sym: str, bps: int) -> str:
        ref = D(SYMBOLS[sym][1])
        return str((ref * (1 + D(bps) / 10000)).quantize(D("0.1")))

    @rule(acct=st.sampled_from(ACCOUNTS), asset=st.sampled_from(["USDT", "BTC"]), amt=amounts)
    def deposit(self, acct: str, asset: str, amt: D) -> None:
        amt = amt if asset == "USDT" else (amt / 10000).quantize(D("1e-8"))
        self.do("deposit", {"account": acct, "asset": asset, "amount": str(max(amt, D("0.00000001")))})

    @rule(acct=st.sampled_from(ACCOUNTS), asset=st.sampled_from(["USDT", "BTC"]), amt=amounts)
    def withdraw(self, acct: str, asset: str, amt: D) -> None:
        amt = amt if asset == "USDT" else (amt / 10000).quantize(D("1e-8"))
        self.do("withdrawal", {"account": acct, "asset": asset, "amount": str(max(amt, D("0.00000001")))})

    @rule(src=st.sampled_from(ACCOUNTS), dst=st.sampled_from(ACCOUNTS), amt=amounts)
    def transfer(self, src: str, dst: str, amt: D) -> None:
        self.do("transfer", {"from": src, "to": dst, "asset": "USDT", "amount": str(amt)})

    @rule(acct=st.sampled_from(ACCOUNTS), sym=st.sampled_from(list(SYMBOLS)), side=st.sampled_from(["buy", "sell"]),
          lots=st.integers(min_value=1, max_value=400), bps=prices, maker=st.booleans(),
          reduce_only=st.sampled_from([False, False, False, True]),
          leg=st.sampled_from(["long", "short"]))
    def fill(self, acct: str, sym: str, side: str, lots: int, bps: int, maker: bool, reduce_only: bool,
             leg: str) -> None:
        lot = D(SYMBOLS[sym][2])
        payload: dict[str, Any] = {"account": acct, "symbol": sym, "side": side, "size": str(lot * lots),
                                   "price": self.price(sym, bps), "liquidity": "maker" if maker else "taker",
                                   "reduce_only": reduce_only}
        if acct.startswith("h"):
            payload["position_side"] = leg
        self.do("fill", payload)

    @rule(sym=st.sampled_from(list(SYMBOLS)), bps=prices)
    def mark(self, sym: str, bps: int) -> None:
        self.do("mark", {"symbol": sym, "price": self.price(sym, bps)})

    @rule(sym=st.sampled_from(list(SYMBOLS)), rate=st.integers(min_value=-75, max_value=75))
    def funding(self, sym: str, rate: int) -> None:
        self.do("funding", {"symbol": sym, "rate": str(D(rate) / 100000)})

    @rule(acct=st.sampled_from(ACCOUNTS), sym=st.sampled_from(list(SYMBOLS)),
          lev=st.sampled_from(["1", "2", "5", "10", "20", "50", "125"]), isolated=st.booleans())
    def leverage(self, acct: str, sym: str, lev: str, isolated: bool) -> None:
        self.do("leverage_set", {"account": acct, "symbol": sym, "leverage": lev,
                                 "margin_mode": "isolated" if isolated else "cross"})

    @precondition(lambda self: any(p.is_isolated for p in self.ledger.positions.values()))
    @rule(data=st.data(), amt=amounts, add=st.booleans())
    def isolated_margin(self, data: st.DataObject, amt: D, add: bool) -> None:
        pos = data.draw(st.sampled_from(sorted((p for p in self.ledger.positions.values() if p.is_isolated),
                                               key=lambda p: (p.key.account, p.key.symbol))))
        if pos.key.symbol == "BTCUSD":
            amt = (amt / 100000).quantize(D("1e-8")) or D("0.00000001")
        payload: dict[str, Any] = {"account": pos.key.account, "symbol": pos.key.symbol, "amount": str(amt / 10)}
        if pos.key.account.startswith("h"):
            payload["position_side"] = pos.key.position_side.value
        self.do("margin_added" if add else "margin_removed", payload)

    @rule(acct=st.sampled_from(ACCOUNTS), oid=st.sampled_from(["o1", "o2"]), amt=amounts, reserve=st.booleans())
    def order_margin(self, acct: str, oid: str, amt: D, reserve: bool) -> None:
        if reserve:
            self.do("order_margin_reserved", {"account": acct, "order_id": oid, "asset": "USDT", "amount": str(amt)})
        else:
            self.do("order_margin_released", {"account": acct, "order_id": oid})

    @invariant()
    def money_is_conserved(self) -> None:
        assert self.ledger.conservation_error() is None, self.ledger.conservation_error()

    @invariant()
    def funding_pool_is_empty_between_events(self) -> None:
        for asset in ("USDT", "BTC"):
            assert self.ledger.book_balance("funding", asset) == 0

    @precondition(lambda self: self.applied % 7 == 0)
    @invariant()
    def replay_equals_live(self) -> None:
        fresh = Ledger()
        for etype, payload, ts in self.log:
            fresh.apply(etype, payload, ts)
        assert fresh.digest() == self.ledger.digest()
        assert replay(self.journal.log, Ledger).digest() == self.ledger.digest()  # type: ignore[arg-type]
        assert Ledger.from_snapshot(self.ledger.snapshot()).digest() == self.ledger.digest()


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=50, stateful_step_count=40, deadline=None)
