"""The queue of liquidation work (risk.work_queue): most under-margined first, and the part carried between calls
rebuilt from its events in the same order."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from margincall.risk.status import MarginStatus, WatchId
from margincall.risk.work_queue import WorkQueue, priority


def _status(account: str, equity: str, mm: str) -> MarginStatus:
    return MarginStatus(WatchId.cross(account, "USDT"), D(equity), D(mm), ())


def test_the_most_under_margined_go_first_and_no_equity_before_all() -> None:
    # MM / equity: a 50/100 = 0.5, b 90/100 = 0.9, c equity −5 (no equity left): c, then b, then a
    assert priority(_status("a", "100", "50")) == D("-0.5")
    assert priority(_status("b", "100", "90")) == D("-0.9")
    q = WorkQueue()
    for s in (_status("a", "100", "50"), _status("b", "100", "90"), _status("c", "-5", "10")):
        q.push(s.watch, s)
    assert [q.pop().account for _ in range(3)] == ["c", "b", "a"]


def test_a_rebuilt_queue_pops_the_carried_watches_in_the_order_they_were_queued() -> None:
    live = WorkQueue()
    for s in (_status("a", "100", "50"), _status("b", "100", "90"), _status("c", "100", "70")):
        live.push(s.watch, s)
    assert live.pop().account == "b"  # worked in this call; a and c are carried
    events = live.changes()
    # b left the queue without an event of its own and was never carried: nothing to log for it
    assert [(t, p["account"], p["priority"]) for t, p in events] == [
        ("liquidation_queued", "a", "-0.5"), ("liquidation_queued", "c", "-0.7")]
    rebuilt = WorkQueue()
    for t, p in events:
        rebuilt.fold(t, p, live=False)
    for t, p in events:
        live.fold(t, p, live=True)
    assert rebuilt.carried == live.carried and live.changes() == []
    rebuilt.begin_call()
    assert [rebuilt.pop().account, rebuilt.pop().account] == [live.pop().account, live.pop().account] == ["c", "a"]
    # both popped without a waterfall event: each leaves the log's queue with a liquidation_dequeued
    assert [(t, p["account"]) for t, p in live.changes()] == [("liquidation_dequeued", "a"),
                                                                ("liquidation_dequeued", "c")]


def test_a_waterfall_event_of_a_watch_takes_it_out_of_the_carried_queue() -> None:
    q = WorkQueue()
    q.fold("liquidation_queued", {"scope": "cross", "account": "a", "what": "USDT", "priority": "-0.5"}, live=False)
    assert WatchId.cross("a", "USDT") in q and q.snapshot() == [["cross", "a", "USDT", "-0.5"]]
    q.fold("liquidation_started", {"scope": "cross", "account": "a", "what": "USDT", "liquidation_id": "L1"},
           live=False)
    assert not q.carried and WatchId.cross("a", "USDT") not in q


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(-50, 200), st.integers(0, 150)), min_size=1, max_size=30,
                unique_by=lambda t: t[0]),
       st.integers(0, 30))
def test_any_carried_queue_rebuilt_from_its_events_or_its_snapshot_pops_in_the_same_order(
        rows: list[tuple[int, int, int]], worked: int) -> None:
    live = WorkQueue()
    for account, equity, mm in rows:
        s = _status(f"a{account}", str(equity), str(mm))
        live.push(s.watch, s)
    for _ in range(min(worked, len(rows))):
        live.pop()
    events = live.changes()
    from_log, from_snapshot = WorkQueue(), WorkQueue()
    for t, p in events:
        from_log.fold(t, p, live=False)
        live.fold(t, p, live=True)
    from_snapshot.restore(live.snapshot())
    from_log.begin_call()
    from_snapshot.begin_call()
    left = len(live)
    assert len(from_log) == len(from_snapshot) == left
    order = [live.pop() for _ in range(left)]
    assert [from_log.pop() for _ in range(left)] == order == [from_snapshot.pop() for _ in range(left)]
