from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margincall.calculator import calculate
from support.api import make_app, seed


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def calc_both(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenario's result through the Python API and through `margincall calc --json -` (must agree)."""
    api = calculate(scenario)
    proc = run_cli("calc", "--json", "-", stdin=json.dumps(scenario))
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout)
    assert cli == api
    return [api]


@pytest.fixture
def both():
    return calc_both


def D(x: object) -> Decimal:
    return Decimal(str(x))


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh log location: a SQLite file, or a URL into a fresh PostgreSQL schema (dropped afterwards; a
    missing server fails under CI=true)."""
    from store_support import pg_schema, require_pg

    if request.param == "sqlite":
        yield str(tmp_path / "events.db")
    else:
        require_pg()
        with pg_schema() as url:
            yield url


@pytest.fixture
def log(target: str) -> Iterator[Any]:
    from margincall.store import open_log

    lg = open_log(target)
    yield lg
    lg.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The seed scenario of tests/support/api.py served in-process; yields the client and the keys by role."""
    app = make_app(tmp_path)
    with TestClient(app) as c:
        keys = seed(c, app.state.admin_key)
        yield c, keys
