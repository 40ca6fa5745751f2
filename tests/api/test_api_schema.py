"""schemathesis against the app's OpenAPI schema: generated requests (valid and invalid by the schema) to every
operation, with an admin key so they reach the engine; no response may be a 5xx. Bounded: a few examples per
operation, so the file runs in well under a minute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from margincall.api import create_app
from support.api import auth, seed
from support.api import settings as api_settings

ADMIN = "schemathesis-admin-key"
EXAMPLES = 25
#: (method, path, status) of every generated call, to check the run really reached the engine.
CALLS: list[tuple[str, str, int]] = []
#: (path, accepted, refused) of every batch answer: the items reached the engine and were judged there.
BATCHES: list[tuple[str, int, int]] = []


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db: Path = tmp_path_factory.mktemp("schema") / "engine.db"
    app = create_app(api_settings(str(db), admin_key=ADMIN))
    seed(TestClient(app), ADMIN)  # markets, accounts and positions for the generated requests to hit
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.service.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case: Any) -> None:
    r = case.call_and_validate(headers=auth(ADMIN), checks=[not_a_server_error])
    CALLS.append((case.operation.method.upper(), case.operation.path, r.status_code))
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "accepted" in body:
        # the honest batch answer: the counts add up to the items, and the status says whether any was taken
        assert body["accepted"] + body["refused"] == len(body["results"])
        assert r.status_code == (200 if body["refused"] == 0 else 207 if body["accepted"] else 422)
        BATCHES.append((case.operation.path, body["accepted"], body["refused"]))


def test_every_operation_is_in_the_schema(api_schema: Any) -> None:
    ops = {(op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert len(ops) == 31 and ("POST", "/v1/marks") in ops and ("POST", "/v1/ticks") in ops
    assert ("GET", "/v1/events") in ops and ("GET", "/v1/liquidation-map") in ops


def test_the_generated_calls_reached_every_operation() -> None:
    """Runs after the generated tests (file order): every operation was called, some calls were accepted."""
    if not CALLS:
        pytest.fail("run the whole file: the generated tests did not run first")
    assert len({(m, p) for m, p, _ in CALLS}) == 31
    assert all(status < 500 for _m, _p, status in CALLS)
    ingest = [status for m, p, status in CALLS if p in ("/v1/marks", "/v1/ticks", "/v1/fills")]
    assert 422 in ingest
    # generated batches reached the engine: their items were judged there (random symbols and accounts are refused)
    assert {p for p, _a, refused in BATCHES if refused} >= {"/v1/marks", "/v1/fills"}
