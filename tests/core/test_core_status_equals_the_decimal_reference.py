"""The core's compiled status pass equals the Decimal reference, watch for watch, the same numbers exactly.

For a random book (support.core_books: several venues' tier tables, cross and isolated, one-way and hedge) and a
random tick of random marks (crashes to 5 % of the typical price, rallies to 3x, symbols left unmarked), every
watch's equity, exact MM, MM rounded up to the unit, liquidatable flag and next band (from a random current band)
equal ``risk.status.status`` and ``risk.margin_call.BandConfig.next_band``. The reference runs with Decimal's
``Inexact`` trapped, so the test also proves it did not round: its numbers are the exact values the core's
integers stand for.

``CORE_DIFF_EXAMPLES`` sets the number of examples (default 1,000 here; the sweep is run by hand with 10,000).
"""

from __future__ import annotations

import os
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, Inexact, localcontext

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from margincall.core.loader import load
from margincall.core.state import SIDES
from margincall.core.tick import BANDS, BandThresholds, statuses, tick
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.status import status
from support.core_books import MARKETS, ledger_of, moves, snapshots, watch_id

EXAMPLES = int(os.environ.get("CORE_DIFF_EXAMPLES", "1000"))
UNIT = Decimal("1e-8")
CONFIGS = [BandConfig(), BandConfig(Decimal("0.7"), Decimal("0.85"), Decimal("1"), Decimal("0.1")),
           BandConfig(Decimal("0.9"), Decimal("0.9"), Decimal("1"), Decimal("0"))]


def _compare(led, core, st_, config: BandConfig, current: dict[int, int]) -> None:  # type: ignore[no-untyped-def]
    w = core.watches
    p = core.positions
    for i, wi in enumerate(st_.watches):
        first = int(w.positions[w.ptr[wi]])
        acct = core.accounts[w.account[wi]]
        sym = core.markets.symbols[p.market[first]]
        watch = watch_id(bool(w.isolated[wi]), acct, core.assets[w.asset[wi]], sym, SIDES[p.side[first]])
        with localcontext() as ctx:
            ctx.traps[Inexact] = True
            ref = status(led, watch)
            ref_band = config.next_band(Band(current.get(int(wi), 0)), ref.maintenance_margin, ref.equity)
        assert st_.equity_decimal(i) == ref.equity, watch
        assert st_.mm_decimal(i) == ref.maintenance_margin, watch
        assert Decimal(int(st_.mm_ceil()[i])).scaleb(-8) == ref.maintenance_margin.quantize(UNIT, ROUND_CEILING)
        assert Decimal(int(st_.equity[i])).scaleb(-8) == ref.equity.quantize(UNIT, ROUND_FLOOR)
        assert bool(st_.liquidatable[i]) == ref.liquidatable, watch
        assert BANDS[st_.band[i]] == ref_band.label, (watch, current.get(int(wi), 0))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snap=snapshots(), data=st.data())
def test_every_watch_after_a_random_tick_equals_the_reference(snap, data) -> None:  # type: ignore[no-untyped-def]
    led = ledger_of(snap)
    core = load(led)
    n_w = len(core.watches.isolated)
    # the tick: a random subset of symbols at random prices (one venue-wide tick, all taken together)
    ticked = data.draw(st.lists(st.sampled_from(sorted(MARKETS)), unique=True, min_size=1))
    marks = {s: data.draw(moves(s)) for s in ticked}
    for s, price in marks.items():
        led.marks[s] = price
    config = data.draw(st.sampled_from(CONFIGS))
    th = BandThresholds.of(config.warning, config.reduce_only, config.hysteresis)
    bands = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n_w, max_size=n_w)), np.int8)
    st_ = tick(core, marks, bands, th)
    # the tick's candidates are exactly the watches holding a ticked symbol
    held = {int(core.positions.watch[j]) for j in range(len(core.positions.size))
            if core.markets.symbols[core.positions.market[j]] in marks}
    assert set(st_.watches.tolist()) == held
    _compare(led, core, st_, config, {int(w): int(bands[w]) for w in st_.watches})
    # and every watch, ticked or not, at the marks now held
    everyone = statuses(core, np.arange(n_w, dtype=np.int64), bands, th)
    _compare(led, core, everyone, config, {w: int(bands[w]) for w in range(n_w)})
