"""Fixtures shared by every test folder: the calculator through both faces, the seed API scenario, a fresh log on
each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.api import make_app, seed
from support.cli import D, calc_both, run_cli  # noqa: F401


@pytest.fixture
def both():
    return calc_both


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh log location: a SQLite file, or a URL into a fresh PostgreSQL schema (dropped afterwards; a
    missing server fails under CI=true)."""
    from support.store import pg_schema, require_pg

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
