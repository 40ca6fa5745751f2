"""Crash test: a writer process is SIGKILLed at random moments; nothing acknowledged is ever lost.

The child (``tests/support/store.py``) appends deposit and fill events through the Journal in batches of 1-8
and prints ``ACK <seq>`` after each durable batch. The parent kills it with SIGKILL at a random moment —
sometimes during start-up and recovery, mostly mid-stream — at least 20 times per backend, and after each
kill checks: every acknowledged seq is in the log, the log verifies (hash chain, replay without rejection,
conservation after every event, stored results, snapshot), and the state recovered by a new Journal
(snapshot + tail) has the digest of a fresh fold of the whole log.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from margincall.ledger import Ledger
from margincall.store import open_log
from margincall.store.journal import Journal, verify
from support.paths import SRC, SUPPORT
from support.store import pg_schema, require_pg

SUPPORT = SUPPORT / "store.py"
KILLS = 20


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "crash.db")
    else:
        require_pg()
        with pg_schema() as url:
            yield url


def _acks(path: Path) -> list[int]:
    # A line cut by the kill (no newline yet) was never fully acknowledged: ignore it.
    text = path.read_text()
    return [int(line.split()[1]) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def test_sigkill_never_loses_an_acknowledged_event(target: str, tmp_path: Path):
    rng = random.Random(20261125)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)}
    acknowledged: set[int] = set()
    mid_stream = 0
    started = time.monotonic()
    for k in range(KILLS):
        out = tmp_path / f"acks-{k}.txt"
        with out.open("w") as fh:
            proc = subprocess.Popen(
                [sys.executable, str(SUPPORT), target, f"run{k}"], stdout=fh, stderr=subprocess.PIPE, env=env
            )
        if k % 4 == 3:
            time.sleep(rng.uniform(0.0, 0.6))  # anywhere, start-up and recovery included
        else:
            deadline = time.monotonic() + 20
            while out.stat().st_size == 0 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.12))  # mid-stream
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"writer died on its own: {err.decode()[-2000:]}"
        acks = _acks(out)
        mid_stream += bool(acks)
        acknowledged.update(acks)

        log = open_log(target)
        try:
            present = {e.seq for e in log.read(results=False)}
            missing = acknowledged - present
            assert not missing, f"kill {k}: acknowledged but not in the log: {sorted(missing)[:10]}"
            report = verify(log, Ledger)
            assert report.ok, f"kill {k}: {report}"
            assert Journal(log, Ledger).ledger.digest() == report.digest, f"kill {k}: recovered state differs"
        finally:
            log.close()
    assert mid_stream >= KILLS // 2  # most kills hit a writer that was acknowledging events
    assert len(acknowledged) > 100
    print(f"{KILLS} kills, {len(acknowledged)} acknowledged events, {time.monotonic() - started:.1f} s")
