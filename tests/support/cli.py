"""The command line in tests: ``margincall`` run as a subprocess, and a scenario through both of the calculator's
faces (the Python API and ``margincall calc --json -``), which must agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

from margincall.calculator import calculate


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``margincall ARGS``; ``env`` is added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def calc_both(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenario's result through the Python API and through `margincall calc --json -` (must agree)."""
    api = calculate(scenario)
    proc = run_cli("calc", "--json", "-", stdin=json.dumps(scenario))
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout)
    assert cli == api
    return [api]


def D(x: object) -> Decimal:
    return Decimal(str(x))
