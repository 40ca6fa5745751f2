"""``margincall`` console entry point."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from margincall.cli.backtest import backtest
from margincall.cli.calc import calc
from margincall.cli.demo import demo
from margincall.cli.explain import explain
from margincall.cli.ledger import ledger_app
from margincall.cli.liquidation_map import liquidation_map
from margincall.cli.serve import serve
from margincall.cli.stress import stress
from margincall.cli.venues import venues
from margincall.model.errors import MarginCallError

app = typer.Typer(
    name="margincall",
    help="Exact margin and liquidation math for crypto futures, and the engine around it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(calc)
app.command()(demo)
app.command()(serve)
app.command()(explain)
app.command()(venues)
app.command()(backtest)
app.command()(stress)
app.command("liquidation-map")(liquidation_map)
app.add_typer(ledger_app, name="ledger")


def main() -> None:
    """Run the CLI; bad input prints one clear line and exits with status 2, never a traceback."""
    try:
        rc = app(standalone_mode=False)  # click returns a typer.Exit's code instead of raising it
    except MarginCallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except TyperException as exc:  # usage errors: unknown option, bad value
        exc.show()  # type: ignore[attr-defined]
        sys.exit(2)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
