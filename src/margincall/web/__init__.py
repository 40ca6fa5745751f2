"""The live dashboard: static HTML/CSS/JS (and the vendored uPlot chart library) served by the API app at ``/``
and ``/static`` (:func:`margincall.api.create_app` mounts :data:`STATIC_DIR`). Nothing is loaded from a CDN."""

from __future__ import annotations

from pathlib import Path

#: The dashboard's files: ``index.html``, ``app.js``, ``style.css``, ``vendor/uplot`` (MIT, see its LICENSE).
STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR"]
