"""The HTTP endpoints (the table in notes/api_contract.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from margincall.api import views
from margincall.api.auth import charge, own_account, principal, reads, require, service_of
from margincall.api.clock import now_ms
from margincall.api.errors import ApiError, engine_error, status_of
from margincall.api.keys import Principal, Role
from margincall.api.models import (
    AccountIn,
    AmountIn,
    FillsIn,
    LeverageIn,
    MarketIn,
    MarksIn,
    SourceTicksIn,
    TickIn,
    payload_of,
)
from margincall.api.service import Service
from margincall.model.errors import MarginCallError
from margincall.store.journal import Ack, Command, Outcome

router = APIRouter()
v1 = APIRouter(prefix="/v1")

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Ingest = Annotated[Principal, Depends(require(Role.ADMIN, Role.FEEDER))]
Anyone = Annotated[Principal, Depends(principal)]
AdminOrTrader = Annotated[Principal, Depends(require(Role.ADMIN, Role.TRADER))]
# Reads, charged on the key's read bucket (config.ReadLimits): a status read, an events page, a calculator call.
AnyoneReads = Annotated[Principal, Depends(reads("status_cost"))]
OwnReads = Annotated[Principal, Depends(reads("status_cost", Role.ADMIN, Role.TRADER))]
AdminReads = Annotated[Principal, Depends(reads("status_cost", Role.ADMIN))]
EventReader = Annotated[Principal, Depends(reads("events_cost", Role.ADMIN, Role.TRADER, Role.VIEWER))]
CalculatorReader = Annotated[Principal, Depends(reads("calculator_cost"))]
MapReader = Annotated[Principal, Depends(reads("map_cost"))]
AccountPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]*$")]


def ack_json(c: Command, o: Outcome) -> dict[str, Any]:
    if isinstance(o, MarginCallError):
        return engine_error(o)
    assert isinstance(o, Ack)
    return {"seq": o.seq, "type": c.type, "duplicate": o.duplicate, "result": o.result,
            "caused": [{"seq": e.seq, "ts": e.ts, "type": e.type, "payload": e.payload, "result": e.result}
                       for e in o.caused]}


def refused(service: Service, exc: MarginCallError) -> dict[str, Any]:
    """The error item of a refused input, counted in ``margincall_refused_total{code}``."""
    service.metrics.refused.labels(exc.code).inc()
    return engine_error(exc)


def batch_response(service: Service, results: list[dict[str, Any]]) -> Response:
    """The honest batch answer: ``{"accepted", "refused", "results"}``, with 200 when every item was taken
    (an idempotent repeat counts as taken), 207 when some were refused, 422 (``batch_refused``) when none was.
    Serialised directly: the content is plain JSON already, and FastAPI's generic encoder would walk every
    posting of a large batch again."""
    bad = sum(1 for r in results if "error" in r)
    body: dict[str, Any] = {"accepted": len(results) - bad, "refused": bad, "results": results}
    if bad == 0:
        return JSONResponse(body)
    if bad < len(results):
        return JSONResponse(body, 207)
    first = next(r["error"] for r in results)
    body["error"] = {"code": "batch_refused", "message": f"all {bad} items were refused; the first: "
                     f"{first['message']}", "field": None}
    return JSONResponse(body, 422)


def outcome_items(service: Service, commands: list[Command], outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [refused(service, o) if isinstance(o, MarginCallError) else ack_json(c, o)
            for c, o in zip(commands, outcomes, strict=True)]


async def one(service: Service, command: Command) -> dict[str, Any]:
    """Submit one command; a rejection is the response's error (400, or 409 for a key conflict)."""
    (outcome,) = await service.submit([command])
    if isinstance(outcome, MarginCallError):
        refused(service, outcome)
        raise ApiError(status_of(outcome), outcome.code, str(outcome), outcome.field)
    return ack_json(command, outcome)


def scoped(who: Principal, key: str | None) -> str | None:
    """An idempotency key in the caller's scope: ``<principal>/<key>``. Two principals may use the same key
    without meeting each other's events; a rotated key keeps its principal, so a retry after a rotation is
    still recognised."""
    return None if key is None else f"{who.scope}/{key}"


def source_time(service: Service, payload: dict[str, Any], ts: int | None, field: str = "ts") -> dict[str, Any]:
    """``payload`` with the client's ``ts`` as ``source_ts``, checked against the skew window (raises
    ``clock_skew``); the event itself is stamped with ingestion time by the writer."""
    if ts is None:
        return payload
    service.prices.source_ts(ts, now_ms(), field)
    return {**payload, "source_ts": ts}


def check_batch(service: Service, n: int, name: str) -> None:
    limit = service.settings.max_batch_items
    if n > limit:
        raise ApiError(422, "validation_error", f"{name}: at most {limit} items per request, got {n}", name)


# -- health and metrics -----------------------------------------------------------------------------------------


@router.get("/healthz", tags=["service"])
async def healthz(request: Request) -> dict[str, Any]:
    return {"status": "ok", "seq": service_of(request).last_seq}


@router.get("/metrics", tags=["service"], response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(service_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


# -- admin ------------------------------------------------------------------------------------------------------


@v1.post("/markets", tags=["admin"])
async def list_market(request: Request, body: MarketIn, who: Admin) -> dict[str, Any]:
    """List a market (a ``market_listed`` event)."""
    return await one(service_of(request), Command("market_listed", payload_of(body), scoped(who, body.key)))


@v1.post("/accounts", tags=["admin"])
async def open_account(request: Request, body: AccountIn, who: Admin) -> dict[str, Any]:
    return await one(service_of(request), Command("account_opened", payload_of(body), scoped(who, body.key)))


@v1.post("/accounts/{account}/deposits", tags=["admin"])
async def deposit(request: Request, account: AccountPath, body: AmountIn,
                  who: Admin) -> dict[str, Any]:
    service = service_of(request)
    charge(service, who, 1)
    return await one(service, Command("deposit", {"account": account, **payload_of(body)}, scoped(who, body.key)))


@v1.post("/accounts/{account}/withdrawals", tags=["accounts"])
async def withdraw(request: Request, account: AccountPath, body: AmountIn,
                   who: AdminOrTrader) -> dict[str, Any]:
    own_account(who, account)
    service = service_of(request)
    charge(service, who, 1)
    return await one(service, Command("withdrawal", {"account": account, **payload_of(body)}, scoped(who, body.key)))


@v1.post("/accounts/{account}/leverage", tags=["accounts"])
async def set_leverage(request: Request, account: AccountPath, body: LeverageIn,
                       who: AdminOrTrader) -> dict[str, Any]:
    """Leverage and margin mode of one symbol (a ``leverage_set`` event)."""
    own_account(who, account)
    service = service_of(request)
    charge(service, who, 1)
    return await one(service, Command("leverage_set", {"account": account, **payload_of(body)}, scoped(who, body.key)))


@v1.post("/insurance-fund/deposits", tags=["admin"])
async def fund_deposit(request: Request, body: AmountIn, who: Admin) -> dict[str, Any]:
    return await one(service_of(request), Command("insurance_fund_deposit", payload_of(body), scoped(who, body.key)))


# -- ingestion ----------------------------------------------------------------------------------------------------


_BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "every item was taken (an idempotent repeat counts as taken): "
                         "`{accepted, refused: 0, results}`"},
    207: {"description": "some items were refused: `{accepted, refused, results}`; each refused item's result "
                         "is `{error: {code, message, field}}`, the others are acknowledgements"},
    422: {"description": "no item was taken: `{error: {code: batch_refused}, accepted: 0, refused, results}` "
                         "(or a request validation error)"},
}


@v1.post("/fills", tags=["ingestion"], responses=_BATCH_RESPONSES)
async def fills(request: Request, body: FillsIn, who: Ingest) -> Response:
    """A batch of fills, applied in order in one transaction; one result (ack or error) per fill, and the counts
    of accepted and refused fills at the top level. A fill's ``ts`` is the matching engine's time: checked
    against the clock-skew window and kept as ``source_ts``; the event is stamped with ingestion time, so a
    fill is never refused for arriving after a mark."""
    service = service_of(request)
    check_batch(service, len(body.fills), "fills")
    charge(service, who, len(body.fills))
    slots: list[dict[str, Any] | None] = []
    commands: list[Command] = []
    for i, f in enumerate(body.fills):
        try:
            payload = source_time(service, payload_of(f), f.ts, f"fills.{i}.ts")
        except MarginCallError as exc:
            slots.append(refused(service, exc))
            continue
        slots.append(None)
        commands.append(Command("fill", payload, scoped(who, f.key)))
    outcomes = await service.submit(commands) if commands else []
    done = iter(outcome_items(service, commands, outcomes))
    return batch_response(service, [slot if slot is not None else next(done) for slot in slots])


@v1.post("/marks", tags=["ingestion"], responses=_BATCH_RESPONSES)
async def marks(request: Request, body: MarksIn, who: Ingest) -> Response:
    """A batch of mark prices; each result carries the margin calls and liquidation steps it caused, and the counts
    of accepted and refused marks stand at the top level (see ``/v1/fills``)."""
    service = service_of(request)
    check_batch(service, len(body.marks), "marks")
    charge(service, who, len(body.marks))
    items = await submit_marks(service, [(m.symbol, Decimal(m.price), m.ts, scoped(who, m.key))
                                         for m in body.marks])
    return batch_response(service, items)


async def submit_marks(service: Service, marks: list[tuple[str, Decimal, int | None, str | None]]
                       ) -> list[dict[str, Any]]:
    """Marks through the price desk (skew window, stale, out of order, circuit breaker), then the accepted ones in
    order in one transaction; one result per mark, in input order."""
    slots: list[dict[str, Any] | None] = []
    commands: list[Command] = []
    ticks: list[Any] = []
    for i, (symbol, price, ts, key) in enumerate(marks):
        try:
            command, tick = service.prices.check_mark(symbol, price, ts, key)
        except MarginCallError as exc:
            if exc.field == "ts":
                exc.field = f"marks.{i}.ts"
            slots.append(refused(service, exc))
            continue
        slots.append(None)
        commands.append(command)
        ticks.append(tick)
    outcomes = await service.submit(commands) if commands else []
    done = iter(zip(commands, outcomes, ticks, strict=True))
    results = []
    for slot in slots:
        if slot is not None:
            results.append(slot)
            continue
        c, o, tick = next(done)
        r = refused(service, o) if isinstance(o, MarginCallError) else ack_json(c, o)
        if tick is not None and tick.clamped and "error" not in r:
            r["clamped"] = {"requested": format(tick.requested, "f"), "price": format(tick.price, "f")}
        results.append(r)
    return results


@v1.post("/ticks", tags=["ingestion"])
async def tick(request: Request, body: TickIn, who: Ingest) -> dict[str, Any]:
    """One tick of several symbols' marks, as a venue publishes them all at once: each mark checked as by
    ``/marks`` (stale, out of order, circuit breaker), all taken or none, logged as one ``marks`` event; the
    engine then checks every account once, at the new marks of all of them (a hedged account is not liquidated
    by the order in which the symbols of one tick arrive). The result carries the margin calls and liquidation
    steps the tick caused."""
    service = service_of(request)
    check_batch(service, len(body.marks), "marks")
    charge(service, who, len(body.marks))
    try:
        command, ticks = service.prices.check_tick([(m.symbol, Decimal(m.price)) for m in body.marks], body.ts,
                                                   scoped(who, body.key))
    except MarginCallError as exc:
        refused(service, exc)
        raise ApiError(status_of(exc), exc.code, str(exc), exc.field) from None
    out = await one(service, command)
    clamped = [{"symbol": t.symbol, "requested": format(t.requested, "f"), "price": format(t.price, "f")}
               for t in ticks if t.clamped and t.requested is not None]
    if clamped:
        out["clamped"] = clamped
    return out


@v1.post("/prices/source", tags=["ingestion"], responses=_BATCH_RESPONSES)
async def source_prices(request: Request, body: SourceTicksIn, who: Ingest) -> Response:
    """Source prices (spot venues, oracles) → each symbol's index: the median of the fresh sources within the
    outlier band (docs/venues.md §3.6). With ``mark_from_index`` each new index is posted as the symbol's mark."""
    service = service_of(request)
    check_batch(service, len(body.ticks), "ticks")
    charge(service, who, len(body.ticks))
    results: list[dict[str, Any]] = []
    for i, t in enumerate(body.ticks):
        try:
            results.append(service.prices.source_tick(t.source, t.symbol, Decimal(t.price), t.ts))
        except MarginCallError as exc:
            if exc.field == "ts":
                exc.field = f"ticks.{i}.ts"
            results.append(refused(service, exc))
    if not service.settings.mark_from_index:
        return batch_response(service, results)
    latest = {r["symbol"]: r for r in results if r.get("index") is not None}
    marks = await submit_marks(service, [(s, Decimal(r["index"]), None, None) for s, r in latest.items()])
    response = batch_response(service, results)
    body_out = orjson.loads(bytes(response.body))
    body_out["marks"] = marks
    return JSONResponse(body_out, response.status_code)


@v1.get("/prices/index", tags=["market data"])
async def index_prices(request: Request, who: AnyoneReads) -> dict[str, Any]:
    return {"indices": service_of(request).prices.index_view()}


# -- reading ------------------------------------------------------------------------------------------------------


@v1.get("/markets", tags=["market data"])
async def get_markets(request: Request, who: AnyoneReads) -> dict[str, Any]:
    return {"markets": await run_in_threadpool(service_of(request).read, views.markets_view)}


@v1.get("/accounts/{account}", tags=["accounts"])
async def get_account(request: Request, account: AccountPath,
                      who: OwnReads) -> dict[str, Any]:
    own_account(who, account)
    view = await run_in_threadpool(service_of(request).read, lambda e: views.account_view(e, account))
    if view is None:
        raise ApiError(404, "unknown_account", f"unknown account {account!r}", "account")
    return view


@v1.get("/accounts/{account}/positions", tags=["accounts"])
async def get_positions(request: Request, account: AccountPath,
                        who: OwnReads) -> dict[str, Any]:
    own_account(who, account)
    view = await run_in_threadpool(service_of(request).read, lambda e: views.positions_view(e, account))
    if view is None:
        raise ApiError(404, "unknown_account", f"unknown account {account!r}", "account")
    return {"account": account, "positions": view}


@v1.get("/risk/accounts", tags=["risk"])
async def risk_accounts(request: Request, who: AdminReads,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    """Watches (cross account per asset, isolated position) by margin ratio, most at risk first."""
    rows = await run_in_threadpool(service_of(request).read, lambda e: views.risk_view(e, limit))
    return {"accounts": rows}


@v1.get("/risk/summary", tags=["risk"])
async def risk_summary(request: Request, who: AnyoneReads) -> dict[str, Any]:
    """Aggregates any role may see: accounts per band, liquidations in progress, engine counters."""
    return await run_in_threadpool(service_of(request).read, views.risk_summary)


@v1.get("/liquidation-map", tags=["risk"])
async def liquidation_map(
    request: Request, who: MapReader,
    symbol: Annotated[str | None, Query(max_length=64, description="one symbol (default: every symbol)")] = None,
    range_: Annotated[str, Query(alias="range", max_length=8, pattern=r"^0?\.[0-9]{1,4}$",
                                description="the largest move each way, a fraction (0 < range ≤ 0.99)")] = "0.3",
    steps: Annotated[int, Query(ge=1, le=100, description="moves on each side of the mark")] = 30,
) -> dict[str, Any]:
    """The liquidation map of the engine's book: per symbol, the cumulative count and notional of the positions
    liquidated as the mark moves down (longs) and up (shorts) from now, each at its exact liquidation price, and
    the deficit past the bankruptcy prices each move would leave, drawn against the insurance fund of the
    symbol's settle asset (``fund_covers``, ``shortfall``: what ADL would take). One symbol moves at a time, the
    others still. An aggregate without account ids: any role."""
    from margincall.api.liquidation_map import map_view

    service = service_of(request)
    span = Decimal(range_)
    book = await run_in_threadpool(service.book_cache.rows, service.read, lambda: service.journal.last_seq)
    funds = dict(service.insurance.balances)
    return await run_in_threadpool(map_view, book, funds, span=span, steps=steps, symbol=symbol)


@v1.post("/calculator", tags=["calculator"])
async def calculator(request: Request, body: Annotated[dict[str, Any], Body()],
                     who: CalculatorReader) -> dict[str, Any]:
    """The scenario JSON of ``margincall calc --json`` in, its result out. A scenario beyond the service's
    ``calculator`` limits (positions, instruments, tier rows per instrument) is refused with 413 before any
    work."""
    from margincall.calculator import calculate
    from margincall.calculator.scenario import ScenarioTooLarge, check_size

    limits = service_of(request).settings.calculator
    try:
        check_size(body, max_positions=limits.max_positions, max_instruments=limits.max_instruments,
                   max_tiers=limits.max_tiers)
    except ScenarioTooLarge as exc:
        raise ApiError(413, exc.code, str(exc), exc.field) from None
    try:
        return await run_in_threadpool(calculate, body)
    except (MarginCallError, ArithmeticError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, MarginCallError):
            raise
        raise ApiError(400, "invalid_scenario", f"scenario: {exc}") from None


@v1.get("/insurance-fund", tags=["market data"])
async def insurance_fund(request: Request, who: AnyoneReads,
                         asset: Annotated[str | None, Query(max_length=64)] = None,
                         limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
    """Balances per asset, and ``history`` ([ts, balance] after every change, oldest first) of ``asset``
    (default USDT, else the first asset with a history)."""
    ins = service_of(request).insurance
    if asset is None:
        asset = "USDT" if "USDT" in ins.history or not ins.history else sorted(ins.history)[0]
    history = list(ins.history.get(asset, ()))[-limit:]
    return {"balances": {a: format(b, "f") for a, b in sorted(ins.balances.items())}, "asset": asset,
            "history": [[ts, bal] for ts, bal in history]}


@v1.get("/events", tags=["events"])
async def events(
    request: Request,
    who: EventReader,
    type: Annotated[str | None, Query(max_length=500, description="comma-separated event types; "
                                      "insurance_fund = every event that moved the fund")] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[int | None, Query(ge=0, lt=2**63, description="ts ≥ since (ms)")] = None,
    until: Annotated[int | None, Query(ge=0, lt=2**63, description="ts ≤ until (ms)")] = None,
    after: Annotated[int, Query(ge=0, lt=2**63, description="seq > after (the cursor: next_after of the last "
                                                            "page)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Stored events in sequence order, filtered, a page at a time through the log's indexes. Continue with
    ``after=next_after`` while ``more`` is true; a page may hold fewer than ``limit`` events (even none) while
    ``next_after`` advances: a page filtered by account and type reads a bounded number of the account's
    events. ``more`` false: the end of the log (or of ``until``) as of this read. Traders get their own
    account's events only; viewers the public liquidation feed without account ids."""
    service = service_of(request)
    types = None
    if type is not None:
        types = frozenset(t.strip() for t in type.split(",") if t.strip())
        known = set(service.engine.ledger.event_types) | {views.FUND_TYPE}
        unknown = sorted(types - known)
        if unknown:
            raise ApiError(400, "unknown_event_type", f"type: unknown event type {unknown[0]!r}", "type")
    if who.role is Role.TRADER:
        if account is not None and account != who.account:
            raise ApiError(403, "forbidden", "a trader key sees its own account's events only", "account")
        account = who.account
    elif who.role is Role.VIEWER:
        if account is not None:
            raise ApiError(403, "forbidden", "viewers see the public feed without account ids", "account")
        if types is not None and not types <= views.PUBLIC_TYPES:
            raise ApiError(403, "forbidden", f"viewers see only {', '.join(sorted(views.PUBLIC_TYPES))}", "type")
        types = types or views.PUBLIC_TYPES
    fund = types is not None and views.FUND_TYPE in types
    if fund and types is not None:
        types = types - {views.FUND_TYPE} or None
    page = await run_in_threadpool(
        service.journal.log.page, after, limit, types=types, fund=fund, account=account, since=since, until=until,
        max_scan=service.settings.events_scan_factor * limit)
    found = [seen for seen in (views.view_event(views.event_dict(ev), who) for ev in page.events) if seen is not None]
    return {"events": found, "next_after": page.next_after, "more": page.more}
