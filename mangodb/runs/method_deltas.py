"""PostgreSQL's side of the per-method sums (migration 0010): folding the waiting changes
into the sums, and counting a bulk insert of new runs in three grouped statements.

Writers append their changes to the ``method_*_deltas`` tables and, about once in 256
changes (at most once per transaction), fold them in. Bulk writers fold at the end of each
batch, so a report read right after a bulk load (``insert_runs``, ``db copy``, archiving,
purging) adds up a few delta rows, not a batch's worth. ``insert_runs`` defers the row
trigger for its batch (``mangodb.defer_sums``, local to the transaction) and adds the new
runs' contributions grouped, which costs one pass over their rows instead of a trigger
call per row. SQLite changes the sums in place, row by row: nothing to fold or defer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

_FOLD = text("SELECT mangodb_method_sums_fold()")
_DEFER = text("SELECT set_config('mangodb.defer_sums', :state, true)")

# The values the sums add up (0, or TINY <= |v| < HUGE): their squares and products neither
# overflow nor underflow float8 (PostgreSQL raises on both). Migration 0010 has the same bounds.
HUGE = 1e150
TINY = 1e-150


def _summable(alias: str) -> str:
    v = f"{alias}.value"
    return f"({v} = 0 OR (abs({v}) >= {TINY} AND abs({v}) < {HUGE}))"


_ARCHIVED = "(CASE WHEN x.run_archived_at IS NULL THEN 0 ELSE 1 END)"
_STATUS = "coalesce(x.run_status, '')"
_SUMMABLE = _summable("x")
_FINITE = "x.value <> 'Infinity'::float8 AND x.value <> '-Infinity'::float8"
_NEW = "x.run_pk = ANY(:pks)"  # an index probe per run, not a pass over every row
# The contributions of whole runs, as 0010's triggers would have added them row by row.
_COUNT_NEW_RUNS = (
    f"""INSERT INTO method_run_deltas (method, archived, status, runs, valued_runs)
        SELECT method, archived, status, count(*), count(*) FILTER (WHERE valued > 0)
        FROM (SELECT x.run_gradient_method AS method, {_ARCHIVED} AS archived,
                     {_STATUS} AS status, count(x.value) AS valued
              FROM run_objectives x WHERE {_NEW} AND x.run_gradient_method IS NOT NULL
              GROUP BY x.run_gradient_method, {_ARCHIVED}, {_STATUS}, x.run_pk) AS per_run
        GROUP BY method, archived, status""",
    f"""INSERT INTO method_objective_deltas (method, archived, status, name, rows, says_max,
            valued, pos_inf, neg_inf, nan, unsummable, n, s, q)
        SELECT x.run_gradient_method, {_ARCHIVED}, {_STATUS}, x.name, count(*),
               count(*) FILTER (WHERE x.direction = 'max'), count(x.value),
               count(*) FILTER (WHERE x.value = 'Infinity'::float8),
               count(*) FILTER (WHERE x.value = '-Infinity'::float8),
               count(*) FILTER (WHERE x.value = 'NaN'::float8),
               count(*) FILTER (WHERE NOT {_SUMMABLE} AND {_FINITE}
                                AND x.value <> 'NaN'::float8),
               count(*) FILTER (WHERE {_SUMMABLE}),
               coalesce(sum(x.value) FILTER (WHERE {_SUMMABLE}), 0),
               coalesce(sum(x.value * x.value) FILTER (WHERE {_SUMMABLE}), 0)
        FROM run_objectives x WHERE {_NEW} AND x.run_gradient_method IS NOT NULL
        GROUP BY x.run_gradient_method, {_ARCHIVED}, {_STATUS}, x.name""",
    f"""INSERT INTO method_pair_deltas (method, archived, status, a, b, n, sa, sb, sab)
        SELECT x.run_gradient_method, {_ARCHIVED}, {_STATUS}, x.name, y.name, count(*),
               sum(x.value), sum(y.value), sum(x.value * y.value)
        FROM run_objectives x JOIN run_objectives y
          ON y.run_pk = x.run_pk AND x.name < y.name
         AND y.run_gradient_method = x.run_gradient_method
         AND (CASE WHEN y.run_archived_at IS NULL THEN 0 ELSE 1 END) = {_ARCHIVED}
         AND coalesce(y.run_status, '') = {_STATUS}
        WHERE {_NEW} AND x.run_gradient_method IS NOT NULL AND {_SUMMABLE}
          AND {_summable("y")}
        GROUP BY x.run_gradient_method, {_ARCHIVED}, {_STATUS}, x.name, y.name""",
)


def _postgresql(bind: Session | Connection) -> bool:
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return dialect.name == "postgresql"


def fold(bind: Session | Connection) -> None:
    """Fold the waiting deltas into the sums in this transaction (PostgreSQL; the function
    skips when another transaction is folding)."""
    if _postgresql(bind):
        bind.execute(_FOLD)


def defer(session: Session) -> bool:
    """PostgreSQL: the row trigger counts nothing until :func:`count_new_runs` (this
    transaction only). Whether it was deferred."""
    if not _postgresql(session):
        return False
    session.execute(_DEFER, {"state": "on"})
    return True


def count_new_runs(session: Session, pks: Sequence[int]) -> None:
    """Add the contributions of the runs ``pks`` (primary keys), inserted whole, with every
    objective row they have, since :func:`defer`; and end the deferral."""
    session.execute(_DEFER, {"state": "off"})
    for statement in _COUNT_NEW_RUNS:
        session.execute(text(statement), {"pks": list(pks)})
