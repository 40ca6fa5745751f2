"""The auditor: a log's engine decisions re-made by the Decimal reference engine (``margincall ledger verify
--reference``).

``verify`` (:func:`margincall.store.journal.verify`) folds every event of a log through a fresh ledger and checks
the chain, the results and the conservation of money: it proves the log is a consistent history. It does not ask
whether the engine decided as the rules say — which watches it liquidated, at which prices, in which order, whom
it deleveraged. The audit does: it feeds only the log's *inputs* (every event whose type the engine never
produces) to a fresh :class:`~margincall.risk.engine.RiskEngine` with the given configuration, and compares what
the reference engine causes with the events the log holds after that input, one by one (type, payload and time).
It stops at the first event where the two disagree and names it. A log written by any engine — the Decimal one or
the compiled core — must pass it with the configuration it ran with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from margincall.model.errors import MarginCallError
from margincall.risk.engine import ENGINE_EVENTS, EngineConfig, RiskEngine
from margincall.store.log import EventLog, canonical_json


@dataclass(frozen=True, slots=True)
class AuditReport:
    """``ok``: every decision in the log is the reference's. Else ``seq`` is the first event (or the place of the
    first missing one) where they differ, ``code`` one of ``decision_mismatch``, ``missing_event``,
    ``extra_event``, ``rejected_on_replay``, ``caused_before_input``, and ``expected`` / ``found`` the reference's
    event and the log's, as ``{"type", "ts", "payload"}``."""

    ok: bool
    events: int
    inputs: int
    seq: int | None = None
    code: str | None = None
    message: str | None = None
    expected: dict[str, Any] | None = None
    found: dict[str, Any] | None = None


def _shape(type_: str, ts: int, payload: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "payload": payload}


def _groups(log: EventLog) -> Iterator[tuple[Any, list[Any]]]:
    """Each input event of the log with the engine events that follow it (up to the next input)."""
    current: Any = None
    caused: list[Any] = []
    for ev in log.read(0):
        if ev.type in ENGINE_EVENTS:
            if current is None:
                yield None, [ev]
                return
            caused.append(ev)
            continue
        if current is not None:
            yield current, caused
        current, caused = ev, []
    if current is not None:
        yield current, caused


def audit(log: EventLog, config: EngineConfig | None = None) -> AuditReport:
    """Re-make the log's engine decisions with the reference engine configured by ``config`` (the service's
    ``[engine]`` settings) and compare them with the log, event by event; stop at the first difference."""
    engine = RiskEngine(config or EngineConfig())
    events = inputs = 0
    for inp, caused in _groups(log):
        if inp is None:
            ev = caused[0]
            return AuditReport(False, events, inputs, ev.seq, "caused_before_input",
                               f"event {ev.seq}: a {ev.type} event before any input",
                               found=_shape(ev.type, ev.ts, ev.payload))
        inputs += 1
        try:
            applied = engine.process(inp.type, inp.payload, inp.ts)
        except MarginCallError as exc:
            return AuditReport(False, events, inputs, inp.seq, "rejected_on_replay",
                               f"event {inp.seq}: the reference engine rejects this {inp.type}: {exc.code}: {exc}",
                               found=_shape(inp.type, inp.ts, inp.payload))
        events += 1
        made = applied[1:]  # the input itself is the first applied event
        for i, (want, got) in enumerate(zip(made, caused, strict=False)):
            if (want.type, want.ts, canonical_json(want.payload)) != (got.type, got.ts, canonical_json(got.payload)):
                return AuditReport(
                    False, events, inputs, got.seq, "decision_mismatch",
                    f"event {got.seq}: the log has {got.type}, the reference engine makes {want.type}"
                    + ("" if want.type != got.type else " with another payload or time")
                    + f" (the {i + 1}th event caused by the {inp.type} at {inp.seq})",
                    expected=_shape(want.type, want.ts, want.payload), found=_shape(got.type, got.ts, got.payload))
            events += 1
        if len(made) > len(caused):
            want = made[len(caused)]
            at = caused[-1].seq + 1 if caused else inp.seq + 1
            return AuditReport(False, events, inputs, at, "missing_event",
                               f"event {at}: the reference engine makes a {want.type} the log does not have "
                               f"(caused by the {inp.type} at {inp.seq})", expected=_shape(want.type, want.ts,
                                                                                          want.payload))
        if len(caused) > len(made):
            got = caused[len(made)]
            return AuditReport(False, events, inputs, got.seq, "extra_event",
                               f"event {got.seq}: the log has a {got.type} the reference engine does not make "
                               f"(after the {inp.type} at {inp.seq})", found=_shape(got.type, got.ts, got.payload))
    return AuditReport(True, events, inputs)


__all__ = ["AuditReport", "audit"]
