"""Query planning for runs: keyword criteria -> typed filters -> SELECTs, keyset pages."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, any_, bindparam, func, select
from sqlalchemy.orm import Session

from mangodb import inputs
from mangodb.db.models import Run, RunMetric, RunObjective
from mangodb.dto import RunRead, as_sequence
from mangodb.errors import ValidationError
from mangodb.language import parse
from mangodb.runs import archive, cursors, loading, plan_cache
from mangodb.runs.criteria import CRITERIA
from mangodb.runs.filters import (
    FIELDS,
    ConfigFilter,
    FieldFilter,
    Filter,
    MetricFilter,
    ObjectiveFilter,
    Op,
    PrefixFilter,
    TagFilter,
    check_op,
    pg_lookup,
    split_path,
    sqlite_lookup,
)

MAX_LIMIT = 10_000
# Sort keys with no NULLs: these page by keyset; any other sort pages by offset.
_KEYSET_SORTS = {
    "created_at": Run.created_at,
    "created": Run.created_at,
    "updated_at": Run.updated_at,
    "run_id": Run.run_id,
}
_CRITERIA = CRITERIA


def check_criteria(values: Mapping[str, Any]) -> None:
    """Check the shape and values of ``query_runs`` criteria before any statement is built
    (or looked up in the statement cache)."""
    unknown = sorted(str(name) for name in values if name not in _CRITERIA)
    if unknown:
        raise ValidationError(
            f"unknown query criteria: {', '.join(unknown)}; known: {', '.join(sorted(_CRITERIA))}"
        )
    for name, value in values.items():
        if value is None:
            continue
        if name in ("config", "metrics", "objectives"):
            for key, bound in inputs.bounds(value, name).items():
                if name == "config" and isinstance(key, tuple):
                    inputs.texts(key, "config path")
                else:
                    inputs.text(key, f"{name} key")
                inputs.query_bound(bound, f"{name}[{key!r}]")
        elif name == "where":
            if not isinstance(value, Filter):
                inputs.text(value, "where")
        elif name == "filters":
            if not isinstance(value, Filter):
                inputs.instances(value, Filter, "filters")
        elif name == "offset":
            inputs.integer(value, "offset", minimum=0)
        elif name in ("order_by", "name_prefix"):
            inputs.text(value, name)
        elif name == "include_archived":
            inputs.flag(value, name)
        elif name in inputs.RANGE_CRITERIA:
            inputs.instance(value, dt.datetime, name)
        else:  # status, gradient_method, tags, ids, model_name, dataset, batch_size, …
            inputs.query_values(value, name)


@dataclass(frozen=True)
class Plan:
    where: tuple[ColumnElement[bool], ...]
    order: str
    descending: bool
    offset: int
    # The typed filters ``where`` was compiled from (analysis reads some on denormalised copies).
    filters: tuple[Filter, ...] = ()
    # Page statements built from this plan, by (limit, continuation): see ``page_statement``.
    pages: dict[tuple[int | None, Continuation], PageShape] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )


def _bound(value: Any) -> list[tuple[Op, Any]]:
    """``96`` -> [("=", 96)]; ``("<", 1)`` -> [("<", 1)]; ``{"min": 0, "max": 1}`` -> [(">=", 0),
    ("<=", 1)]; ``{"lt": 1}`` etc."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return [(check_op(value[0]), value[1])]
    if isinstance(value, Mapping):
        names: dict[str, Op] = {
            "min": ">=",
            "max": "<=",
            "gt": ">",
            "gte": ">=",
            "lt": "<",
            "lte": "<=",
            "eq": "=",
            "ne": "!=",
            "in": "in",
        }
        out = []
        for key, item in value.items():
            if key not in names:
                raise ValidationError(f"unknown bound {key!r}; use one of {', '.join(names)}")
            out.append((names[key], item))
        return out
    if isinstance(value, list):
        return [("in", value)]
    return [("=", value)]


def _aware(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def build_filters(criteria: Mapping[str, Any]) -> list[Filter]:
    unknown = set(criteria) - _CRITERIA
    if unknown:
        raise ValidationError(
            f"unknown query criteria: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_CRITERIA))}"
        )
    filters: list[Filter] = []
    for name in (
        "status",
        "gradient_method",
        "instance_id",
        "wandb_run_id",
        "model_name",
        "dataset",
        "batch_size",
        "region",
        "git_commit",
    ):
        value = criteria.get(name)
        if value is None:
            continue
        values = [v.value if hasattr(v, "value") else v for v in as_sequence(value)]
        filters.append(FieldFilter(name, "in", values))
    if criteria.get("name_prefix"):
        filters.append(PrefixFilter(str(criteria["name_prefix"])))
    for tag in as_sequence(criteria.get("tags")):
        filters.append(TagFilter(tag))
    ranges: tuple[tuple[str, str, Op], ...] = (
        ("created_after", "created_at", ">="),
        ("created_before", "created_at", "<"),
        ("ended_after", "ended_at", ">="),
        ("ended_before", "ended_at", "<"),
    )
    for name, field, op in ranges:
        if criteria.get(name) is not None:
            filters.append(FieldFilter(field, op, _aware(criteria[name], name)))
    for path, value in (criteria.get("config") or {}).items():
        parts = split_path(path) if isinstance(path, str) else tuple(path)
        for op, item in _bound(value):
            filters.append(ConfigFilter(parts, op, item))
    for key, value in (criteria.get("metrics") or {}).items():
        for op, item in _bound(value):
            filters.append(MetricFilter(key, op, item))
    for name, value in (criteria.get("objectives") or {}).items():
        for op, item in _bound(value):
            filters.append(ObjectiveFilter(name, op, item))
    where = criteria.get("where")
    if where:
        filters.append(parse(where) if isinstance(where, str) else where)
    extra = criteria.get("filters")
    if extra is not None:
        filters.extend([extra] if isinstance(extra, Filter) else list(extra))
    return archive.visible(filters, bool(criteria.get("include_archived")))


_PLANS: plan_cache.LRU[Plan] = plan_cache.LRU()


def plan(criteria: Mapping[str, Any], *, dialect: str) -> Plan:
    """The plan of ``criteria``: built, or kept from an earlier call with equal criteria
    (see :mod:`mangodb.runs.plan_cache`; a plan holds nothing that changes between calls)."""
    key = plan_cache.criteria_key(criteria)
    if key is None:
        return _build_plan(criteria, dialect)
    # Built from a copy, so a caller changing its own lists afterwards changes no kept plan.
    return _PLANS.get((dialect, key), lambda: _build_plan(copy.deepcopy(dict(criteria)), dialect))


def forget_plans() -> None:
    """Drop every kept plan (``benchmarks/runs.py`` measures a page without them)."""
    _PLANS.clear()


def _build_plan(criteria: Mapping[str, Any], dialect: str) -> Plan:
    filters = build_filters(criteria)
    order = str(criteria.get("order_by") or "-created_at")
    descending = order.startswith("-")
    order = order.lstrip("-+")
    _check_sort(order)
    offset = int(criteria.get("offset") or 0)
    if offset < 0:
        raise ValidationError("offset must be >= 0")
    if dialect == "postgresql" and order in ("created_at", "created"):
        filters = _walk_ordered_index(filters)
    compiled = tuple(f.compile(dialect) for f in filters)
    return Plan(compiled, order, descending, offset, tuple(filters))


def _walk_ordered_index(filters: list[Filter]) -> list[Filter]:
    """With equality on both status and gradient method, a page in creation order walks
    ``ix_runs_status_method_created_at_id_archived`` and stops after one page of matches; a
    config equality is then checked on those rows rather than through the GIN index, which the
    planner (without statistics on configs over 1 KB) would otherwise intersect with it and
    recheck every candidate's config (the whole page query, at 100K runs)."""
    equal = {
        FIELDS[f.field].key
        for f in filters
        if isinstance(f, FieldFilter) and f.op in ("=", "in") and f.field in FIELDS
    }
    if not {"status", "gradient_method"} <= equal:
        return filters
    return [
        dataclasses.replace(f, gin=False) if isinstance(f, ConfigFilter) else f for f in filters
    ]


_SORT_PREFIXES = ("metric.", "objective.", "config.")
# A final metric's or an objective's value by name: (value, run key, name) columns.
_VALUE_SORTS = {
    "metric.": (RunMetric.value, RunMetric.run_pk, RunMetric.key),
    "objective.": (RunObjective.value, RunObjective.run_pk, RunObjective.name),
}


def _check_sort(order: str) -> None:
    """A field, ``metric.<key>``, ``objective.<name>`` or ``config.<dotted.path>``."""
    if order in _KEYSET_SORTS or order in FIELDS:
        return
    prefix = next((p for p in _SORT_PREFIXES if order.startswith(p)), None)
    if prefix is None or order == prefix:
        raise ValidationError(
            f"cannot sort by {order!r}: sort by a field, metric.<key>, objective.<name> or "
            "config.<dotted.path>"
        )
    if prefix == "config.":
        try:
            split_path(order.removeprefix(prefix))
        except ValidationError as error:
            raise ValidationError(f"cannot sort by {order!r}: {error}") from None


def _sort_column(order: str, dialect: str) -> Any:
    """The sort key: a column, a final metric's or objective's value, or a config value
    (PostgreSQL orders ``jsonb`` values, SQLite the scalars ``json_extract`` gives; runs
    without the value come last either way)."""
    if order in _KEYSET_SORTS:
        return _KEYSET_SORTS[order]
    for prefix, (value, run_pk, name) in _VALUE_SORTS.items():
        if order.startswith(prefix):
            chosen = order.removeprefix(prefix)
            return select(value).where(run_pk == Run.id, name == chosen).scalar_subquery()
    if order.startswith("config."):
        path = split_path(order.removeprefix("config."))
        return pg_lookup(path)[0] if dialect == "postgresql" else sqlite_lookup(path)[1]
    return FIELDS[order]


Continuation = Literal["first", "keyset", "offset"]
_PAGE_SHAPES_PER_PLAN = 12
_CURSOR_VALUE, _CURSOR_ID, _CURSOR_OFFSET = "cursor_value", "cursor_id", "cursor_offset"


@dataclass(frozen=True)
class PageShape:
    """A page's statement as built once per plan, page size and kind of page (the first, or a
    continuation by keyset or offset, whose cursor values are bound parameters)."""

    statement: Select[Any]
    keyset_column: str | None  # the sort column, when the next page continues by keyset


@dataclass(frozen=True)
class PageStatement:
    """A page's statement, with this page's cursor bound, and what reading its rows needs."""

    statement: Select[Any]
    limit: int | None
    offset: int
    keyset_column: str | None  # the sort column, when the next page continues by keyset


def page_statement(
    plan: Plan, *, limit: int | None, cursor: str | None, dialect: str
) -> PageStatement:
    """The statement of one page of runs: one statement for the page's rows and, on
    PostgreSQL, their child rows (see :mod:`mangodb.runs.loading`). Its shape is built once
    per plan and kind of page; the cursor's values are bound to it per page."""
    if limit is not None and (limit < 0 or limit > MAX_LIMIT):
        raise ValidationError(f"limit must be between 0 and {MAX_LIMIT}")
    keyset = plan.order in _KEYSET_SORTS
    data = cursors.decode(cursor, plan.order) if cursor else {}
    kind: Continuation = "first"
    if data:
        kind = "keyset" if keyset and "k" in data else "offset"
    shape = plan.pages.get((limit, kind))
    if shape is None:
        shape = _page_shape(plan, limit, kind, dialect)
        if len(plan.pages) < _PAGE_SHAPES_PER_PLAN:  # page sizes are the caller's: bounded
            shape = plan.pages.setdefault((limit, kind), shape)
    if kind == "first":
        return PageStatement(shape.statement, limit, plan.offset, shape.keyset_column)
    if kind == "keyset":
        value, last_id = data["k"]
        bound = shape.statement.params({_CURSOR_VALUE: value, _CURSOR_ID: last_id})
        return PageStatement(bound, limit, plan.offset, shape.keyset_column)
    offset = int(data.get("o", 0))
    bound = shape.statement.params({_CURSOR_OFFSET: offset})
    return PageStatement(bound, limit, offset, shape.keyset_column)


def _page_shape(plan: Plan, limit: int | None, kind: Continuation, dialect: str) -> PageShape:
    column = _sort_column(plan.order, dialect)
    keyset = plan.order in _KEYSET_SORTS
    # The page is chosen on ids only (its sort then carries narrow rows instead of every
    # candidate's config, which PostgreSQL would detoast); the page's full rows are read by id
    # in the same statement (PostgreSQL: ``id = ANY(ARRAY(page))``, one primary-key probe per
    # row, whatever the planner thinks of the page's size).
    page = select(Run.id).where(*plan.where)
    if kind == "keyset":
        value = bindparam(_CURSOR_VALUE, type_=column.type)
        last_id = bindparam(_CURSOR_ID, type_=Run.id.type)
        if plan.descending:
            page = page.where((column < value) | ((column == value) & (Run.id < last_id)))
        else:
            page = page.where((column > value) | ((column == value) & (Run.id > last_id)))
    page = page.order_by(*_ordering(column, plan.descending, keyset)).correlate(None)
    if kind == "offset":
        page = page.offset(bindparam(_CURSOR_OFFSET, type_=Run.id.type))
    elif plan.offset:
        page = page.offset(plan.offset)
    if limit is not None:
        page = page.limit(limit + 1)
    table = loading.table_of(Run)
    if dialect == "postgresql":
        chosen = table.c.id == any_(func.array(page.scalar_subquery()))
    else:
        chosen = table.c.id.in_(page.scalar_subquery())
    statement = (
        select(*loading.run_columns(dialect), *loading.page_columns(dialect))
        .where(chosen)
        .order_by(*_ordering(column, plan.descending, keyset))
    )
    return PageShape(statement, column.key if keyset else None)


def fetch_page(session: Session, page: PageStatement) -> tuple[list[RunRead], str | None]:
    """One page of runs as ``RunRead`` and the cursor of the next page."""
    rows = list(session.connection().execute(page.statement).mappings())
    limit = page.limit
    more = limit is not None and len(rows) > limit
    if limit is not None:
        rows = rows[:limit]
    next_cursor = None
    if limit is not None and more and rows:
        if page.keyset_column is not None:
            last = rows[-1]
            key = [cursors.serialise(last[page.keyset_column]), last["id"]]
            next_cursor = cursors.encode({"k": key})
        else:
            next_cursor = cursors.encode({"o": page.offset + limit})
    return loading.load_reads(session, rows), next_cursor


def _ordering(column: Any, descending: bool, keyset: bool) -> tuple[Any, Any]:
    ordered = column.desc() if descending else column.asc()
    if not keyset:  # keyset sort columns are NOT NULL: without NULLS LAST, PostgreSQL can
        ordered = ordered.nulls_last()  # walk their indexes (e.g. status, method, created_at)
    return ordered, Run.id.desc() if descending else Run.id.asc()


def count(session: Session, plan: Plan) -> int:
    return int(session.scalar(select(func.count()).select_from(Run).where(*plan.where)) or 0)


def count_by(session: Session, plan: Plan, column: Any) -> dict[str, int]:
    rows = session.execute(
        select(column, func.count()).select_from(Run).where(*plan.where).group_by(column)
    )
    return {str(key): int(n) for key, n in rows}
