"""``margincall demo``: starts on a free port with an embedded SQLite engine, prints the dashboard URL and the
admin key, drives the crash, stops by itself after ``--duration`` with exit status 0 and a one-line summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from margincall.cli.demo import CI_DURATION, step_seconds


def test_step_seconds():
    assert step_seconds(None, 50) == 1.0  # until Ctrl-C: one step a second, the crash within a minute
    assert step_seconds(CI_DURATION, 50) == pytest.approx(0.3)  # 20 s × 3/4 / 50 steps
    assert step_seconds(1000, 50) == 1.0  # never slower than a step a second


def test_demo_runs_the_crash_and_exits_by_itself(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run(
        [sys.executable, "-m", "margincall.cli.main", "demo", "--port", "0", "--duration", "8", "--accounts",
         "300", "--seed", "7"],
        capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    url = re.search(r"dashboard: http://127\.0\.0\.1:(\d+)/#key=(\S+)", out)
    key = re.search(r"admin API key: (\S+)", out)
    assert url and key and url.group(2) == key.group(1)
    for label in ("first margin call", "first liquidation", "first partial liquidation",
                  "first insurance-fund payout", "first auto-deleveraging (ADL)"):
        assert label in out, label
    summary = [line for line in out.splitlines() if line.startswith("demo summary:")]
    assert len(summary) == 1
    m = re.search(r"(\d+) events stored · (\d+) margin calls · (\d+) liquidations \((\d+) partial steps\) · "
                  r"(\d+) ADL · insurance fund paid ([\d.]+) USDT", summary[0])
    assert m, summary[0]
    events, calls, liqs, partial, adl, paid = m.groups()
    assert min(int(events), int(calls), int(liqs), int(partial), int(adl)) > 0 and float(paid) > 0
    assert "0 marks refused" in summary[0]
    assert list(tmp_path.iterdir()) == []  # the database lived in a temporary directory, now removed


def test_bad_options_exit_2():
    proc = subprocess.run([sys.executable, "-m", "margincall.cli.main", "demo", "--accounts", "3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "accounts" in proc.stderr
