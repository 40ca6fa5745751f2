"""The risk engine made durable: a :class:`~margincall.store.journal.Journal` over a
:class:`~margincall.risk.engine.RiskEngine`.

Every input event and every event the engine applies because of it (margin calls, liquidation steps) are
appended to the log in one transaction before the call returns; recovery folds the log (from the latest
snapshot) back into an identical engine.
"""

from __future__ import annotations

from typing import Any

from margincall.risk.engine import EngineConfig, RiskEngine
from margincall.store import open_log
from margincall.store.journal import Journal


class EngineFactory:
    """Makes engines with one configuration, empty or from a snapshot (the Journal's ``ledger_factory``)."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()

    def __call__(self) -> RiskEngine:
        return RiskEngine(self.config)

    def from_snapshot(self, state: dict[str, Any], /) -> RiskEngine:
        return RiskEngine.from_snapshot(state, self.config)


def open_engine(url_or_path: str | None = None, config: EngineConfig | None = None, *,
                snapshot_every: int = 10_000) -> Journal:
    """Open (or create) a durable engine on a SQLite path or ``postgresql://`` URL (default: the
    ``MARGINCALL_DATABASE_URL`` environment variable, else ``margincall.db``)."""
    return Journal(open_log(url_or_path), EngineFactory(config), snapshot_every=snapshot_every)
