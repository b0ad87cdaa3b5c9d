"""The web dashboard: a read-only JSON API over the store's views, and the page that draws it.

    app = create_app(store)                  # token=... when it listens beyond loopback
    uvicorn.run(app, host="127.0.0.1", port=8888)

Everything under `/api` is GET and documented in `/openapi.json`, which is what the page itself calls.
Live charts follow `/api/stream`, a server-sent event stream of new equity snapshots. The page's chart
code is the plotly.js that the `plotly` Python package installs, served from `/static`: no CDN, no npm.

Read-only by construction: every method but GET and HEAD answers 405 before any route runs. With a
token, every request must carry it (`Authorization: Bearer`, or `?token=` once, which sets a cookie).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gpt_trader.errors import UserError
from gpt_trader.monitor.research import heatmap
from gpt_trader.store import Store
from gpt_trader.store.schema import METRIC_COLUMNS, RunKind
from gpt_trader.store.views import StoreViews

STATIC = Path(__file__).resolve().parent / "static"
READ_METHODS = frozenset({"GET", "HEAD"})
TOKEN_COOKIE = "gpt_trader_dashboard"
MAX_LIST = 20_000
SortColumn = Enum("SortColumn", {name: name for name in METRIC_COLUMNS}, type=str)  # type: ignore[misc]
Kind = Enum("Kind", {kind.value: kind.value for kind in RunKind}, type=str)  # type: ignore[misc]


def create_app(store: Store, token: str | None = None, stream_interval: float = 1.0) -> FastAPI:
    """The dashboard over `store`; with `token`, every request must present it."""
    views = StoreViews.of(store)
    app = FastAPI(title="GPT-Trader dashboard", version="1", docs_url=None, redoc_url=None)
    app.middleware("http")(_guard(token))

    async def read(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The store's queries block: they run on the thread pool, never on the event loop.
        try:
            return await run_in_threadpool(function, *args, **kwargs)
        except (UserError, ValueError) as error:
            raise HTTPException(422, str(error)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name == "plotly.min.js":
            return FileResponse(plotly_js(), media_type="text/javascript")
        path = STATIC / name
        if name not in {"dashboard.js", "dashboard.css"} or not path.is_file():
            raise HTTPException(404, f"no static file {name!r}")
        return FileResponse(path)

    @app.get("/api/overview", summary="Sessions with their accounts, the newest runs, fills and feed health")
    async def overview(runs: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
        def gather() -> dict[str, Any]:
            return {
                "sessions": views.sessions(),
                "runs": views.runs(limit=runs),
                "fills": views.fills(limit=50),
                "feed": views.feed_health(limit=20),
            }

        return _json(await read(gather))

    @app.get("/api/runs", summary="Runs newest first, filtered")
    async def runs(
        kind: Kind | None = None,
        strategy: Annotated[str | None, Query(max_length=64)] = None,
        product: Annotated[str | None, Query(max_length=32)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        source: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 500,
    ) -> Response:
        rows = await read(
            views.runs,
            kind=kind.value if kind else None,
            strategy=strategy,
            product=product,
            since=_utc(since),
            until=_utc(until),
            source=source,
            limit=limit,
        )
        return _json(rows)

    @app.get("/api/runs/{run_id}", summary="One run: its config, code version, data fingerprint and trials")
    async def run(run_id: int) -> Response:
        return _json(await _found(read(views.run, run_id), f"run {run_id}"))

    @app.get("/api/runs/{run_id}/results", summary="A run's backtest results, best first")
    async def results(
        run_id: int,
        sort: SortColumn = SortColumn.sharpe,  # type: ignore[attr-defined]
        descending: bool = True,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = MAX_LIST,
    ) -> Response:
        await _found(read(views.run, run_id), f"run {run_id}")
        return _json(await read(views.results, run_id, sort=sort.value, descending=descending, limit=limit))

    @app.get("/api/runs/{run_id}/heatmap", summary="Mean of a metric over two parameters of a sweep")
    async def run_heatmap(
        run_id: int,
        metric: SortColumn = SortColumn.sharpe,  # type: ignore[attr-defined]
        x: Annotated[str | None, Query(max_length=64)] = None,
        y: Annotated[str | None, Query(max_length=64)] = None,
        strategy: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        await _found(read(views.run, run_id), f"run {run_id}")
        rows = await read(views.results, run_id, limit=MAX_LIST)
        if strategy is not None:
            rows = [row for row in rows if row["strategy"] == strategy]
        return _json(await read(heatmap, rows, x, y, metric.value))

    @app.get("/api/results/{result_id}/curves", summary="One result's equity, drawdown, price and trades")
    async def curves(result_id: int) -> Response:
        from gpt_trader.monitor.curves import recompute

        result = await _found(read(views.result, result_id), f"backtest result {result_id}")
        recorded = await _found(read(views.run, result["run_id"]), f"run {result['run_id']}")
        computed = await read(recompute, recorded, result)
        return _json({"result": result, **computed.as_dict()})

    @app.get("/api/compare", summary="One strategy across backtest, simulation and paper runs, and the gap")
    async def compare(strategy: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
        from gpt_trader.monitor.compare import gaps, summarise

        rows = await read(views.strategy_runs, strategy)
        return _json({"strategy": strategy, "kinds": summarise(rows), "gaps": gaps(rows)})

    @app.get("/api/sessions", summary="Trading sessions newest first, each with its accounts")
    async def sessions(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
        return _json(await read(views.sessions, limit))

    @app.get("/api/accounts/{account_id}/equity", summary="An account's equity curve")
    async def equity(
        account_id: int,
        after_id: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    ) -> Response:
        await _found(read(views.account, account_id), f"account {account_id}")
        return _json(await read(views.equity, account_id, after_id=after_id, limit=limit))

    @app.get("/api/accounts/{account_id}/round-trips", summary="An account's closed positions, newest first")
    async def round_trips(account_id: int, limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 500) -> Response:
        await _found(read(views.account, account_id), f"account {account_id}")
        return _json(await read(views.round_trips, account_id, limit))

    @app.get("/api/fills", summary="The newest fills, of one account, one session or all")
    async def fills(
        session_id: int | None = None,
        account_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    ) -> Response:
        return _json(await read(views.fills, session_id=session_id, account_id=account_id, limit=limit))

    @app.get("/api/orders", summary="The newest orders, of one account, one session or all")
    async def orders(
        session_id: int | None = None,
        account_id: int | None = None,
        open_only: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    ) -> Response:
        rows = await read(views.orders, session_id=session_id, account_id=account_id, open_only=open_only, limit=limit)
        return _json(rows)

    @app.get("/api/feed", summary="Feed health: the latest state per product and connection, and recent events")
    async def feed(session_id: int | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Response:
        return _json(await read(views.feed_health, session_id, limit))

    @app.get("/api/rotations", summary="Rotation decisions newest first, each with its reason and numbers")
    async def rotations(
        session_id: int | None = None, limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 200
    ) -> Response:
        if session_id is not None:
            await _found(read(store.get_session, session_id), f"trading session {session_id}")
        return _json(await read(views.rotations, session_id, limit))

    @app.get("/api/runs/{run_id}/regimes", summary="A run's results broken down by market regime")
    async def regimes(run_id: int, limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 1_000) -> Response:
        await _found(read(views.run, run_id), f"run {run_id}")
        return _json(await read(views.regimes, run_id, limit))

    @app.get("/api/stream", summary="Server-sent events: a session's new equity snapshots and its accounts")
    async def stream(
        request: Request,
        session_id: int,
        after_id: Annotated[int, Query(ge=0)] = 0,
        seconds: Annotated[float, Query(gt=0, le=3600)] = 600,
    ) -> StreamingResponse:
        await _found(read(store.get_session, session_id), f"trading session {session_id}")
        # A browser reconnecting sends the id of the last event it saw: it resumes from there.
        last_seen = request.headers.get("last-event-id", "")
        start = int(last_seen) if last_seen.isdigit() else after_id

        async def events() -> AsyncIterator[bytes]:
            after = start
            deadline = asyncio.get_running_loop().time() + seconds
            yield b"retry: 1000\n\n"
            while asyncio.get_running_loop().time() < deadline and not await request.is_disconnected():
                points = await read(views.session_equity, session_id, after_id=after)
                if points:
                    after = points[-1]["id"]
                    accounts = await read(views.accounts, session_id)
                    yield _event("equity", after, {"points": points, "accounts": accounts})
                await asyncio.sleep(stream_interval)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return app


def plotly_js() -> Path:
    """The plotly.js bundle the `plotly` Python package installs."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise UserError("plotly.js is missing from the installed plotly package; reinstall it: pip install plotly")
    return path


def _guard(token: str | None) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Middleware: refuse every write, and every request without the token when there is one."""

    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method not in READ_METHODS:
            return JSONResponse(
                {"detail": f"the dashboard is read-only: {request.method} is not accepted, only GET"},
                status_code=405,
                headers={"Allow": "GET, HEAD"},
            )
        if token is None:
            return await call_next(request)
        offered = request.query_params.get("token")
        bearer = request.headers.get("authorization", "")
        presented = offered or request.cookies.get(TOKEN_COOKIE) or bearer.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return JSONResponse(
                {
                    "detail": "this dashboard needs its token: open the page once with ?token=YOUR_TOKEN, or send "
                    "'Authorization: Bearer YOUR_TOKEN'"
                },
                status_code=401,
            )
        response = await call_next(request)
        if offered:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    return guard


async def _found(pending: Awaitable[Any], what: str) -> Any:
    value = await pending
    if value is None:
        raise HTTPException(404, f"there is no {what} in the database")
    return value


def _utc(moment: datetime | None) -> datetime | None:
    """A time from a query: one without a zone is read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


def _dumps(document: Any) -> str:
    return json.dumps(_finite(document), default=_plain, separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """NaN and infinity have no JSON form: they travel as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json(document: Any) -> Response:
    return Response(_dumps(document), media_type="application/json")


def _event(name: str, event_id: int, document: Any) -> bytes:
    return f"event: {name}\nid: {event_id}\ndata: {_dumps(document)}\n\n".encode()
