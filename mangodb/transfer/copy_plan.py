"""Before a copy: the source and target checked, and the plan: a fresh copy, the resumption
of an interrupted one (same source, progress rows in the target's ``mangodb_copy_state``) or
a merge into a target holding other runs (ids shifted past the target's), with the rows left
per table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, func, select

from mangodb.db import schema
from mangodb.db.models import CopyState, Run
from mangodb.errors import SchemaError, SchemaTooNew, TargetNotEmpty
from mangodb.settings import mask_url
from mangodb.transfer.checksum import count_rows
from mangodb.transfer.tables import TableSpec, copied_tables

STATE_TABLE: Table = CopyState.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class TableState:
    """One row of ``mangodb_copy_state``."""

    table_name: str
    source: str
    id_offset: int
    last_key: str | None
    rows_copied: int
    done: bool


@dataclass(frozen=True)
class TablePlan:
    name: str
    source_rows: int
    copied_rows: int
    done: bool
    id_offset: int


@dataclass(frozen=True)
class CopyPlan:
    source: str
    target: str
    mode: str  # "fresh", "resume" or "merge"
    tables: tuple[TablePlan, ...]

    @property
    def remaining_rows(self) -> int:
        return sum(max(t.source_rows - t.copied_rows, 0) for t in self.tables if not t.done)


def source_identity(engine: Engine) -> str:
    """How a copy names its source in the target (the URL without password)."""
    return mask_url(engine.url)


def _check_source(source: Engine) -> None:
    state = schema.schema_state(source)
    if state.is_empty:
        raise SchemaError(f"source {mask_url(source.url)} holds no mangodb database")
    if not state.is_current:
        schema.ensure_schema(source, auto_upgrade_empty=False)  # raises the precise error


def _prepare_target(target: Engine, *, dry_run: bool) -> bool:
    """Migrate the target to head (not on a dry run). Returns whether it has the schema."""
    state = schema.schema_state(target)
    if state.current is not None and state.current not in schema.known_revisions():
        raise SchemaTooNew(
            f"target {mask_url(target.url)} is at schema revision {state.current}, newer than "
            "this mangodb: upgrade the package first"
        )
    if state.is_current:
        return True
    if dry_run:
        return False
    schema.upgrade(target)
    return True


def has_rows(connection: Connection, spec: TableSpec) -> bool:
    return connection.scalar(select(spec.table.c[spec.key[0]]).limit(1)) is not None


def max_id(connection: Connection, spec: TableSpec) -> int:
    if spec.own_id is None:
        return 0
    return int(connection.scalar(select(func.max(spec.table.c[spec.own_id]))) or 0)


def _overlapping_run_ids(source: Connection, target: Connection) -> list[str]:
    """Run ids present on both sides (a merge would break their uniqueness)."""
    theirs = set(target.scalars(select(Run.run_id)))
    found = []
    for run_id in source.execution_options(stream_results=True, yield_per=5000).scalars(
        select(Run.run_id)
    ):
        if run_id in theirs:
            found.append(run_id)
            if len(found) >= 5:
                break
    return found


def plan_copy(
    source: Engine, target: Engine, *, merge: bool, dry_run: bool = False
) -> tuple[CopyPlan, dict[str, TableState] | None]:
    """Decide fresh / resume / merge and what is left to copy; refuse a foreign target."""
    _check_source(source)
    has_schema = _prepare_target(target, dry_run=dry_run)
    specs = copied_tables()
    identity = source_identity(source)
    with source.connect() as src:
        source_rows = {s.name: count_rows(src, s) for s in specs}
    states: dict[str, TableState] = {}
    offsets = {s.name: 0 for s in specs}
    mode = "fresh"
    if has_schema:
        with target.connect() as tgt:
            states = {row.table_name: row for row in load_states(tgt)}
            holds_data = any(has_rows(tgt, s) for s in specs)
            same_source = bool(states) and all(st.source == identity for st in states.values())
            if same_source:
                mode = "resume"
                offsets = {name: st.id_offset for name, st in states.items()}
            elif holds_data:
                if not merge:
                    other = next(iter(states.values())).source if states else None
                    what = f"a copy of {other}" if other else "mangodb data"
                    raise TargetNotEmpty(
                        f"target {mask_url(target.url)} already holds {what}; pass --merge to "
                        "add this source's runs to it (ids are renumbered), or use an empty target"
                    )
                with source.connect() as src:
                    clash = _overlapping_run_ids(src, tgt)
                if clash:
                    raise TargetNotEmpty(
                        f"cannot merge: run ids already in the target: {', '.join(clash)}"
                    )
                mode = "merge"
                offsets = {s.name: max_id(tgt, s) for s in specs}
                states = {}
    tables = tuple(
        TablePlan(
            name=s.name,
            source_rows=source_rows[s.name],
            copied_rows=states[s.name].rows_copied if s.name in states else 0,
            done=states[s.name].done if s.name in states else False,
            id_offset=offsets.get(s.name, 0),
        )
        for s in specs
    )
    plan = CopyPlan(source=identity, target=mask_url(target.url), mode=mode, tables=tables)
    return plan, (states if mode == "resume" else None)


def load_states(connection: Connection) -> list[TableState]:
    table = STATE_TABLE
    columns = [table.c[name] for name in TableState.__dataclass_fields__]
    return [TableState(*row) for row in connection.execute(select(*columns))]


def plan_offsets(plan: CopyPlan) -> dict[str, int]:
    return {t.name: t.id_offset for t in plan.tables}
