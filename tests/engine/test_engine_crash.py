"""Crash test for the risk engine: the durable engine is SIGKILLed at random moments during a synthetic crash
(margin calls, partial liquidations, insurance-fund payouts, ADL) and restarted, many times.

After each kill: every acknowledged event (the marks and every event they caused) is in the log; the log
verifies (hash chain, replay without rejection, conservation after every event, stored results); and the
engine recovered from snapshot + tail has the digest of a fresh fold of the whole log. The run ends with the
whole scripted path logged once, and the same end state as a run that was never killed.
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

from margincall.store import open_log
from margincall.store.engine import EngineFactory, open_engine
from margincall.store.journal import replay, verify
from support.paths import SRC, SUPPORT
from support.store import pg_schema, require_pg

CHILD = SUPPORT / "engine_crash_child.py"
KILLS = 12


def _acks(path: Path) -> list[int]:
    return [int(line.split()[1]) for line in path.read_text().splitlines(keepends=True)
            if line.endswith("\n") and line.startswith("ACK ")]


def _run_child(target: str, out: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with out.open("w") as fh:
        return subprocess.Popen([sys.executable, str(CHILD), target], stdout=fh, stderr=subprocess.PIPE, env=env)


@pytest.fixture(params=["sqlite", "postgres"])
def targets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Where the killed run and the uninterrupted run write their logs."""
    if request.param == "sqlite":
        yield str(tmp_path / "engine.db"), str(tmp_path / "clean.db")
    else:
        require_pg()
        with pg_schema() as killed, pg_schema() as clean:
            yield killed, clean


def test_sigkill_during_a_liquidation_cascade_loses_nothing(tmp_path: Path, targets: tuple[str, str]) -> None:
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)}
    target, clean = targets
    acknowledged: set[int] = set()
    for k in range(KILLS):
        out = tmp_path / f"acks-{k}.txt"
        proc = _run_child(target, out, env)
        deadline = time.monotonic() + 30
        while out.stat().st_size == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), err.decode()[-2000:]
        acknowledged.update(_acks(out))
        log = open_log(target)
        try:
            present = {e.seq for e in log.read(results=False)}
            missing = acknowledged - present
            assert not missing, f"kill {k}: acknowledged but not in the log: {sorted(missing)[:10]}"
            report = verify(log, EngineFactory())
            assert report.ok, f"kill {k}: {report}"
        finally:
            log.close()
        j = open_engine(target)
        try:
            assert j.ledger.digest() == replay(j.log, EngineFactory()).digest(), f"kill {k}: recovery differs"
        finally:
            j.log.close()
    # finish the path without kills; the end state equals an uninterrupted run's
    out = tmp_path / "acks-final.txt"
    proc = _run_child(target, out, env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "DONE" in out.read_text()
    proc = _run_child(clean, tmp_path / "acks-clean.txt", env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    killed, uninterrupted = open_engine(target), open_engine(clean)
    try:
        assert killed.ledger.digest() == uninterrupted.ledger.digest()
        assert killed.ledger.metrics is not None and killed.ledger.ledger.conservation_error() is None
        kinds = {e.type for e in killed.log.read(results=False)}
        assert {"margin_call", "liquidation_started", "liquidation", "adl"} <= kinds
    finally:
        killed.log.close()
        uninterrupted.log.close()
    assert len(acknowledged) > 200
