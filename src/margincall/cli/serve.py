"""``margincall serve``: the engine behind the HTTP/WebSocket API (filled in by the service work)."""

from __future__ import annotations

import typer


def serve(
    database: str = typer.Option(None, "--database", help="SQLite path or postgresql:// URL"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Run the risk engine service."""
    raise typer.Exit(2)
