"""Per-method sums of the objective values, kept by the database.

``method_report`` over all runs (the default question, and the compare page's) grouped every
objective row: at 100,000 runs x 9 objectives that is 900,000 rows, and Δm's interval grouped
them again by run for the covariances. Three tables now hold, per (gradient method, archive mark,
status), what those passes computed, and triggers on ``run_objectives`` keep them in the statement that
changes a row (every writer: the repository, ``db copy``, purges and cascades, raw SQL):

- ``method_run_sums``: the runs with an objective row, and with a value;
- ``method_objective_sums``: per objective, rows, declared directions, values by kind
  (summable, +Inf, -Inf, NaN, too large or small to square), and the count, sum and sum of
  squares of the summable ones;
- ``method_pair_sums``: per pair of objectives (a < b), over the runs with a summable value of
  both, their count and the sums of a, of b and of a*b.

A row's contribution is taken back with its old values and added with its new ones; its
pairs are formed with the other rows of its run that have the same method, archive mark and status,
as they are at that moment. SQLite runs row triggers as each row changes; PostgreSQL's are
BEFORE triggers, which see the rows an earlier row of the same statement changed (AFTER ROW
triggers would all see the statement's end, and a run moved to another method would count its
pairs twice). A PostgreSQL insert of a row that is there already (it fails, or ``ON CONFLICT
DO UPDATE`` takes the update path) is not counted; the update is. Every mangodb writer of a
run's objective rows locks the run's row first (an archive or a method change does, through
``runs``), so one run's rows never change in two transactions at once.

SQLite (one writer at a time) changes the sums in place, each sum with its Neumaier
compensation, so adding and taking back a value many times (a metric updated at every
evaluation) leaves no drift. PostgreSQL's writers append their changes to the
``method_*_deltas`` tables instead, which nobody waits on (sums rows updated by every writer
of a method would be locked until each commit, and a multi-run statement such as an archive
would deadlock with them); ``mangodb_method_sums_fold()`` moves the deltas into the sums, at
most one fold at a time, about once in 256 changes and at the end of each bulk batch. There
the sums are ``numeric`` and the deltas are added as ``numeric``: exact, so a value added and
taken back cancels whatever else was in flight. Readers add the sums and the waiting deltas.

``TRUNCATE run_objectives`` bypasses row triggers: truncate the ``method_*`` tables with it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("rows", "says_max", "valued", "pos_inf", "neg_inf", "nan", "unsummable", "n")


def _zero(name: str, kind: sa.types.TypeEngine[object]) -> sa.Column[object]:
    return sa.Column(name, kind, nullable=False, server_default=sa.text("0"))


def _create_tables() -> None:
    """Per prefix of ``_SUMMED``: the sums (keyed, each sum with its compensation) and the
    deltas waiting to be added to them (PostgreSQL's writers append there)."""
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    # The sums: numeric on PostgreSQL, exact (float8 on SQLite, with their compensations).
    exact = sa.Double().with_variant(sa.Numeric(), "postgresql")
    kinds = {"method": sa.String(64), "archived": sa.SmallInteger(), "status": sa.String(16)}
    for prefix, (key, counts, sums) in _SUMMED.items():

        def columns(compensated: bool) -> list[sa.Column[object]]:
            return [
                *(sa.Column(k, kinds.get(k, sa.String(255)), nullable=False) for k in key),
                *(_zero(c, big) for c in counts),
                *(
                    _zero(c, exact if compensated else sa.Double())
                    for x in sums
                    for c in ((x, f"{x}_c") if compensated else (x,))
                ),
            ]

        op.create_table(
            f"{prefix}_sums", *columns(True),
            sa.PrimaryKeyConstraint(*key, name=f"pk_{prefix}_sums"),
        )  # fmt: skip
        op.create_table(
            f"{prefix}_deltas", sa.Column("id", big, primary_key=True, autoincrement=True),
            *columns(False), sa.PrimaryKeyConstraint("id", name=f"pk_{prefix}_deltas"),
        )  # fmt: skip


class _Dialect(NamedTuple):
    """How one dialect spells the values the trigger statements test."""

    pos_inf: str
    neg_inf: str
    nan: str  # a condition on {v}
    create: str  # how a missing sums row is created: 'conflict' or 'not exists'


_POSTGRESQL = _Dialect(
    "'Infinity'::float8", "'-Infinity'::float8", "{v} = 'NaN'::float8", "conflict"
)
_SQLITE = _Dialect("9e999", "-9e999", "0", "not exists")


class _Image(NamedTuple):
    """One image of an objective row (OLD or NEW, or a function's parameters) and the sign
    its contribution is counted with."""

    run: str
    id: str
    name: str
    value: str
    direction: str
    method: str
    archived: str
    status: str
    sign: str


def _summable(v: str) -> str:
    return f"({v} = 0 OR (abs({v}) >= 1e-150 AND abs({v}) < 1e150))"


def _compensation(column: str, term: str) -> str:
    """Neumaier: what ``column + term`` loses, from the values before the update."""
    total = f"({column} + {term})"
    return (f'CASE WHEN abs({column}) >= abs({term}) THEN ({column} - {total}) + {term} '
            f'ELSE ({term} - {total}) + {column} END')  # fmt: skip


def _add(column: str, term: str) -> str:
    return f"{column} = {column} + {term}, {column}_c = {column}_c + {_compensation(column, term)}"


def _archived(alias: str) -> str:
    return f"(CASE WHEN {alias}.run_archived_at IS NULL THEN 0 ELSE 1 END)"


def _status(alias: str) -> str:
    return f"coalesce({alias}.run_status, '')"


def _create(d: _Dialect, table: str, columns: str, values: str, key: str, source: str) -> str:
    """Insert the zero rows ``values`` (a SELECT list over ``source``) that are missing."""
    if d.create == "conflict":
        return f"INSERT INTO {table} ({columns}) SELECT {values} {source} ON CONFLICT DO NOTHING"
    where = "AND" if "WHERE " in source else "WHERE"
    return (f'INSERT INTO {table} ({columns}) SELECT {values} {source} {where} NOT EXISTS '
            f'(SELECT 1 FROM {table} t WHERE {key})')  # fmt: skip


class _Terms(NamedTuple):
    """What one image contributes, as SQL expressions over the image and ``o``, its run's other
    rows of the same method and archive mark (``others``, for ``pairs``)."""

    others: str
    x: str  # the signed value where summable, else 0
    xx: str  # its signed square
    kinds: dict[str, str]  # count column -> signed 0/±1 expression
    lo: str  # the pair's first name
    hi: str
    ya: str  # the pair's signed value of its first objective
    yb: str
    yab: str  # the signed product
    pairs: str  # FROM ... WHERE of the pairs


def _terms(d: _Dialect, r: _Image, terms: tuple[str, str] | None) -> _Terms:
    m, a, s, v = r.method, r.archived, r.sign, r.value
    others = (f'o.run_pk = {r.run} AND o.id <> {r.id} AND o.run_gradient_method = {m} '
              f"AND {_archived('o')} = {a} AND {_status('o')} = {r.status}")  # fmt: skip
    # PostgreSQL passes the signed value and square as variables: it may fold a CASE branch
    # with a constant (a parameter of a custom plan) at planning and raise its overflow.
    x, xx = terms or (
        f"(CASE WHEN {_summable(v)} THEN {s} * {v} ELSE 0 END)",
        f"(CASE WHEN {_summable(v)} THEN {s} * {v} * {v} ELSE 0 END)",
    )
    conditions = {
        'rows': '1 = 1',
        'says_max': f"{r.direction} = 'max'",
        'valued': f'{v} IS NOT NULL',
        'pos_inf': f'{v} = {d.pos_inf}',
        'neg_inf': f'{v} = {d.neg_inf}',
        'nan': d.nan.format(v=v),
        'unsummable': (f'{v} IS NOT NULL AND NOT {_summable(v)} AND {v} <> {d.pos_inf} '
                       f'AND {v} <> {d.neg_inf} AND NOT ({d.nan.format(v=v)})'),
        'n': _summable(v),
    }  # fmt: skip
    first = f"{r.name} < o.name"
    return _Terms(
        others=others,
        x=x,
        xx=xx,
        kinds={c: f"CASE WHEN {k} THEN {s} ELSE 0 END" for c, k in conditions.items()},
        lo=f"CASE WHEN {first} THEN {r.name} ELSE o.name END",
        hi=f"CASE WHEN {first} THEN o.name ELSE {r.name} END",
        ya=f"{s} * CASE WHEN {first} THEN {v} ELSE o.value END",
        yb=f"{s} * CASE WHEN {first} THEN o.value ELSE {v} END",
        yab=f"{s} * {v} * o.value",
        pairs=f"FROM run_objectives o WHERE {others} AND {_summable('o.value')} AND {_summable(v)}",
    )


def _run_terms(t: _Terms, r: _Image) -> tuple[str, str]:
    """The signed change of the runs with a row, and with a value, of the image's method."""
    return (
        f"CASE WHEN EXISTS (SELECT 1 FROM run_objectives o WHERE {t.others}) "
        f"THEN 0 ELSE {r.sign} END",
        f"CASE WHEN {r.value} IS NULL OR EXISTS (SELECT 1 FROM run_objectives o "
        f"WHERE {t.others} AND o.value IS NOT NULL) THEN 0 ELSE {r.sign} END",
    )


def _sqlite_statements(r: _Image) -> list[str]:
    """SQLite (one writer at a time): add ``r``'s contribution to the sums in place."""
    t = _terms(_SQLITE, r, None)
    m, a, st = r.method, r.archived, r.status
    runs, valued = _run_terms(t, r)
    own = f"method = {m} AND archived = {a} AND status = {st}"

    def create(table: str, columns: str, values: str, key: str, source: str) -> str:
        where = "AND" if "WHERE " in source else "WHERE"
        return (f'INSERT INTO {table} ({columns}) SELECT {values} {source} {where} NOT EXISTS '
                f'(SELECT 1 FROM {table} t WHERE t.method = {m} AND t.archived = {a} '
                f'AND t.status = {st}{key})')  # fmt: skip

    return [
        create('method_run_sums', 'method, archived, status', f'{m}, {a}, {st}', '',
               f'WHERE {m} IS NOT NULL'),
        f"UPDATE method_run_sums SET runs = runs + {runs}, "
        f"valued_runs = valued_runs + {valued} WHERE {own}",
        create('method_objective_sums', 'method, archived, status, name', f'{m}, {a}, {st}, {r.name}',
               f' AND t.name = {r.name}', f'WHERE {m} IS NOT NULL'),
        f"""UPDATE method_objective_sums SET
            {', '.join(f'{c} = {c} + {k}' for c, k in t.kinds.items())},
            {_add('s', t.x)}, {_add('q', t.xx)}
        WHERE {own} AND name = {r.name}""",
        create('method_pair_sums', 'method, archived, status, a, b', f'{m}, {a}, {st}, {t.lo}, {t.hi}',
               f' AND t.a = {t.lo} AND t.b = {t.hi}', t.pairs),
        f"""UPDATE method_pair_sums SET
            n = n + {r.sign}, {_add('sa', 'p.ya')}, {_add('sb', 'p.yb')}, {_add('sab', 'p.yab')}
        FROM (SELECT {t.lo} AS pa, {t.hi} AS pb, {t.ya} AS ya, {t.yb} AS yb, {t.yab} AS yab
              {t.pairs}) AS p
        WHERE method_pair_sums.method = {m} AND method_pair_sums.archived = {a}
          AND method_pair_sums.status = {st}
          AND method_pair_sums.a = p.pa AND method_pair_sums.b = p.pb""",
    ]  # fmt: skip


def _postgresql_statements(r: _Image) -> list[str]:
    """PostgreSQL (many writers): append ``r``'s contribution to the delta tables, which no
    other writer waits on; :func:`_fold` adds them to the sums now and then."""
    t = _terms(_POSTGRESQL, r, ("v_x", "v_xx"))
    m, a, st = r.method, r.archived, r.status
    runs, valued = _run_terms(t, r)
    counts = ", ".join(t.kinds)
    return [
        f"""INSERT INTO method_run_deltas (method, archived, status, runs, valued_runs)
            SELECT {m}, {a}, {st}, d.runs, d.valued FROM (SELECT {runs} AS runs, {valued} AS valued) d
            WHERE d.runs <> 0 OR d.valued <> 0""",
        f"""INSERT INTO method_objective_deltas (method, archived, status, name, {counts}, s, q)
            VALUES ({m}, {a}, {st}, {r.name}, {', '.join(t.kinds.values())}, {t.x}, {t.xx})""",
        # (the pairs of a value that is not summable: none, no query)
        f"""IF {_summable(r.value)} THEN
            INSERT INTO method_pair_deltas (method, archived, status, a, b, n, sa, sb, sab)
            SELECT {m}, {a}, {st}, {t.lo}, {t.hi}, {r.sign}, {t.ya}, {t.yb}, {t.yab} {t.pairs};
        END IF""",
    ]  # fmt: skip


def _image(row: str, sign: int) -> _Image:
    return _Image(
        run=f'{row}.run_pk', id=f'{row}.id', name=f'{row}.name', value=f'{row}.value',
        direction=f'{row}.direction', method=f'{row}.run_gradient_method',
        archived=_archived(row), status=_status(row), sign=str(sign),
    )  # fmt: skip


_CHANGED = ("run_pk", "name", "value", "direction", "run_gradient_method", "run_status")


def _sqlite_up() -> list[str]:
    def body(*images: _Image) -> str:
        return ";\n".join(s for i in images for s in _sqlite_statements(i)) + ";"

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _CHANGED)
    changed += f" OR {_archived('OLD')} <> {_archived('NEW')}"
    columns = ", ".join((*_CHANGED, "run_archived_at"))
    copies = ", ".join(
        f"run_{f} = (SELECT {f} FROM runs WHERE id = NEW.run_pk)"
        for f in ("status", "gradient_method", "archived_at")
    )
    return [
        # A row moved to another run takes that run's copies (0009's SQLite triggers copy them
        # on insert and on the run's changes only; PostgreSQL's BEFORE trigger does this too):
        # the sums then move it to the new run's method, as the rows say.
        f"CREATE TRIGGER tr_run_objectives_moved AFTER UPDATE OF run_pk ON run_objectives "
        f"WHEN OLD.run_pk IS NOT NEW.run_pk\n"
        f"BEGIN\nUPDATE run_objectives SET {copies} WHERE id = NEW.id;\nEND",
        f"CREATE TRIGGER tr_run_objectives_sums_insert AFTER INSERT ON run_objectives\n"
        f"BEGIN\n{body(_image('NEW', 1))}\nEND",
        f"CREATE TRIGGER tr_run_objectives_sums_update AFTER UPDATE OF {columns} "
        f"ON run_objectives WHEN {changed}\n"
        f"BEGIN\n{body(_image('OLD', -1), _image('NEW', 1))}\nEND",
        f"CREATE TRIGGER tr_run_objectives_sums_delete AFTER DELETE ON run_objectives\n"
        f"BEGIN\n{body(_image('OLD', -1))}\nEND",
    ]


# Advisory locks are per database, not per schema: each key names the table it guards by its
# oid (as found on the search path when the function runs), so two mangodb schemas in one
# database never wait on each other, and the fold's key is never a run's. The fold: (oid of
# method_run_sums, 0), tried; an objective row being inserted: (oid of run_objectives, its
# run's key).
# The chance that a change folds the deltas into the sums (about every 256 changes, at most
# once per transaction, so a few thousand delta rows wait, which a report adds up in a few
# milliseconds). Bulk writers (insert_runs, db copy, archive, purge) fold at the end of each
# batch: ``SELECT mangodb_method_sums_fold()``, which a raw SQL bulk load should run too.
FOLD_CHANCE = 1 / 256

_SUMMED = {
    "method_run": (("method", "archived", "status"), ("runs", "valued_runs"), ()),
    "method_objective": (("method", "archived", "status", "name"), _COUNTS, ("s", "q")),
    "method_pair": (("method", "archived", "status", "a", "b"), ("n",), ("sa", "sb", "sab")),
}


def _fold() -> str:
    """Move every committed delta into the sums, one statement per table; at most one fold at
    a time (the others skip: the deltas wait for the next one)."""
    statements = []
    for prefix, (key, counts, sums) in _SUMMED.items():
        k, c = ", ".join(key), ", ".join((*counts, *sums))
        # Summed as numeric (each float8 rounded to 15 digits the same way each time): a value
        # added and taken back cancels exactly, however large the others in the batch.
        exact = [f"sum({x}::numeric)" for x in sums]
        added = [f"{x} = t.{x} + excluded.{x}" for x in counts]
        added += [f"{x} = t.{x} + excluded.{x}, {x}_c = t.{x}_c + "
                  f"{_compensation(f't.{x}', f'excluded.{x}')}" for x in sums]  # fmt: skip
        statements.append(
            f"""WITH moved AS (DELETE FROM {prefix}_deltas RETURNING {k}, {c})
            INSERT INTO {prefix}_sums AS t ({k}, {c})
            SELECT {k}, {", ".join((*(f"sum({x})" for x in counts), *exact))}
            FROM moved GROUP BY {k}
            ON CONFLICT ({k}) DO UPDATE SET {", ".join(added)}"""
        )
    body = ";\n".join(statements)
    return f"""
        CREATE OR REPLACE FUNCTION mangodb_method_sums_fold() RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            IF pg_try_advisory_xact_lock(
                   ('method_run_sums'::regclass::oid::bigint % 2147483647)::int, 0) THEN
                {body};
            END IF;
        END $$
        """


def _postgresql_up() -> list[str]:
    parameters = _Image(
        run='p_run', id='p_id', name='p_name', value='p_value', direction='p_direction',
        method='p_method', archived='p_archived', status='p_status', sign='p_sign',
    )  # fmt: skip
    apply = ";\n".join(_postgresql_statements(parameters))
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _CHANGED)
    changed += f" OR {_archived('OLD')} <> {_archived('NEW')}"

    def call(row: str, sign: int) -> str:
        return (f'PERFORM mangodb_method_sums_apply({row}.run_pk, {row}.id, {row}.name, '
                f"{row}.value, {row}.direction, {row}.run_gradient_method, "
                f"{_archived(row)}, {_status(row)}, {sign})")  # fmt: skip

    return [
        _fold(),
        f"""
        CREATE OR REPLACE FUNCTION mangodb_method_sums_apply(
            p_run bigint, p_id bigint, p_name text, p_value float8, p_direction text,
            p_method text, p_archived int, p_status text, p_sign int)
        RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            v_x float8 := 0;
            v_xx float8 := 0;
        BEGIN
            IF p_method IS NULL THEN
                RETURN;
            END IF;
            IF {_summable("p_value")} THEN
                v_x := p_sign * p_value;
                v_xx := p_sign * p_value * p_value;
            END IF;
            {apply};
            -- At most once per transaction: a bulk transaction folding again and again would
            -- scan the deltas it deleted itself, which only its end lets be pruned.
            IF random() < {FOLD_CHANCE}
               AND current_setting('mangodb.folded', true) IS DISTINCT FROM 'yes' THEN
                PERFORM set_config('mangodb.folded', 'yes', true);
                PERFORM mangodb_method_sums_fold();
            END IF;
        END $$
        """,
        f"""
        CREATE OR REPLACE FUNCTION mangodb_method_sums_row() RETURNS trigger
        LANGUAGE plpgsql
        -- The plans of its statements are cached for the session, made when the table was
        -- perhaps small, and made again only after an ANALYZE: without this, a session that
        -- started on an empty table looks a run's rows up by scanning them all, for ever.
        SET enable_seqscan = off
        AS $$
        BEGIN
            -- Set by the repository's bulk insert of new runs, which then adds their
            -- contributions in three grouped statements (mangodb/runs/method_deltas.py).
            IF current_setting('mangodb.defer_sums', true) = 'on' THEN
                RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
            END IF;
            IF TG_OP = 'INSERT' THEN
                IF NEW.run_gradient_method IS NOT NULL THEN
                    -- One insert of a run's objective row at a time: a row that is there
                    -- already (committed meanwhile) makes this insert fail, or update it
                    -- instead (ON CONFLICT DO UPDATE), and the update is what counts.
                    PERFORM pg_advisory_xact_lock((TG_RELID::bigint % 2147483647)::int,
                                                  (NEW.run_pk % 2147483647)::int);
                    -- (Nor one whose id is taken: ON CONFLICT DO NOTHING skips it.)
                    IF NOT EXISTS (SELECT 1 FROM run_objectives
                                   WHERE run_pk = NEW.run_pk AND name = NEW.name)
                       AND NOT EXISTS (SELECT 1 FROM run_objectives WHERE id = NEW.id) THEN
                        {call("NEW", 1)};
                    END IF;
                END IF;
                RETURN NEW;
            ELSIF TG_OP = 'UPDATE' THEN
                IF {changed} THEN
                    {call("OLD", -1)};
                    {call("NEW", 1)};
                END IF;
                RETURN NEW;
            END IF;
            {call("OLD", -1)};
            RETURN OLD;
        END $$
        """,
        # After tr_run_objectives_run_fields (names in order), which sets the copies first.
        """
        CREATE TRIGGER tr_run_objectives_sums
        BEFORE INSERT OR UPDATE OR DELETE ON run_objectives
        FOR EACH ROW EXECUTE FUNCTION mangodb_method_sums_row()
        """,
    ]


def _backfill(d: _Dialect) -> list[str]:
    """The sums of the rows already there, set-based (no trigger is involved)."""
    archived = _archived("x")
    status = _status("x")
    summable = _summable("x.value")
    kinds = {
        'rows': 'count(*)',
        'says_max': "count(CASE WHEN x.direction = 'max' THEN 1 END)",
        'valued': 'count(x.value)',
        'pos_inf': f'count(CASE WHEN x.value = {d.pos_inf} THEN 1 END)',
        'neg_inf': f'count(CASE WHEN x.value = {d.neg_inf} THEN 1 END)',
        'nan': f"count(CASE WHEN {d.nan.format(v='x.value')} THEN 1 END)",
        'unsummable': (f'count(CASE WHEN NOT {summable} AND x.value <> {d.pos_inf} AND '
                       f"x.value <> {d.neg_inf} AND NOT ({d.nan.format(v='x.value')}) THEN 1 END)"),
        'n': f'count(CASE WHEN {summable} THEN 1 END)',
        's': f'coalesce(sum(CASE WHEN {summable} THEN x.value END), 0)',
        'q': f'coalesce(sum(CASE WHEN {summable} THEN x.value * x.value END), 0)',
    }  # fmt: skip
    both = f"{summable} AND {_summable('y.value')}"
    return [
        f"""INSERT INTO method_run_sums (method, archived, status, runs, valued_runs)
            SELECT method, archived, status, count(*), count(CASE WHEN valued > 0 THEN 1 END)
            FROM (SELECT x.run_gradient_method AS method, {archived} AS archived,
                         {status} AS status, count(x.value) AS valued
                  FROM run_objectives x WHERE x.run_gradient_method IS NOT NULL
                  GROUP BY x.run_gradient_method, {archived}, {status}, x.run_pk) AS per_run
            GROUP BY method, archived, status""",
        f"""INSERT INTO method_objective_sums (method, archived, status, name, {", ".join(kinds)})
            SELECT x.run_gradient_method, {archived}, {status}, x.name,
                   {", ".join(kinds.values())}
            FROM run_objectives x WHERE x.run_gradient_method IS NOT NULL
            GROUP BY x.run_gradient_method, {archived}, {status}, x.name""",
        f"""INSERT INTO method_pair_sums (method, archived, status, a, b, n, sa, sb, sab)
            SELECT x.run_gradient_method, {archived}, {status}, x.name, y.name, count(*),
                   sum(x.value), sum(y.value), sum(x.value * y.value)
            FROM run_objectives x JOIN run_objectives y
              ON y.run_pk = x.run_pk AND x.name < y.name
             AND y.run_gradient_method = x.run_gradient_method
             AND {_archived("y")} = {archived} AND {_status("y")} = {status}
            WHERE x.run_gradient_method IS NOT NULL AND {both}
            GROUP BY x.run_gradient_method, {archived}, {status}, x.name, y.name""",
    ]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    _create_tables()
    for statement in _backfill(_POSTGRESQL if postgresql else _SQLITE):
        op.execute(statement)
    for statement in _postgresql_up() if postgresql else _sqlite_up():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tr_run_objectives_sums ON run_objectives")
        for function in ('mangodb_method_sums_row()',
                         'mangodb_method_sums_apply(bigint, bigint, text, float8, text, text, int, text, int)',
                         'mangodb_method_sums_fold()'):  # fmt: skip
            op.execute(f"DROP FUNCTION IF EXISTS {function}")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS tr_run_objectives_sums_{event}")
        op.execute("DROP TRIGGER IF EXISTS tr_run_objectives_moved")
    for prefix in reversed(_SUMMED):
        op.drop_table(f"{prefix}_deltas")
        op.drop_table(f"{prefix}_sums")
