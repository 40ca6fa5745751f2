"""No numba kernel is compiled inside a tick: making the engine's screener compiles (or loads from numba's disk
cache) every kernel of the band index and the float screen, with the argument types the engine passes.

Found by profiling the 200k-position crash of ``benchmarks/engine.py`` on a fresh install: 17 s of the first crash
waterfall was numba compiling ``_commit`` and ``_compact`` on their first use, inside the tick. Run in a fresh
interpreter, as the kernels a process has already compiled would hide a missing warm-up.
"""

from __future__ import annotations

import json
import subprocess
import sys

from support.paths import ROOT

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[1] + "/tests")
from numba.core.registry import CPUDispatcher
from margincall.risk.screening import band_kernels, screen

def signatures():
    return {f"{m.__name__}.{n}": sorted(str(s) for s in f.signatures)
            for m in (band_kernels, screen) for n, f in vars(m).items()
            if isinstance(f, CPUDispatcher) and f.py_func.__module__ == m.__name__}

before = signatures()
from margincall.risk.engine import RiskEngine
from support.adl_scenarios import config, run, scenario
engine = RiskEngine(config(1, True))
warm = signatures()
liquidations = 0
for seed in (1, 4):
    setup, path = scenario(seed)
    engine = RiskEngine(config(seed, True))
    for events in run(engine, setup + path):
        if isinstance(events, list):
            liquidations += sum(1 for e in events if e[0] == "liquidation")
    assert engine.audit() == []
print(json.dumps({"before": before, "warm": warm, "after": signatures(), "liquidations": liquidations}))
"""


def test_the_engine_compiles_every_kernel_when_it_is_made_and_none_during_ticks() -> None:
    root = ROOT
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, check=True,
                         timeout=600)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["liquidations"] > 10  # the scenarios liquidate (and so re-band, remove and re-screen)
    assert all(not sigs for sigs in seen["before"].values())  # nothing compiled by importing
    # the kernels called from Python; the others are compiled into them
    called = {"band_kernels._bands", "band_kernels._commit", "band_kernels._query", "band_kernels._band_commit",
              "band_kernels._tick", "band_kernels._compact",
              "screen._full", "screen.account_kernel", "screen.isolated_kernel"}
    warm = {name.removeprefix("margincall.risk.screening.") for name, sigs in seen["warm"].items() if sigs}
    # a kernel compiled fresh (no disk cache) also records the signatures of the kernels inlined into it
    assert called <= warm
    assert seen["after"] == seen["warm"]  # no new specialisation: nothing was compiled inside a tick
