"""``GET /docs``: the API reference as one self-contained HTML page, rendered from the app's own OpenAPI schema
(Swagger UI and ReDoc load their code from a CDN, which a closed network or a careful venue does not allow)."""

from __future__ import annotations

import html
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.9rem 0;padding:.6rem .8rem;border:1px solid #e3e3e3;border-radius:6px}
.m{display:inline-block;min-width:4.2rem;font:600 .8rem monospace;text-transform:uppercase}
code{font-family:ui-monospace,monospace}.p{font:600 .95rem ui-monospace,monospace}
.d{white-space:pre-wrap;margin:.4rem 0 0;color:#3a4047}.s{color:#555;font-size:.85rem}
"""


def _param(p: dict[str, Any]) -> str:
    where, name = p.get("in", ""), p.get("name", "")
    desc = p.get("description") or p.get("schema", {}).get("description") or ""
    req = " (required)" if p.get("required") else ""
    return f"<li><code>{html.escape(name)}</code> <span class=s>{html.escape(where)}{req}</span> {html.escape(desc)}"


def render(schema: dict[str, Any]) -> str:
    """The page: every operation by tag, with its method, path, description, parameters and answers."""
    info = schema.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in sorted(schema.get("paths", {}).items()):
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = "".join(_param(p) for p in op.get("parameters", []))
            answers = ", ".join(f"{html.escape(code)} {html.escape(r.get('description', ''))}"
                                for code, r in op.get("responses", {}).items())
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "").rsplit("/", 1)[-1]
            block = (f"<div class=op><span class=m>{method}</span> <span class=p>{html.escape(path)}</span>"
                     f"<div class=d>{html.escape(op.get('description') or op.get('summary') or '')}</div>"
                     + (f"<div class=s>body: <code>{html.escape(ref)}</code> (see /openapi.json)</div>" if ref else "")
                     + (f"<ul>{params}</ul>" if params else "")
                     + f"<div class=s>answers: {answers}</div></div>")
            for tag in op.get("tags") or ["other"]:
                by_tag.setdefault(tag, []).append(block)
    sections = "".join(f"<h2>{html.escape(tag)}</h2>{''.join(ops)}" for tag, ops in by_tag.items())
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(info.get('title', 'API'))} API"
            f"</title><style>{_STYLE}</style><h1>{html.escape(info.get('title', 'API'))} "
            f"{html.escape(info.get('version', ''))}</h1><p>{html.escape(info.get('description', ''))}</p>"
            "<p>The machine-readable schema is at <a href=/openapi.json>/openapi.json</a>. Authenticate with "
            "<code>Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key</code>.</p>"
            f"{sections}</html>")
