"""Driving a :class:`~margincall.sim.market.SyntheticMarket` through the durable engine, and counting what
happened.

:func:`install` submits the setup events in batches (``Journal.submit_many``, one transaction each); any refused
event is an error (the generator must only make valid accounts). :func:`run_path` posts the scripted marks, one
batch per step. :class:`Tally` counts the engine's events: margin calls (a move into a worse band), liquidations
(``liquidation_started``), partial liquidations, ADL and the insurance fund's payments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from margincall.model.errors import MarginCallError
from margincall.sim.market import SyntheticMarket
from margincall.store.journal import Command, Journal

_BAND_RANK = {"healthy": 0, "warning": 1, "reduce_only": 2, "liquidation": 3}


@dataclass
class Tally:
    """Counts of what the engine did (fold more events in with :meth:`add`)."""

    events: int = 0
    margin_calls: int = 0
    liquidations: int = 0
    partial_liquidations: int = 0
    adl: int = 0
    insurance_paid: Decimal = Decimal(0)
    insurance_payments: int = 0
    venue_absorbed: Decimal = Decimal(0)
    first_ts: dict[str, int] = field(default_factory=dict)

    def add(self, type_: str, payload: Mapping[str, Any], result: Mapping[str, Any] | None, ts: int) -> None:
        self.events += 1
        what = None
        if type_ == "margin_call":
            if _BAND_RANK.get(str(payload.get("band")), 0) > _BAND_RANK.get(str(payload.get("previous_band")), 0):
                self.margin_calls += 1
                what = "margin_call"
        elif type_ == "liquidation_started":
            self.liquidations += 1
            what = "liquidation"
        elif type_ == "partial_liquidation":
            self.partial_liquidations += 1
            what = "partial_liquidation"
        elif type_ == "adl":
            self.adl += 1
            what = "adl"
        if result is not None and type_ in ("liquidation", "bankruptcy_settlement"):
            paid = Decimal(str(result.get("insurance_paid", "0")))
            if paid > 0:
                self.insurance_paid += paid
                self.insurance_payments += 1
                what = "insurance_paid"
            self.venue_absorbed += Decimal(str(result.get("venue_absorbed", "0")))
        if what is not None:
            self.first_ts.setdefault(what, ts)

    def summary(self) -> str:
        return (f"events {self.events} · margin calls {self.margin_calls} · liquidations {self.liquidations} "
                f"(partial steps {self.partial_liquidations}) · ADL {self.adl} · insurance fund paid "
                f"{self.insurance_paid.normalize():f} USDT in {self.insurance_payments} settlements")


def install(journal: Journal, market: SyntheticMarket, *, ts: int | None = None, batch: int = 2000) -> int:
    """Submit the market's setup events (idempotent: keys make a second call a no-op); returns how many.

    Raises :class:`MarginCallError` naming the first refused event."""
    events = list(market.setup_events())
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        outcomes = journal.submit_many([Command(e.type, e.payload, e.key, ts) for e in chunk])
        for e, o in zip(chunk, outcomes, strict=True):
            if isinstance(o, MarginCallError):
                raise MarginCallError(f"synthetic {e.type} {e.key} refused: {o.code}: {o}", code="sim_rejected",
                                      field=o.field)
    return len(events)


def mark_commands(market: SyntheticMarket, step: int, ts: int | None = None) -> list[Command]:
    return [Command("mark", {"symbol": s, "price": str(p)}, f"sim-{market.config.seed}-mark-{step}-{s}", ts)
            for s, p in market.marks(step)]


def run_path(journal: Journal, market: SyntheticMarket, *, start_ts: int, step_ms: int = 1000,
             tally: Tally | None = None, steps: Iterable[int] | None = None) -> Tally:
    """Post the scripted marks (every symbol, one batch per step, ``step_ms`` apart) and tally the results."""
    t = tally if tally is not None else Tally()
    for step in (steps if steps is not None else range(market.steps)):
        cmds = mark_commands(market, step, start_ts + step * step_ms)
        for c, o in zip(cmds, journal.submit_many(cmds), strict=True):
            if isinstance(o, MarginCallError):
                raise o
            t.add(c.type, c.payload, o.result, c.ts or 0)
            for ev in o.caused:
                t.add(ev.type, ev.payload, ev.result, ev.ts)
    return t
