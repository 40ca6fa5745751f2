"""``margincall serve``: the engine behind the HTTP/WebSocket API on uvicorn (issue #5, item 1).

Configuration: ``--config`` TOML file (or ``$MARGINCALL_CONFIG``), ``MARGINCALL_*`` environment variables,
then these options (see :mod:`margincall.config`). SIGINT/SIGTERM shut down gracefully: uvicorn stops
accepting, the writer writes what is queued, a snapshot is taken and the log is closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    database: Annotated[str | None, typer.Option("--database", help="SQLite path or postgresql:// URL "
                                                 "[default: margincall.db, or MARGINCALL_DATABASE(_URL)]")] = None,
    host: Annotated[str | None, typer.Option("--host", help="[default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option("--port", help="[default: 8000]")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML configuration file", dir_okay=False)] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the risk engine service (REST + WebSocket API, dashboard at /)."""
    import uvicorn

    from margincall.api import create_app
    from margincall.config import Settings

    try:
        settings = Settings.load(config, database=database, host=host, port=port)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    app = create_app(settings)
    shown = settings.host if ":" not in settings.host else f"[{settings.host}]"
    typer.echo(f"margincall: database {settings.database} at seq {app.state.service.last_seq}")
    if app.state.service.admin_key_generated:
        typer.echo(f"margincall: admin API key (shown once, stored hashed): {app.state.admin_key}")
    typer.echo(f"margincall: serving on http://{shown}:{settings.port}/ (API under /v1, docs at /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
