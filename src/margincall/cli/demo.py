"""``margincall demo``: the whole system on an embedded default, with a synthetic market crashing in real time.

1. A SQLite file in a fresh temporary directory gets the synthetic market of :mod:`margincall.sim` (symbols,
   a few thousand accounts with positions, a small insurance fund) through the durable engine.
2. The service (:func:`margincall.api.create_app`) starts on it under uvicorn; the dashboard URL (with the
   admin key) and the admin key are printed.
3. A feed thread posts the scripted marks — drift, crash, rebound — through the service's single writer, so
   every margin call, liquidation step, insurance-fund payment and ADL reaches the log, the WebSocket stream
   and the dashboard as it happens; the first of each kind is printed with its time since the start.
4. After the script the marks keep moving (a calm random walk) until Ctrl-C or ``--duration``; then one summary
   line is printed and the temporary directory is removed. Under ``CI=true`` without ``--duration`` the demo
   runs 20 s, so CI can use README's first command as a smoke test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from margincall.model.errors import MarginCallError
from margincall.sim import SimConfig, SyntheticMarket, Tally, install, mark_commands
from margincall.store.journal import Command

CI_DURATION = 20.0
DEFAULT_PORT = 8000
DEFAULT_STEP_SECONDS = 1.0


def _say(text: str) -> None:
    with contextlib.suppress(OSError):  # stdout closed (a pipe whose reader left): keep running quietly
        print(text, flush=True)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def step_seconds(duration: float | None, steps: int) -> float:
    """One scripted step a second, or faster so the whole script fits in 3/4 of a short ``duration``."""
    if duration is None:
        return DEFAULT_STEP_SECONDS
    return max(0.05, min(DEFAULT_STEP_SECONDS, duration * 0.75 / steps))


_FIRSTS = (("margin_call", "first margin call"), ("liquidation", "first liquidation"),
           ("partial_liquidation", "first partial liquidation"), ("insurance_paid", "first insurance-fund payout"),
           ("adl", "first auto-deleveraging (ADL)"))


class Feed:
    """Posts the market's marks through the service on a thread; tallies what the engine did."""

    def __init__(self, service: Any, market: SyntheticMarket, step: float, t0: float) -> None:
        self.service = service
        self.market = market
        self.step = step
        self.t0 = t0
        self.tally = Tally()
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="margincall-demo-feed", daemon=True)
        self._announced: set[str] = set()

    def _post(self, commands: list[Command]) -> None:
        outcomes = self.service.submit_from_thread(commands, timeout=60)
        for c, o in zip(commands, outcomes, strict=True):
            if isinstance(o, MarginCallError):
                self.refused += 1
                _say(f"  ! mark {c.payload['symbol']} {c.payload['price']} refused: {o.code}: {o}")
                continue
            self.tally.add(c.type, c.payload, o.result, c.ts or 0)
            for ev in o.caused:
                self.tally.add(ev.type, ev.payload, ev.result, ev.ts)
        self._announce()

    def _announce(self) -> None:
        first = self.tally.first_ts
        for what, label in _FIRSTS:
            if what in first and what not in self._announced:
                self._announced.add(what)
                _say(f"  t+{time.monotonic() - self.t0:5.1f}s  {label}")

    def _run(self) -> None:
        try:
            m = self.market
            start = time.monotonic()
            for i in range(m.steps):
                if self.stop.wait(max(0.0, start + i * self.step - time.monotonic())):
                    return
                if i == m.config.shape.drift_steps:
                    _say(f"  t+{time.monotonic() - self.t0:5.1f}s  the crash begins")
                self._post(mark_commands(m, i))
            _say(f"  t+{time.monotonic() - self.t0:5.1f}s  scripted path done (drift, crash, rebound); "
                 "marks keep moving until Ctrl-C")
            for n, marks in enumerate(m.calm(), start=1):
                if self.stop.wait(max(0.0, start + (m.steps + n) * self.step - time.monotonic())):
                    return
                self._post([Command("mark", {"symbol": s, "price": str(p)}) for s, p in marks])
        except Exception as exc:  # the server went away (Ctrl-C): stop quietly
            if not self.stop.is_set():
                _say(f"  ! feed stopped: {exc}")


def demo(
    port: int = typer.Option(None, "--port", min=0, max=65535,
                             help="HTTP port (default 8000, or any free port when 8000 is taken; 0 = any free port)"),
    duration: float = typer.Option(None, "--duration", min=1, help="Stop after this many seconds "
                                   "(default: run until Ctrl-C; 20 s when CI=true)"),
    accounts: int = typer.Option(3000, "--accounts", min=10, max=20_000, help="Synthetic accounts"),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic market (same seed, same market)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on"),
) -> None:
    """Start the engine with a synthetic market that crashes: margin calls, partial liquidations, the insurance
    fund and ADL, live on the dashboard."""
    import uvicorn

    from margincall.api import create_app
    from margincall.config import Settings
    from margincall.store.engine import open_engine

    if duration is None and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        duration = CI_DURATION
    # the engine's numba kernels: compiled on the first run after an install (then loaded from numba's cache); done
    # before the clock starts, so a first run shows the same scripted market within --duration as any other
    from margincall.risk.screening.band_index import warm_up

    w0 = time.monotonic()
    warm_up()
    if time.monotonic() - w0 > 2:
        _say(f"compiled the engine's kernels in {time.monotonic() - w0:.1f} s (first run after an install; cached "
             "from now on)")
    t0 = time.monotonic()
    market = SyntheticMarket(SimConfig(accounts=accounts, seed=seed))
    if port is None:
        port = DEFAULT_PORT if port_is_free(host, DEFAULT_PORT) else 0
    if port == 0:
        port = free_port(host)
    workdir = Path(tempfile.mkdtemp(prefix="margincall-demo-"))
    db = workdir / "demo.db"
    admin_key = None
    try:
        settings = Settings(database=str(db), host=host, port=port, rate_limit_per_second=0)
        journal = open_engine(str(db), settings.engine.to_config(), snapshot_every=settings.snapshot_every)
        try:
            n = install(journal, market)
            journal.snapshot_now()
        finally:
            journal.log.close()
        app = create_app(settings)
        admin_key = app.state.admin_key
        service = app.state.service
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
        step = step_seconds(duration, market.steps)
        feed = Feed(service, market, step, t0)

        def drive() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.should_exit:
                return
            url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            _say(f"margincall demo: {len(market.traders)} accounts in {len(market.config.symbols)} markets "
                 f"({', '.join(s.symbol for s in market.config.symbols)}), {n} setup events in {db}")
            # the key rides in the fragment, which browsers never send: it stays out of every access log
            _say(f"dashboard: http://{url_host}:{port}/#key={admin_key}")
            _say(f"admin API key: {admin_key}")
            _say(f"one price step every {step:.2f} s: drift {market.config.shape.drift_steps} steps, crash "
                 f"{market.config.shape.crash_steps}, rebound {market.config.shape.rebound_steps}"
                 + (f"; stopping after {duration:g} s" if duration else "; Ctrl-C to stop"))
            feed.thread.start()
            if duration is not None:
                end = t0 + duration
                while time.monotonic() < end and not server.should_exit:
                    time.sleep(0.1)
                server.should_exit = True

        driver = threading.Thread(target=drive, name="margincall-demo-driver", daemon=True)
        driver.start()
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.should_exit = True
            feed.stop.set()
            if feed.thread.is_alive():
                feed.thread.join(timeout=10)
            driver.join(timeout=5)
            with contextlib.suppress(Exception):
                service.close()
        if not server.started:
            _say(f"error: could not serve on {host}:{port} (is the port in use? try --port 0)")
            raise typer.Exit(1)
        t = feed.tally
        _say(f"demo summary: {_total_events(db)} events stored · {t.margin_calls} margin calls · "
             f"{t.liquidations} liquidations ({t.partial_liquidations} partial steps) · {t.adl} ADL · "
             f"insurance fund paid {t.insurance_paid.quantize(Decimal('0.01'))} USDT in {t.insurance_payments} "
             f"settlements · {feed.refused} marks refused · {time.monotonic() - t0:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _total_events(db: Path) -> int:
    from margincall.store import open_log

    log = open_log(str(db))
    try:
        return log.last_seq()
    finally:
        log.close()


