"""Events forwarded to the real NATS JetStream on 127.0.0.1:4222 (fails, not skips, under CI=true without it)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.api import auth, make_app, mark, seed

NATS_URL = "nats://127.0.0.1:4222"


def require_nats() -> None:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"NATS at {NATS_URL} is required under CI=true: {exc}")
        pytest.skip(f"NATS not reachable: {exc}")


async def read_stream(stream: str, prefix: str) -> list[dict]:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{prefix}.>", durable=None, stream=stream)
        out = []
        while True:
            try:
                msgs = await sub.fetch(100, timeout=1)
            except Exception:  # timeout: nothing more
                break
            for m in msgs:
                out.append({"subject": m.subject, **json.loads(m.data)})
                await m.ack()
        await sub.unsubscribe()
        await js.delete_stream(stream)
        return out
    finally:
        await nc.close()


def test_a_liquidation_reaches_jetstream(tmp_path: Path) -> None:
    require_nats()
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"MCTEST_{tag}", f"mctest_{tag}"
    app = make_app(tmp_path, nats_url=NATS_URL, nats_stream=stream, nats_prefix=prefix)
    with TestClient(app) as c:
        keys = seed(c, app.state.admin_key)
        mark(c, keys["feeder"], "9180")  # the seed example: equity 180 ≤ MM 183.60 → liquidated
        c.get("/healthz", headers=auth(keys["admin"]))
    msgs = asyncio.run(read_stream(stream, prefix))
    by_type = [(m["subject"], m["type"]) for m in msgs]
    assert (f"{prefix}.marks", "mark") in by_type
    assert (f"{prefix}.liquidations", "liquidation_started") in by_type
    assert (f"{prefix}.liquidations", "bankruptcy_settlement") in by_type
    started = next(m for m in msgs if m["type"] == "liquidation_started")
    assert started["payload"]["account"] == "t" and started["payload"]["equity"] == "180"
    seqs = [m["seq"] for m in msgs if m["topic"] != "insurance_fund"]
    assert seqs == sorted(seqs)  # in log order
