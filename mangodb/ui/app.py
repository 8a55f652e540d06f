"""The ASGI app of ``mangodb ui``: HTML pages rendered on the server (Jinja2, autoescaped) and
the JSON API under ``/api/`` they use; both read through one read-only ``RunRepository``."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import URL

from mangodb.errors import MangoDBError, RunNotFound, ValidationError
from mangodb.repository import RunRepository
from mangodb.ui import views
from mangodb.ui.compare import compare_api, compare_page
from mangodb.ui.rendering import STATIC, JSONBody, render

TOKEN_COOKIE = "mangodb_token"
Handler = Callable[[Request], Awaitable[Response]]


def create_app(repo_or_url: RunRepository | str | URL | None, token: str | None = None) -> FastAPI:
    """The interface over ``repo_or_url``: a repository (used as given) or a database URL
    (opened read-only: SQLite with ``mode=ro``, PostgreSQL in read-only sessions). With
    ``token`` every request must carry it (see ``docs/ui.md``); otherwise answers 401."""
    if isinstance(repo_or_url, RunRepository):
        repo = repo_or_url
    else:
        repo = RunRepository.connect(repo_or_url, read_only=True, source="ui")
    app = FastAPI(
        title="mangodb",
        summary="Read-only JSON API over the runs (the pages of `mangodb ui` use it).",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        default_response_class=JSONBody,
    )
    app.state.repo = repo
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if token:
        _require_token(app, token)
    _error_handlers(app)
    _pages(app, repo)
    _api(app, repo)
    return app


def _require_token(app: FastAPI, token: str) -> None:
    expected = token.encode()

    @app.middleware("http")
    async def check(request: Request, call_next: Handler) -> Response:
        given = request.headers.get("authorization", "")
        bearer = given[7:] if given.lower().startswith("bearer ") else ""
        from_query = request.query_params.get("token", "")
        candidates = (bearer, from_query, request.cookies.get(TOKEN_COOKIE, ""))
        if not any(c and hmac.compare_digest(c.encode(), expected) for c in candidates):
            return JSONBody(
                {"error": "Unauthorized", "message": "this mangodb ui needs its token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if from_query and request.method == "GET" and not request.url.path.startswith("/api/"):
            # The token came in the address (a link someone was given): keep it in a cookie
            # and drop it from the address bar and history.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + _query_string(rest) if rest else "")
            response: Response = RedirectResponse(target, status_code=303)
        else:
            response = await call_next(request)
        if from_query:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response


def _query_string(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MangoDBError)
    async def mangodb_error(request: Request, error: MangoDBError) -> Response:
        status = 404 if isinstance(error, RunNotFound) else 400
        if not isinstance(error, (RunNotFound, ValidationError)):
            status = 503
        message = str(error)
        if request.url.path.startswith("/api/"):
            return JSONBody(
                {"error": type(error).__name__, "message": message}, status_code=status
            )
        page = render(request, "error.html", title="Error", error=type(error).__name__,
                      message=message)
        return HTMLResponse(page, status_code=status)


def _pages(app: FastAPI, repo: RunRepository) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(
        request: Request,
        q: str = "",
        columns: str = "",
        sort: str = "-created",
        cursor: str | None = None,
        archived: bool = False,
    ) -> HTMLResponse:
        chosen = views.split_columns(columns)
        page = views.runs_page(
            repo, where=q, columns=chosen, sort=sort, cursor=cursor, include_archived=archived
        )
        base = [("q", q), ("columns", ",".join(chosen)), ("archived", "1" if archived else "")]

        def link(*extra: tuple[str, str]) -> str:
            return "/?" + _query_string([(k, v) for k, v in [*base, *extra] if v])

        sort_urls = {
            c: link(("sort", c if sort == f"-{c}" else f"-{c}")) for c in page["sortable"]
        }
        # The same page with archived runs shown or hidden, from the first page.
        kept = [(k, v) for k, v in [*base[:2], ("sort", sort)] if v]
        toggled = "/?" + _query_string(kept + ([] if archived else [("archived", "1")]))
        html = render(
            request,
            "runs.html",
            title="Runs",
            page=page,
            q=q,
            columns_text=",".join(chosen),
            default_columns=",".join(views.DEFAULT_COLUMNS),
            cursor=cursor,
            sort_urls=sort_urls,
            next_url=link(("sort", sort), ("cursor", page["next_cursor"] or "")),
            first_url=link(("sort", sort)),
            archived=archived,
            archived_url=toggled,
        )
        return HTMLResponse(html, status_code=200 if page["error"] is None else 400)

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        record = views.run_record(repo, run_id)
        return HTMLResponse(render(request, "run.html", title=run_id, run=record))

    @app.get("/crashes", response_class=HTMLResponse, include_in_schema=False)
    def crashes_page(request: Request, q: str = "", archived: bool = False) -> HTMLResponse:
        data = views.crashes(repo, where=q, include_archived=archived)
        return HTMLResponse(
            render(request, "crashes.html", title="Crashes", data=data, q=q, archived=archived),
            status_code=200 if data["error"] is None else 400,
        )

    @app.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
    def fleet_page(request: Request, grace: str = "30m") -> HTMLResponse:
        data = views.fleet(repo, grace=parse_duration(grace))
        return HTMLResponse(render(request, "fleet.html", title="Fleet", data=data, grace=grace))

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare(
        request: Request,
        q: str = "",
        baseline: str = "",
        key: str = "",
        x: str = "",
        y: str = "",
        run: list[str] = Query(default=[]),  # noqa: B008 (FastAPI's way to declare it)
        archived: bool = False,
    ) -> HTMLResponse:
        return compare_page(
            request, repo, q=q, baseline=baseline, key=key, runs=run, x=x, y=y, archived=archived
        )


def _api(app: FastAPI, repo: RunRepository) -> None:
    @app.get("/api/runs", tags=["runs"])
    def api_runs(
        q: str = Query("", description="A query in the run query language"),
        columns: str = Query("", description="Comma-separated columns, as `runs ls --columns`"),
        sort: str = Query("-created", description="Sort key, '-' for descending"),
        cursor: str | None = Query(None, description="`next_cursor` of the previous page"),
        limit: int = Query(views.PAGE_LIMIT, ge=1, le=views.MAX_LIMIT),
        archived: bool = Query(False, description="Include archived runs (`runs ls --archived`)"),
    ) -> JSONBody:
        """One page of runs (keyset paging), the total and the counts by status. A refused
        query answers 400 with the message, the query and the caret's column."""
        chosen = views.split_columns(columns)
        page = views.runs_page(
            repo,
            where=q,
            columns=chosen,
            sort=sort,
            cursor=cursor,
            limit=limit,
            include_archived=archived,
        )
        return JSONBody(page, status_code=200 if page["error"] is None else 400)

    @app.get("/api/run", tags=["runs"])
    def api_run(id: str = Query(..., description="The run id")) -> Any:
        """Everything stored about one run, and the exact summary of each history key."""
        return views.run_record(repo, id)

    @app.get("/api/history", tags=["history"])
    def api_history(
        run: str = Query(..., description="The run id"),
        key: list[str] = Query(default=[], description="Keys (all when none)"),  # noqa: B008
        min_step: int | None = None,
        max_step: int | None = None,
        max_points: int = Query(views.DEFAULT_POINTS, ge=2, le=views.MAX_POINTS),
    ) -> JSONBody:
        """History of one run in a step range, downsampled per key to ``max_points`` (first,
        last, min and max of each bucket kept). NaN and ±Inf come as null in ``values`` and
        are listed in ``nonfinite``."""
        # A response, not a dict: FastAPI would run its jsonable_encoder over every point
        # (most of the time of a 50-key read); the view's values are plain JSON already.
        return JSONBody(
            views.history(
                repo, run, keys=key, min_step=min_step, max_step=max_step, max_points=max_points
            )
        )

    @app.get("/api/crashes", tags=["crashes"])
    def api_crashes(q: str = "", archived: bool = False) -> JSONBody:
        """Crash reports grouped by error type and fingerprint (of archived runs too with
        ``archived=1``)."""
        data = views.crashes(repo, where=q, include_archived=archived)
        return JSONBody(data, status_code=200 if data["error"] is None else 400)

    @app.get("/api/fleet", tags=["fleet"])
    def api_fleet(grace: str = Query("30m", description="Heartbeat grace, e.g. 30m, 2h")) -> Any:
        """Active runs with heartbeat staleness, and the reaper's verdicts (a dry run)."""
        return views.fleet(repo, grace=parse_duration(grace))

    compare_api(app, repo)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValidationError(f"invalid duration {text!r}: use e.g. 90s, 30m, 2h or 1d")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def static_path() -> Path:
    return STATIC
