"""Fills, deposits, withdrawals, transfers, the insurance fund's capital and funding payments through the core
(``core.inputs``) leave, after every input, the state the ledger leaves (``Ledger.apply``): every balance (wallets,
isolated margins, the system books, the external book), every position's size, entry, mode and leverage, the
deposits and withdrawals, the count of applied events — the same integers, converted back with
``loader.reference_values``. An input the ledger refuses is refused by the core for the same rule (the same code);
an increase at a price other than the entry, which the core refuses by design (its averaged entry), is refused with
a ``CoreRangeError`` and leaves the core untouched.

The same inputs as one batch (``apply_batch``: positions opened and closed within the batch, the table compacted
once at its end) give the same outcomes and the same final state; both leave the very arrays ``load`` makes from the
ledger's final state (positions in order, the watch table, the per-market index, wallets, system books).
``CORE_DIFF_EXAMPLES`` sets the number of examples (default 1,000; a sweep by hand with 10,000).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from margincall.core.inputs import apply_batch
from margincall.core.loader import load, reference_values
from margincall.core.ranges import CoreRangeError
from margincall.ledger import Ledger, Rejected
from support.core_books import ledger_of, snapshots
from support.core_inputs import averages, fill_payload, funding_payload, ledger_values, money_payload, transfer_payload

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000"))


def _same_state(core_values: dict[str, Any], led: Ledger) -> None:
    want = ledger_values(led)
    for name in ("balances", "positions", "deposits", "withdrawals", "marks"):
        assert core_values[name] == want[name], name


def _same_arrays(core: Any, led: Ledger) -> None:
    """The core's tables equal the ones loaded from the ledger, array for array: positions in order, the watch
    table and the per-market index (rebuilt by the run), the wallets and the system books."""
    fresh = load(led)
    for table in ("positions", "watches", "by_market"):
        for name in getattr(fresh, table).__slots__:
            got, want = getattr(getattr(core, table), name), getattr(getattr(fresh, table), name)
            assert np.array_equal(got, want) and got.dtype == want.dtype, f"{table}.{name}"
    for name in ("wallet", "system", "deposits", "withdrawals"):
        assert np.array_equal(getattr(core, name), getattr(fresh, name)), name


def _ledger_outcome(led: Ledger, event_type: str, payload: dict[str, Any], ts: int) -> Rejected | None:
    try:
        led.apply(event_type, payload, ts)
    except Rejected as e:
        return e
    return None


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
@given(snap=snapshots(), data=st.data())
def test_every_input_leaves_the_ledgers_state(snap, data) -> None:  # type: ignore[no-untyped-def]
    if data.draw(st.booleans()):  # open orders holding margin: the available balance and withdrawable less it
        acct = data.draw(st.sampled_from(sorted(snap["accounts"])))
        held = Decimal(data.draw(st.integers(1, 10**12))).scaleb(-8)
        snap = {**snap, "reserved": [[acct, "o1", data.draw(st.sampled_from(["USDT", "USDC"])), str(held)]]}
    led = ledger_of(snap)
    core = load(led)
    first = load(ledger_of(snap))
    inputs: list[tuple[str, dict[str, Any], int]] = []
    outcomes: list[str | None] = []
    ts = 0
    for _ in range(data.draw(st.integers(1, 14))):
        kind = data.draw(st.sampled_from(["fill"] * 5 + ["deposit", "withdrawal", "funding", "transfer",
                                                         "insurance_fund_deposit"]))
        if kind == "fill":
            payload = data.draw(fill_payload(led))
        elif kind == "funding":
            payload = data.draw(funding_payload(led))
        elif kind == "transfer":
            payload = data.draw(transfer_payload(led))
        elif kind == "insurance_fund_deposit":
            payload = {k: v for k, v in data.draw(money_payload(led, False)).items() if k != "account"}
        else:
            payload = data.draw(money_payload(led, kind == "withdrawal"))
        ts += data.draw(st.sampled_from([0, 1, 1, 5, -1]))  # now and then earlier than the last: out of order
        averaged = kind == "fill" and averages(led, payload)
        before = reference_values(core)
        core, (got,) = apply_batch(core, [(kind, payload, ts)])
        if averaged and isinstance(got, CoreRangeError):
            event("averaged entry: refused by design")
            assert "averages" in str(got) and got.field == "price"
            _same_state(before, led)
            _same_state(reference_values(core), led)
            probe = _ledger_outcome(led.copy(), kind, payload, ts)  # the ledger accepts it or wants margin
            assert probe is None or probe.code in ("insufficient_margin", "insufficient_balance")
            inputs.append((kind, payload, ts))
            outcomes.append("averaged")
            continue
        want = _ledger_outcome(led, kind, payload, ts)
        assert not isinstance(got, CoreRangeError), got
        assert (None if got is None else got.code) == (None if want is None else want.code), (got, want)
        event(f"{kind}: {'applied' if want is None else want.code}")
        _same_state(reference_values(core), led)
        assert (core.events_applied, core.last_ts) == (led.events_applied, led.last_ts)
        inputs.append((kind, payload, ts))
        outcomes.append(None if want is None else want.code)
        if want is not None and want.code == "insufficient_margin" and kind == "fill" and data.draw(st.booleans()):
            # exactly the margin the fill wants, or a unit less: Σ IM within a unit of the limit
            need = Decimal(str(want).split("needs ")[1].split(" ")[0]).quantize(Decimal("1e-8"), "ROUND_CEILING")
            need -= data.draw(st.sampled_from([Decimal(0), Decimal("1e-8")]))
            asset = led.markets[payload["symbol"]].instrument.settle_asset
            if need > 0 and payload["account"] in led.accounts:
                topup = {"account": payload["account"], "asset": asset, "amount": format(need, "f")}
                for extra in [("deposit", topup, ts), ("fill", payload, ts)]:
                    core, (got,) = apply_batch(core, [extra])
                    want = _ledger_outcome(led, *extra)
                    assert (None if got is None else got.code) == (None if want is None else want.code)
                    event(f"fill at the margin edge: {'applied' if want is None else want.code}")
                    _same_state(reference_values(core), led)
                    inputs.append(extra)
                    outcomes.append(None if want is None else want.code)
    _same_arrays(core, led)
    # the same inputs as one batch, from the start
    whole, outs = apply_batch(first, inputs)
    _same_arrays(whole, led)
    assert [("averaged" if isinstance(o, CoreRangeError) else None if o is None else o.code) for o in outs] == outcomes
    _same_state(reference_values(whole), led)
    assert (whole.events_applied, whole.last_ts) == (led.events_applied, led.last_ts)
