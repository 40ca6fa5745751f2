"""Driving the HTTP API in tests: keys as headers, responses checked as 200."""

from __future__ import annotations

from typing import Any

import httpx


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()
