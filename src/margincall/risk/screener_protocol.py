"""What a screener is to the risk engine: every hook the engine calls, the narrow view of the engine each hook
receives, and the exact reference screener.

A screener narrows the watches the engine checks exactly (Decimal) after a tick: the float band index
(:class:`~margincall.risk.screening.screener.IndexScreener`) or every holder of the ticked symbols
(:class:`HoldersScreener`, simple and exact, the reference in tests). It sees the engine only through
:class:`EngineView` (the ledger, the watches' margin-call bands and their thresholds, and whether a watch is in
the waterfall), so it cannot change the engine's state, and neither module imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from margincall.ledger import Ledger
from margincall.risk.margin_call import Band, BandConfig
from margincall.risk.status import WatchId, status, watches_for


class EngineView(Protocol):
    """The part of the risk engine a screener reads."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def bands(self) -> Mapping[WatchId, Band]:
        """Each watch's current margin-call band (a watch not in it is healthy)."""
        ...

    @property
    def band_config(self) -> BandConfig: ...

    def in_waterfall(self, watch: WatchId) -> bool:
        """Whether the engine is acting on ``watch`` already: its liquidation is in progress or queued."""
        ...


class Screener(Protocol):
    """The hooks the engine calls, each with the engine's :class:`EngineView`."""

    def candidates(self, view: EngineView, symbols: Iterable[str]) -> Iterable[WatchId]:
        """The watches a tick that moved the marks of ``symbols`` (already applied) may have changed."""
        ...

    def on_applied(self, view: EngineView, event_type: str, payload: Mapping[str, Any],
                   accounts: Sequence[str]) -> None:
        """An event was applied to the ledger; ``accounts`` are the accounts it concerns
        (:attr:`margincall.ledger.ApplyResult.accounts`)."""
        ...

    def flush(self, view: EngineView) -> None:
        """The end of a live call: bring the screener in step with every event applied in it."""
        ...

    def restore(self, view: EngineView) -> None:
        """The engine was restored from a snapshot: build whatever the screener keeps from the ledger."""
        ...

    def audit(self, view: EngineView) -> list[WatchId]:
        """Every watch past a band threshold, or liquidatable, that the engine has not acted on (the full
        re-screen; empty when the incremental path missed nothing)."""
        ...

    def most_at_risk(self, view: EngineView, n: int) -> Iterable[WatchId]:
        """A superset of the ``n`` watches with the highest margin ratio, for the caller to order exactly."""
        ...


class HoldersScreener:
    """Every watch holding a ticked symbol, checked exactly (simple; for small books and as a reference in tests).
    Keeps nothing, so its :meth:`on_applied`, :meth:`flush` and :meth:`restore` do nothing."""

    def candidates(self, view: EngineView, symbols: Iterable[str]) -> set[WatchId]:
        led = view.ledger
        return {watches_for(led, k) for symbol in symbols for k in led.by_symbol.get(symbol, ())}

    def on_applied(self, view: EngineView, event_type: str, payload: Mapping[str, Any],
                   accounts: Sequence[str]) -> None:
        return None

    def flush(self, view: EngineView) -> None:
        return None

    def restore(self, view: EngineView) -> None:
        return None

    def audit(self, view: EngineView) -> list[WatchId]:
        """Every watch, checked exactly."""
        led, cfg = view.ledger, view.band_config
        out = []
        for watch in sorted({watches_for(led, k) for k in led.positions}, key=str):
            if view.in_waterfall(watch):
                continue
            st = status(led, watch)
            current = view.bands.get(watch, Band.HEALTHY)
            if cfg.next_band(current, st.maintenance_margin, st.equity) != current or st.liquidatable:
                out.append(watch)
        return out

    def most_at_risk(self, view: EngineView, n: int) -> set[WatchId]:
        """Every watch (the caller orders them exactly)."""
        led = view.ledger
        return {watches_for(led, k) for k in led.positions}
