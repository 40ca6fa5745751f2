"""The dashboard's static files: served by the app at ``/`` and ``/static``, complete, and loading nothing from
another host (no CDN at run time)."""

from __future__ import annotations

import re

import pytest

from margincall.web import STATIC_DIR

FILES = ["index.html", "app.js", "style.css", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css",
         "vendor/uplot/LICENSE"]


def test_files_and_license_are_there():
    for name in FILES:
        assert (STATIC_DIR / name).is_file(), name
    assert "MIT License" in (STATIC_DIR / "vendor/uplot/LICENSE").read_text()


def test_nothing_is_loaded_from_another_host():
    index = (STATIC_DIR / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert refs, "index.html references its scripts and styles"
    for ref in refs:
        assert ref.startswith(("/static/", "#", "data:")), ref
    for name in ("app.js", "style.css"):
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"https?://", text), name  # only same-origin paths (and ws:// built from location)
        assert "@import" not in text


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from margincall.api import create_app
    from margincall.config import Settings

    app = create_app(Settings(database=str(tmp_path / "web.db")))
    with TestClient(app) as c:
        yield c


def test_the_app_serves_the_dashboard(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert r.text == (STATIC_DIR / "index.html").read_text()
    for name in FILES:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert r.content == (STATIC_DIR / name).read_bytes(), name
    assert client.get("/static/nope.js").status_code == 404


def test_the_page_uses_the_api_endpoints_it_needs():
    js = (STATIC_DIR / "app.js").read_text()
    for path in ("/v1/markets", "/v1/insurance-fund", "/v1/risk/accounts", "/v1/events", "/v1/stream",
                 "/v1/accounts/", "/positions", "sessionStorage"):
        assert path in js, path
