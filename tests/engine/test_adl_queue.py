"""The ADL queue kept between calls (:mod:`margincall.risk.adl_queue`) is derived state only: the engine must
emit exactly the same events as with every ranking recomputed from scratch at its first use in each call
(``EngineConfig(adl_incremental=False)``), over waterfalls that carry across calls while marks keep moving and
ranked accounts deposit, trade, withdraw and pay funding; and after a restore (log replay, snapshot) or a
ledger changed behind the engine's back, the rebuilt queue must again give the same events."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from margincall.risk.adl_queue import AdlQueue
from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.risk.executor import MarketExecutor
from support.adl_scenarios import TIERS, Event, config, run, scenario  # noqa: F401


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the incremental refreshes (a side reused from an earlier call with some entries recomputed)."""
    seen: list[int] = []
    original = AdlQueue._refresh

    def spy(self: AdlQueue, *args: Any) -> None:
        seen.append(len(args[2].dirty))
        original(self, *args)

    monkeypatch.setattr(AdlQueue, "_refresh", spy)
    return seen


@pytest.mark.parametrize("seed", range(12))
def test_the_incremental_adl_queue_emits_exactly_the_events_of_a_recomputed_ranking(seed, refreshes):
    setup, path = scenario(seed)
    fast, slow = RiskEngine(config(seed, True)), RiskEngine(config(seed, False))
    assert run(fast, setup) == run(slow, setup)
    produced = run(fast, path)
    assert produced == run(slow, path)
    assert fast.digest() == slow.digest() and fast.conservation_error() is None
    if seed == 0:  # the scenarios do reach ADL across calls, so the incremental path is what is compared
        adl = sum(1 for seed_ in range(12) for ev in run_all(seed_) if ev[0] == "adl")
        assert adl > 50 and len(refreshes) > 20 and sum(refreshes) > 0


def run_all(seed: int) -> list[Event]:
    setup, path = scenario(seed)
    e = RiskEngine(config(seed, True))
    run(e, setup)
    return [ev for evs in run(e, path) if isinstance(evs, list) for ev in evs]


@pytest.mark.parametrize("seed", [1, 3, 4, 6, 7, 9])  # the seeds whose second half has ADL
def test_after_a_restore_the_rebuilt_adl_queue_gives_the_same_events(seed):
    # halfway through, engines rebuilt by replaying the log (cold queue) and from a snapshot take over the
    # second half: the same events as the reference recomputation restored the same way (the comparison with
    # the engine that ran through is the other test's: a replayed engine's band index is not the live one's)
    setup, path = scenario(seed)
    warm = RiskEngine(config(seed, True))
    log: list[Event] = []
    for evs in run(warm, setup + path[: len(path) // 2]):
        if isinstance(evs, list):
            log.extend(evs)
    snap = warm.snapshot()
    rest = path[len(path) // 2:]
    outputs = []
    for incremental in (True, False):
        cfg = replace(warm.config, adl_incremental=incremental)
        replayed = RiskEngine(cfg)
        for t, p, ts in log:
            replayed.apply(t, p, ts)
        assert replayed.digest() == warm.digest()
        from_snapshot = RiskEngine.from_snapshot(snap, cfg)
        outputs.append((run(replayed, rest), run(from_snapshot, rest), replayed.digest(), from_snapshot.digest()))
    assert outputs[0] == outputs[1]
    assert any(ev[0] == "adl" for evs in outputs[0][1] if isinstance(evs, list) for ev in evs)


def test_a_ledger_changed_behind_the_engine_drops_the_queue():
    # events applied to the ledger directly (not through the engine) are not seen by the queue: it notices
    # from the ledger's event count and rebuilds, so the ranking is still the one computed from scratch
    setup, path = scenario(4)
    fast, slow = RiskEngine(config(4, True)), RiskEngine(config(4, False))
    run(fast, setup)
    run(slow, setup)
    for i, ev in enumerate(path):
        assert run(fast, [ev]) == run(slow, [ev])
        if i % 7 == 3:
            acct = f"a{i % 36}"
            for e in (fast, slow):
                e.ledger.apply("deposit", {"account": acct, "asset": "USDT", "amount": "25000"}, ev[2])
    assert fast.digest() == slow.digest()


def test_a_deposit_behind_the_engine_reranks_the_counterparty():
    # Six bankrupt 1 BTC longs (1,000 at 10x; mark 10,000 → 8,500, empty fund) are liquidated one per call
    # (3 steps per call) against four 3 BTC shorts ranked by PnL% × effective leverage. After the first call
    # the second short's account gets 1,000,000 deposited straight into the ledger: its leverage, so its score,
    # collapses; the next liquidations must pass it over, as a recomputed ranking does.
    def book(incremental: bool) -> tuple[RiskEngine, list[Any]]:
        e = RiskEngine(EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0)),
                                    max_steps_per_tick=3, adl_incremental=incremental))
        e.process("market_listed", {"venue": "generic", "symbol": "BTCUSDT", "liquidation_fee": "0",
                                    "tiers": [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]},
                  1)
        e.process("mark", {"symbol": "BTCUSDT", "price": "10000"}, 1)
        for acct, usdt, side, size in ([(f"b{i}", "1005", "buy", "1") for i in range(6)]
                                       + [(f"s{i}", str(4000 + 500 * i), "sell", "3") for i in range(4)]
                                       + [("x", "10", None, None)]):
            e.process("account_opened", {"account": acct}, 1)
            e.process("deposit", {"account": acct, "asset": "USDT", "amount": usdt}, 1)
            e.process("leverage_set", {"account": acct, "symbol": "BTCUSDT", "leverage": "10"}, 1)
            if side:
                e.process("fill", {"account": acct, "symbol": "BTCUSDT", "side": side, "size": size,
                                   "price": "10000"}, 1)
        out = [[(a.type, a.payload) for a in e.process("mark", {"symbol": "BTCUSDT", "price": "8500"}, 2)]]
        # s0 (the least capitalized) was deleveraged first; s1, second in the ranking and untouched so far,
        # now gets capital the engine does not see
        assert [p["account"] for t, p in out[0] if t == "adl"] == ["s0"]
        e.ledger.apply("deposit", {"account": "s1", "asset": "USDT", "amount": "1000000"}, 3)
        while e.queued:
            out.append([(a.type, a.payload) for a in e.process("deposit", {"account": "x", "asset": "USDT",
                                                                          "amount": "1"}, 3)])
        return e, out

    (fast, out), (slow, expected) = book(True), book(False)
    assert out == expected and fast.digest() == slow.digest()
    adl = [p["account"] for evs in out for t, p in evs if t == "adl"]
    assert len(adl) >= 6 and adl[:2] == ["s0", "s2"] and "s1" not in adl
