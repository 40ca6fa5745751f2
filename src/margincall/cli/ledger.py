"""``margincall ledger replay | verify | export``: rebuild, check and dump a durable log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from margincall.model.errors import MarginCallError

ledger_app = typer.Typer(help="Rebuild, verify and export the event log.", no_args_is_help=True)

_LOG = typer.Option(None, "--log", help="SQLite path or postgresql:// URL (default: $MARGINCALL_DATABASE_URL)")


_REFERENCE = typer.Option(False, "--reference", help="also re-make every engine decision with the Decimal reference "
                          "engine (the [engine] settings of --config / MARGINCALL_ENGINE__*) and report the first "
                          "event where the log differs")
_CONFIG = typer.Option(None, "--config", help="TOML configuration file (its [engine] table)", dir_okay=False)


def _open(log: str | None):  # type: ignore[no-untyped-def]
    import os
    from pathlib import Path

    from margincall.store import open_log

    where = log or os.environ.get("MARGINCALL_DATABASE_URL") or "margincall.db"
    if not where.startswith(("postgresql://", "postgres://")) and not Path(where).is_file():
        raise MarginCallError(f"no log at {where!r} (give --log PATH or set MARGINCALL_DATABASE_URL)",
                              code="log_unavailable", field="log")
    try:
        return open_log(log)
    except MarginCallError:
        raise
    except Exception as exc:  # a path that is not a database, a server that is down
        raise MarginCallError(f"cannot open the log {log!r}: {exc}", code="log_unavailable", field="log") from None


@ledger_app.command()
def replay(log: str = _LOG, as_json: bool = typer.Option(False, "--json", help="print the state as JSON")) -> None:
    """Fold the whole log into a fresh engine and print balances and positions."""
    from margincall.store.engine import EngineFactory
    from margincall.store.journal import replay as fold_log

    events_log = _open(log)
    engine = fold_log(events_log, EngineFactory())
    led = engine.ledger  # type: ignore[attr-defined]
    if as_json:
        print(json.dumps(led.snapshot(), sort_keys=True))
        return
    console = Console()
    balances = Table(title=f"balances after {led.events_applied} events")
    for col in ("book", "asset", "balance"):
        balances.add_column(col)
    for (book, asset), v in sorted(led.balances.items()):
        balances.add_row(book, asset, str(v))
    console.print(balances)
    positions = Table(title="positions")
    for col in ("account", "symbol", "side", "size", "entry", "mode", "leverage"):
        positions.add_column(col)
    for key, p in sorted(led.positions.items(), key=lambda kv: (kv[0].account, kv[0].symbol)):
        positions.add_row(key.account, key.symbol, key.position_side.value, str(p.size), str(p.entry_price),
                          p.margin_mode.value, str(p.leverage))
    console.print(positions)


@ledger_app.command()
def verify(
    log: str = _LOG,
    reference: bool = _REFERENCE,
    config: Path | None = _CONFIG,
) -> None:
    """Check the hash chain and the conservation of money at every event; exit 1 at the first bad one."""
    from margincall.store.engine import EngineFactory
    from margincall.store.journal import verify as verify_log

    engine_config = None
    if reference:
        from margincall.config import Settings

        try:
            engine_config = Settings.load(config).engine.to_config()
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
    events = _open(log)
    report = verify_log(events, EngineFactory())
    if not report.ok:
        print(f"bad at seq {report.first_bad_seq}: {report.code}: {report.message}", file=sys.stderr)
        raise typer.Exit(1)
    print(f"ok: {report.events} events, chain intact, money conserved at every event; digest {report.digest}")
    if engine_config is None:
        return
    from margincall.store.audit import audit

    found = audit(events, engine_config)
    if found.ok:
        print(f"ok: the reference engine makes every decision of the log ({found.inputs} inputs, {found.events} "
              "events)")
        return
    print(f"differs from the reference at seq {found.seq}: {found.code}: {found.message}", file=sys.stderr)
    for name, shape in (("reference", found.expected), ("log", found.found)):
        if shape is not None:
            print(f"  {name}: {json.dumps(shape, sort_keys=True)}", file=sys.stderr)
    raise typer.Exit(1)


@ledger_app.command()
def export(log: str = _LOG, after: int = typer.Option(0, "--after", help="only events after this seq")) -> None:
    """Print the log as JSON lines (seq, key, ts, type, payload, result, prev_hash, hash)."""
    for ev in _open(log).read(after):
        print(json.dumps({"seq": ev.seq, "key": ev.key, "ts": ev.ts, "type": ev.type, "payload": ev.payload,
                          "result": ev.result, "prev_hash": ev.prev_hash, "hash": ev.hash}, sort_keys=True))
