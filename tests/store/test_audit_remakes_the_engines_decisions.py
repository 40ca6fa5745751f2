"""The auditor (``store.audit``, ``margincall ledger verify --reference``) re-makes a log's engine decisions with
the Decimal reference engine from the log's inputs alone, and names the first event where the log differs.

The log here is written by the durable engine itself (``open_engine``): one account long 1 BTC from 10,000 with
1,000 USDT at 10x, a second account that only deposits, and a mark of 9,180 that liquidates the first (equity
1,000 − 820 = 180 ≤ MM 9,180 × 0.02 = 183.6). With the executor the log ran with (no slippage) every decision is
the reference's; with slippage 0.001 the reference fills the liquidation at 9,180 × 0.999 = 9,170.82, and the
audit stops at that ``liquidation`` event (seq 11), giving both events.
"""

from __future__ import annotations

from decimal import Decimal as D

from margincall.risk.engine import EngineConfig
from margincall.risk.executor import MarketExecutor
from margincall.store import open_log
from margincall.store.audit import audit
from margincall.store.engine import open_engine
from margincall.store.log import NewEvent

CONFIG = EngineConfig(executor=MarketExecutor(slippage=D(0), impact_per_million=D(0)))
INPUTS = 8


def write(path: str) -> None:
    j = open_engine(path, CONFIG)
    j.submit("market_listed", {"venue": "generic", "symbol": "BTCUSDT", "maker_fee": "0", "taker_fee": "0",
                               "tiers": [{"floor": "0", "cap": None, "mmr": "0.02", "max_leverage": "50"}]}, ts=1)
    for acct in ("t", "u"):
        j.submit("account_opened", {"account": acct}, ts=1)
        j.submit("deposit", {"account": acct, "asset": "USDT", "amount": "1000"}, ts=1)
    j.submit("leverage_set", {"account": "t", "symbol": "BTCUSDT", "leverage": "10"}, ts=1)
    j.submit("fill", {"account": "t", "symbol": "BTCUSDT", "side": "buy", "size": "1", "price": "10000"}, ts=2)
    j.submit("mark", {"symbol": "BTCUSDT", "price": "9180"}, ts=3)
    j.log.close()


def copy(src: str, dst: str, skip: int | None = None, extra_after: int | None = None) -> None:
    """The log at ``src`` appended anew at ``dst`` (a valid chain), without event ``skip`` and with a copy of the
    last event put after event ``extra_after``."""
    a, b = open_log(src), open_log(dst)
    events = list(a.read(0))
    for ev in events:
        if ev.seq != skip:
            b.append([(NewEvent(ev.type, ev.payload, None, ev.ts), ev.result)])
        if ev.seq == extra_after:
            last = events[-1]
            b.append([(NewEvent(last.type, last.payload, None, last.ts), last.result)])
    a.close()
    b.close()


def test_the_engines_own_log_passes_with_its_configuration(tmp_path):
    path = str(tmp_path / "log.db")
    write(path)
    log = open_log(path)
    report = audit(log, CONFIG)
    assert report.ok and report.inputs == INPUTS
    assert report.events == log.last_seq() == INPUTS + 6  # margin call, started, liquidation, settlement, finished,
    log.close()                                           # margin call back to healthy


def test_another_executor_is_named_at_the_first_liquidation(tmp_path):
    path = str(tmp_path / "log.db")
    write(path)
    log = open_log(path)
    report = audit(log, EngineConfig(executor=MarketExecutor(slippage=D("0.001"), impact_per_million=D(0))))
    assert not report.ok and report.code == "decision_mismatch" and report.seq == 11
    assert report.expected is not None and report.found is not None
    assert report.expected["type"] == report.found["type"] == "liquidation"
    assert (report.expected["payload"]["close_price"], report.found["payload"]["close_price"]) == ("9170.82", "9180")
    log.close()


def test_a_missing_an_extra_and_a_misplaced_event_are_named(tmp_path):
    path = str(tmp_path / "log.db")
    write(path)
    copy(path, str(tmp_path / "missing.db"), skip=14)  # the last margin call
    log = open_log(str(tmp_path / "missing.db"))
    report = audit(log, CONFIG)
    assert (report.ok, report.code, report.seq) == (False, "missing_event", 14)
    assert report.expected is not None and report.expected["type"] == "margin_call"
    log.close()

    copy(path, str(tmp_path / "extra.db"), extra_after=5)  # a margin call after a deposit that causes nothing
    log = open_log(str(tmp_path / "extra.db"))
    report = audit(log, CONFIG)
    assert (report.ok, report.code, report.seq) == (False, "extra_event", 6)
    log.close()

    copy(path, str(tmp_path / "first.db"), skip=1)
    caused = open_log(str(tmp_path / "caused.db"))
    caused.append([(NewEvent("margin_call", {"account": "t"}, None, 1), None)])
    caused.close()
    log = open_log(str(tmp_path / "caused.db"))
    report = audit(log, CONFIG)
    assert (report.ok, report.code, report.seq) == (False, "caused_before_input", 1)
    log.close()

    # without the market listing, the reference engine rejects the first event that names the market
    log = open_log(str(tmp_path / "first.db"))
    report = audit(log, CONFIG)
    assert (report.ok, report.code) == (False, "rejected_on_replay")
    log.close()
