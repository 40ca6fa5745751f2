"""The liquidation map as one self-contained HTML file: the map's JSON (:func:`margincall.calculator.
liquidation_map.map_to_json`) with the dashboard's own chart code (``static/liqmap.js``, ``static/liqmap.css``)
inlined, so the file draws the same chart as the dashboard with nothing loaded from the network."""

from __future__ import annotations

import html
import json
from typing import Any

from margincall.web import STATIC_DIR


def _script_json(data: Any) -> str:
    # Inside <script>, "</" would end the element: every "<" is written as its JSON escape.
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def render_html(map_json: dict[str, Any], title: str = "margincall — liquidation map") -> str:
    """A complete HTML page drawing ``map_json``."""
    js = (STATIC_DIR / "liqmap.js").read_text(encoding="utf-8")
    css = (STATIC_DIR / "liqmap.css").read_text(encoding="utf-8")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ margin: 16px; background: #0f1419; color: #d8dee6; font-family: system-ui, sans-serif; font-size: 14px; }}
{css}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="lm-note">moves of ±{html.escape(str(map_json.get("range")))} in {map_json.get("steps")} steps a side;
{map_json.get("rows")} positions read</p>
<div id="liqmap"></div>
<script id="liqmap-data" type="application/json">{_script_json(map_json)}</script>
<script>
{js}</script>
<script>
window.LiqMap.draw(document.getElementById("liqmap"),
                   JSON.parse(document.getElementById("liqmap-data").textContent));
</script>
</body>
</html>
"""
