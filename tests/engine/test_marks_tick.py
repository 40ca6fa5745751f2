"""One tick of several symbols' marks (the ``marks`` event): all taken or none, and the engine checks every
account once, at the new marks of all of them.

A venue publishes every symbol's mark at once (Binance's ``!markPrice@arr`` stream). Fed one symbol at a time,
the engine would look at a hedged cross account between two halves of the same tick: long one symbol and short
a second that moved with it, it would be liquidated by the first half of the move, which the second half
offsets.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margincall.ledger import Ledger, Rejected
from margincall.risk.engine import RiskEngine
from margincall.risk.explain import explain
from margincall.risk.status import WatchId, status
from support.engine_books import SYMBOLS, account_st, build, check_no_unhandled_breach

FLAT_1PCT = [{"floor": "0", "mmr": "0.01", "max_leverage": "50"}]


def _listed(ledger: Ledger | RiskEngine) -> None:
    apply = ledger.apply
    for sym in ("AAAUSDT", "BBBUSDT"):
        apply("market_listed", {"venue": "generic", "symbol": sym, "tiers": FLAT_1PCT, "maker_fee": "0",
                                "taker_fee": "0", "liquidation_fee": "0.01"}, 1)


# -- the ledger event --------------------------------------------------------------------------------------------


def test_a_tick_sets_every_mark_and_reports_the_previous_ones() -> None:
    led = Ledger()
    _listed(led)
    led.apply("mark", {"symbol": "AAAUSDT", "price": "100"}, 1)
    res = led.apply("marks", {"marks": [{"symbol": "AAAUSDT", "price": "80.5"},
                                        {"symbol": "BBBUSDT", "price": "7"}]}, 2)
    assert res.details == {"marks": [{"symbol": "AAAUSDT", "price": "80.5", "previous": "100"},
                                     {"symbol": "BBBUSDT", "price": "7", "previous": None}]}
    assert led.marks == {"AAAUSDT": D("80.5"), "BBBUSDT": D("7")}


@pytest.mark.parametrize(("marks", "code", "field"), [
    (None, "invalid_field", "marks"),
    ([], "invalid_field", "marks"),
    ({"AAAUSDT": "1"}, "invalid_field", "marks"),
    ([{"symbol": "AAAUSDT", "price": "90"}, "BBBUSDT"], "invalid_field", "marks[1]"),
    ([{"symbol": "AAAUSDT", "price": "90"}, {"symbol": "ZZZ", "price": "1"}], "unknown_symbol", "marks[1].symbol"),
    ([{"symbol": "AAAUSDT", "price": "90"}, {"symbol": "BBBUSDT", "price": "NaN"}], "invalid_number",
     "marks[1].price"),
    ([{"symbol": "AAAUSDT", "price": "90"}, {"symbol": "BBBUSDT", "price": "-1"}], "invalid_number",
     "marks[1].price"),
    ([{"symbol": "AAAUSDT", "price": "90"}, {"symbol": "BBBUSDT"}], "missing_field", "marks[1].price"),
    ([{"symbol": "AAAUSDT", "price": "90"}, {"symbol": "AAAUSDT", "price": "91"}], "duplicate",
     "marks[1].symbol"),
    ([{"symbol": "AAAUSDT", "price": "1"}] * 10_001, "invalid_field", "marks"),
])
def test_a_bad_tick_is_refused_whole_naming_the_item(marks: Any, code: str, field: str) -> None:
    led = Ledger()
    _listed(led)
    led.apply("mark", {"symbol": "AAAUSDT", "price": "100"}, 1)
    with pytest.raises(Rejected) as exc:
        led.apply("marks", {"marks": marks}, 2)
    assert (exc.value.code, exc.value.field) == (code, field)
    assert led.marks == {"AAAUSDT": D("100")}  # the good first item was not taken either
    assert led.events_applied == 3


# -- the engine: one check at the new marks of every symbol -------------------------------------------------------


def _hedged(log: list[Any] | None = None) -> RiskEngine:
    """Account h: 150 USDT, cross, long 10 AAA and short 10 BBB, both at 100 (no fees; IM 1,000/20 × 2 = 100).
    The market maker takes the other sides. ``log`` receives every event applied."""
    e = RiskEngine()
    _listed(e)
    out = [] if log is None else log

    def do(t: str, p: dict[str, Any]) -> None:
        out.extend(e.process(t, p, 1))

    for sym in ("AAAUSDT", "BBBUSDT"):
        do("mark", {"symbol": sym, "price": "100"})
    for acct, usdt in (("h", "150"), ("mm", "1000000")):
        do("account_opened", {"account": acct})
        do("deposit", {"account": acct, "asset": "USDT", "amount": usdt})
        for sym in ("AAAUSDT", "BBBUSDT"):
            do("leverage_set", {"account": acct, "symbol": sym, "leverage": "20"})
    for acct, aaa, bbb in (("h", "buy", "sell"), ("mm", "sell", "buy")):
        do("fill", {"account": acct, "symbol": "AAAUSDT", "side": aaa, "size": "10", "price": "100"})
        do("fill", {"account": acct, "symbol": "BBBUSDT", "side": bbb, "size": "10", "price": "100"})
    return e


def test_a_hedged_account_survives_a_tick_that_one_symbol_at_a_time_would_liquidate() -> None:
    # Both symbols fall 20 % in one tick. Fed one at a time, after AAA alone: uPnL 10 × (80 − 100) = −200, equity
    # 150 − 200 = −50 ≤ MM 1 % × (800 + 1,000) = 18: liquidated. After the whole tick: −200 + 10 × (100 − 80) = 0,
    # equity 150, MM 1 % × (800 + 800) = 16, MM / equity 10.7 %: healthy, no event at all.
    one_by_one = _hedged()
    first = one_by_one.process("mark", {"symbol": "AAAUSDT", "price": "80"}, 2)
    assert [a.payload["account"] for a in first if a.type == "liquidation_started"] == ["h"]

    e = _hedged()
    out = e.process("marks", {"marks": [{"symbol": "AAAUSDT", "price": "80"},
                                        {"symbol": "BBBUSDT", "price": "80"}]}, 2)
    assert [a.type for a in out] == ["marks"]
    st_ = status(e.ledger, WatchId.cross("h", "USDT"))
    assert (st_.equity, st_.maintenance_margin) == (D("150"), D("16"))
    assert e.metrics.ticks == 3 and e.audit() == []


def test_a_tick_liquidates_what_its_moves_together_breach_and_explain_shows_its_marks() -> None:
    # AAA −20 % and BBB +20 % in one tick: h loses on both legs: 10 × (80 − 100) + 10 × (100 − 120) = −400,
    # equity 150 − 400 = −250 ≤ MM 1 % × (800 + 1,200) = 20. The tick is one event; the whole waterfall follows
    # it in the same call, and the account's band ends back at healthy.
    history: list[Any] = []
    e = _hedged(history)
    e.apply("insurance_fund_deposit", {"asset": "USDT", "amount": "100000"}, 1)
    out = e.process("marks", {"marks": [{"symbol": "AAAUSDT", "price": "80"},
                                        {"symbol": "BBBUSDT", "price": "120"}]}, 2)
    types = [a.type for a in out]
    assert types[0] == "marks" and "liquidation_started" in types and types[-1] == "margin_call"
    started = next(a for a in out if a.type == "liquidation_started")
    assert (D(started.payload["equity"]), D(started.payload["maintenance_margin"])) == (D(-250), D(20))
    assert not any(k.account == "h" for k in e.ledger.positions)
    assert e.conservation_error() is None
    log = [{"seq": i, "ts": a.ts, "type": a.type, "payload": a.payload, "result": a.result.details}
           for i, a in enumerate(history + out, start=1)]
    steps = explain(log, "h")
    marks = [(s.type, {n.name: n.value for n in s.numbers}) for s in steps if s.type == "mark"]
    assert [(t, n["symbol"], n["price"]) for t, n in marks] == [("mark", "AAAUSDT", "80"), ("mark", "BBBUSDT", "120")]


def test_an_adl_counterparty_pushed_below_mm_is_liquidated_in_the_same_call() -> None:
    # No fees, 1 % MMR, liquidation fee 1 %, an empty insurance fund. bust: 100 USDT, long 10 AAA at 100.
    # cp: 220 USDT at 50x, short 10 AAA and long 100 BBB at 100 (the market maker holds the other BBB side).
    # One tick: AAA 85, BBB 97.5.
    # * bust: equity 100 + 10 × (85 − 100) = −50 ≤ MM 8.5: liquidated; bankruptcy price P with 100 + 10 × (P − 100)
    #   = 0: P = 90. The fund (0) cannot pay the 50: ADL of the only short in profit, cp's, at 90.
    # * cp at the tick: equity 220 + 150 − 250 = 120, MM 1 % × (850 + 9,750) = 106, MM / equity 88.3 %: warning.
    # * cp after the ADL: wallet 220 + 10 × (100 − 90) = 320, equity 320 − 250 = 70 ≤ MM 1 % × 9,750 = 97.5: the
    #   ADL at a price worse than the mark took it below MM. Its band was built before; it must be liquidated now.
    e = RiskEngine()
    _listed(e)
    for sym in ("AAAUSDT", "BBBUSDT"):
        e.process("mark", {"symbol": sym, "price": "100"}, 1)
    for acct, usdt, lev in (("bust", "100", "20"), ("cp", "220", "50"), ("mm", "1000000", "20")):
        e.process("account_opened", {"account": acct}, 1)
        e.process("deposit", {"account": acct, "asset": "USDT", "amount": usdt}, 1)
        for sym in ("AAAUSDT", "BBBUSDT"):
            e.process("leverage_set", {"account": acct, "symbol": sym, "leverage": lev}, 1)
    for acct, sym, side, size in (("bust", "AAAUSDT", "buy", "10"), ("cp", "AAAUSDT", "sell", "10"),
                                  ("cp", "BBBUSDT", "buy", "100"), ("mm", "BBBUSDT", "sell", "100")):
        e.process("fill", {"account": acct, "symbol": sym, "side": side, "size": size, "price": "100"}, 1)
    out = e.process("marks", {"marks": [{"symbol": "AAAUSDT", "price": "85"},
                                        {"symbol": "BBBUSDT", "price": "97.5"}]}, 2)
    seen = [(a.type, a.payload.get("account")) for a in out]
    warning = next(a.payload for a in out if a.type == "margin_call" and a.payload["account"] == "cp")
    assert (warning["band"], D(warning["equity"]), D(warning["maintenance_margin"])) == ("warning", 120, 106)
    adl = next(a.payload for a in out if a.type == "adl")
    assert (adl["account"], D(adl["size"]), D(adl["price"])) == ("cp", 10, 90)
    assert seen.index(("adl", "cp")) < seen.index(("liquidation_started", "cp"))
    started = next(a.payload for a in out if a.type == "liquidation_started" and a.payload["account"] == "cp")
    assert (D(started["equity"]), D(started["maintenance_margin"])) == (70, D("97.5"))
    assert not any(k.account in ("bust", "cp") for k in e.ledger.positions)
    assert e.audit() == [] and e.conservation_error() is None


def test_a_partial_step_that_would_leave_the_wallet_negative_closes_in_full() -> None:
    # Found by the property test below (1,500 examples). Binance tiers, taker fee 0.05 %, liquidation fee 0.5 %.
    # a1: 16,948 USDT, cross 20x, long 5.979 BTC at 30,000 and short 36.06 ETH at 2,000; opening fees 0.015 + 89.67
    # + 36.06: wallet 16,822.255. A tick to BTC 26,038.6 / ETH 1,746.8: uPnL 5.979 × −3,961.4 = −23,685.21 and
    # 36.06 × 253.2 = +9,130.39, equity 2,267.44 ≤ MM 3,966.86. Binance's step down to tier 1 would sell 4.059 BTC at
    # 25,985.15: realized 4.059 × (25,985.15 − 30,000) = −16,296.3, fee 4.059 × 25,985.15 × 0.5 % = 527.4, wallet
    # 16,822.26 − 16,296.3 − 527.4 ≈ −1.4 < 0 — while equity (1,523 > MM 1,325) would call the account restored on
    # ETH's unrealized profit. A liquidation may not end with a negative wallet: the engine failed (EngineFault).
    # Now the step is not taken and the account is closed in full.
    accounts = [(200, "cross", "2", [("BTCUSDT", "buy", 1)]),
                (16948, "cross", "20", [("BTCUSDT", "buy", 1), ("BTCUSDT", "buy", 5978), ("ETHUSDT", "sell", 2404)])]
    e, _inputs, _log = build(accounts, 0, "binance-usdm", False)
    assert e.ledger.wallet("a1", "USDT") == D("16822.255")
    for ts, (btc, eth) in enumerate([("29133.0", "2000.0"), ("30091.5", "2000.0"), ("28355.2", "2000.0"),
                                     ("26038.6", "1746.8")], start=2):
        out = e.process("marks", {"marks": [{"symbol": "BTCUSDT", "price": btc}, {"symbol": "ETHUSDT", "price": eth}]},
                        ts)
    started = next(a.payload for a in out if a.type == "liquidation_started")
    assert (started["account"], D(started["equity"])) == ("a1", D("2267.4364"))
    assert [a.type for a in out if a.type == "partial_liquidation"] == []
    finished = next(a.payload for a in out if a.type == "liquidation_finished")
    assert finished["outcome"] == "closed"
    assert not any(k.account == "a1" for k in e.ledger.positions) and e.ledger.wallet("a1", "USDT") == 0
    assert e.conservation_error() is None and e.audit() == []


# -- invariants on random books, with ticks of both symbols ------------------------------------------------------

tick_st = st.lists(st.tuples(st.integers(min_value=-1500, max_value=1500), st.integers(min_value=-1500,
                                                                                           max_value=1500)),
                   min_size=1, max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts=st.lists(account_st, min_size=2, max_size=6), ticks=tick_st,
       fund=st.sampled_from([0, 100, 100_000]), venue=st.sampled_from(["binance-usdm", "bybit-linear",
                                                                      "hyperliquid", "generic"]),
       socialize=st.booleans())
def test_ticks_keep_the_waterfall_invariants_replay_and_equal_the_exact_check_of_every_holder(
        accounts, ticks, fund, venue, socialize):
    e, inputs, log = build(accounts, fund, venue, socialize)
    prices = dict(SYMBOLS)
    ts = 1
    for moves in ticks:
        ts += 1
        for sym, bps in zip(SYMBOLS, moves, strict=True):
            prices[sym] = max(D("0.1"), (prices[sym] * (1 + D(bps) / 10000)).quantize(D("0.1")))
        payload = {"marks": [{"symbol": sym, "price": str(prices[sym])} for sym in SYMBOLS]}
        applied = e.process("marks", payload, ts)
        inputs.append(("marks", payload, ts))
        log.extend((a.type, a.payload, a.ts) for a in applied)
        assert e.conservation_error() is None
        check_no_unhandled_breach(e)
        assert e.audit() == []  # the full vectorised re-screen finds nothing the tick missed
    replayed = RiskEngine(e.config)
    for t, p, ts_ in log:
        replayed.apply(t, p, ts_)
    assert replayed.digest() == e.digest()
    # the band index's candidates of a multi-symbol tick are exact: the same events as checking every holder
    for screener in ("index", "holders"):
        rerun = RiskEngine(replace(e.config, screener=screener))
        produced = [(a.type, a.payload, a.ts) for t, p, ts_ in inputs for a in rerun.process(t, p, ts_)]
        assert produced == log, screener
