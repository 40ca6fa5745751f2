"""An engine rebuilt from its log after a restart reacts to the next inputs exactly as the engine that ran through.

Replaying the log with ``RiskEngine.apply`` gives the same state (digest); it must also give the same *behaviour*:
on the next mark tick the rebuilt engine must liquidate every account the uninterrupted one liquidates. Its float
band index is built from the replayed accounts at the first tick's marks, after the mark moved; an account that
crossed its threshold on that very tick would be inside its new band and go unnoticed, so accounts the screener
has not re-banded since they changed are checked exactly on the next tick (found by this test: seeds 0, 6, 10
and 11 each lost a liquidation on the first tick after the restart). The work carried past a call's step budget
is folded from the log too, so the rebuilt engine takes the carried watches in the same order.
"""

from __future__ import annotations

from typing import Any

import pytest

from margincall.risk.engine import RiskEngine
from support.adl_scenarios import config, run, scenario


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("how", ["apply", "fold"])
def test_a_replayed_engine_continues_exactly_as_the_engine_that_ran_through(seed: int, how: str) -> None:
    # "fold" is what recovery runs (fold_log): the ledger folds the logged facts without re-checking them
    setup, path = scenario(seed)
    for cut in (len(path) // 4, len(path) // 2, 3 * len(path) // 4):
        live = RiskEngine(config(seed, True))
        log: list[Any] = []
        for events in run(live, setup + path[:cut]):
            if isinstance(events, list):
                log.extend(events)
        restarted = RiskEngine(config(seed, True))
        replay = restarted.apply if how == "apply" else restarted.fold
        for type_, payload, ts in log:
            replay(type_, payload, ts)
        assert restarted.digest() == live.digest()
        for i, event in enumerate(path[cut:]):
            assert run(restarted, [event]) == run(live, [event]), f"cut {cut}: input {i} ({event[0]}) differs"
        assert restarted.digest() == live.digest()


@pytest.mark.parametrize("seed", range(12, 72))
@pytest.mark.parametrize("how", ["apply", "fold"])
def test_carried_work_keeps_its_order_across_a_restart(seed: int, how: str) -> None:
    # the work carried past max_steps_per_tick (5, 9 or 40 steps per call by seed) is in the log
    # (liquidation_queued / liquidation_dequeued), so the rebuilt engine takes it in the order it was queued.
    # Seed 63 (5 steps per call) found it: at the cut the live engine carries a25 and a0, queued when a25 was the
    # worse; at the next tick a0 is (equity −4,673 against −4,118), and an engine that ranked the carried watches
    # again at that tick liquidated a0 first (L15 ↔ L16).
    test_a_replayed_engine_continues_exactly_as_the_engine_that_ran_through(seed, how)


def test_the_carried_queue_is_in_the_log_and_the_snapshot() -> None:
    # seed 63, 5 steps per call: after the first quarter two watches are carried; the log names them and a
    # snapshot rebuilds them (the rebuilt engine then continues as the one that ran through)
    setup, path = scenario(63)
    cut = len(path) // 4
    live = RiskEngine(config(63, True))
    log = [ev for evs in run(live, setup + path[:cut]) if isinstance(evs, list) for ev in evs]
    assert len(live.queued.carried) == 2, "the scenario carries work at the cut"
    queued = [p for t, p, _ts in log if t == "liquidation_queued"]
    assert queued and all(set(p) == {"account", "scope", "what", "priority"} for p in queued)
    restored = RiskEngine.from_snapshot(live.snapshot(), config(63, True))
    assert restored.queued.carried == live.queued.carried and restored.digest() == live.digest()
    for event in path[cut:]:
        assert run(restored, [event]) == run(live, [event])


def test_the_restart_scenarios_liquidate_on_the_first_tick_after_the_cut() -> None:
    # the comparison above is not vacuous: in seed 0 the first input after the cut at a half is a crash tick that
    # liquidates (a29 and a19 in the uninterrupted run)
    setup, path = scenario(0)
    cut = len(path) // 2
    live = RiskEngine(config(0, True))
    run(live, setup + path[:cut])
    first = run(live, [path[cut]])[0]
    assert path[cut][0] == "mark"
    assert {p["account"] for t, p, _ts in first if t == "liquidation_started"} >= {"a29", "a19"}
