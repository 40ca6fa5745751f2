"""Child of tests/test_engine_crash.py: the durable risk engine under a synthetic crash, killed at random.

Usage: ``python engine_crash_child.py TARGET``. Installs a small synthetic market (idempotent keys), then posts
the scripted marks step by step (keyed, so a restarted child resumes where the log stops), printing
``ACK <seq>`` for the mark and every event it caused once the batch is durable.
"""

from __future__ import annotations

import sys

from margincall.model.errors import MarginCallError
from margincall.sim import SimConfig, SyntheticMarket, install
from margincall.sim.run import mark_commands
from margincall.store.engine import open_engine


def main(target: str) -> None:
    market = SyntheticMarket(SimConfig(accounts=150, seed=5))
    journal = open_engine(target, snapshot_every=97)
    install(journal, market, ts=1_000)
    out = sys.stdout
    for step in range(market.steps):
        commands = mark_commands(market, step, 2_000 + step * 1_000)
        for outcome in journal.submit_many(commands):
            if isinstance(outcome, MarginCallError):
                raise outcome
            if not outcome.duplicate:
                out.write(f"ACK {outcome.seq}\n")
                for ev in outcome.caused:
                    out.write(f"ACK {ev.seq}\n")
        out.flush()
    out.write("DONE 0\n")
    out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
