"""Command-line faces of margincall (Typer + Rich)."""
