"""The end of a copy: per table, the row count and content checksum on both sides, and on a
mismatch the keys of the rows that differ."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from mangodb.transfer.checksum import Scope, digest, row_hashes
from mangodb.transfer.tables import TableSpec, copied_tables

MAX_REPORTED_KEYS = 5


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    differences: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def target_scope(spec: TableSpec, offsets: Mapping[str, int]) -> Scope:
    """The target rows that came from the source, and the id shifts to undo on them."""
    column, bounded_by = spec.scope
    shifts = {c: offsets[parent] for c, parent in spec.references}
    if spec.own_id is not None:
        shifts[spec.own_id] = offsets[spec.name]
    return Scope(column=column, offset=offsets[bounded_by], shifts=shifts)


def _describe(key: tuple[Any, ...]) -> str:
    return ", ".join(map(repr, key)) if len(key) > 1 else repr(key[0])


def _differences(source: Engine, target: Engine, spec: TableSpec, scope: Scope) -> tuple[str, ...]:
    with source.connect() as src:
        theirs = row_hashes(src, spec)
    with target.connect() as tgt:
        ours = row_hashes(tgt, spec, scope)
    found: list[str] = []
    for key in sorted(set(theirs) | set(ours), key=repr):
        if key not in ours:
            found.append(f"{spec.name} {_describe(key)}: missing in the target")
        elif key not in theirs:
            found.append(f"{spec.name} {_describe(key)}: not in the source")
        elif ours[key] != theirs[key]:
            found.append(f"{spec.name} {_describe(key)}: content differs")
        if len(found) >= MAX_REPORTED_KEYS:
            break
    return tuple(found)


def verify_tables(
    source: Engine, target: Engine, offsets: Mapping[str, int] | None = None
) -> list[TableCheck]:
    """Compare every copied table of ``source`` with its rows in ``target``."""
    checks = []
    for spec in copied_tables():
        scope = target_scope(spec, offsets or {s.name: 0 for s in copied_tables()})
        with source.connect() as src:
            theirs = digest(src, spec)
        with target.connect() as tgt:
            ours = digest(tgt, spec, scope)
        check = TableCheck(spec.name, theirs.rows, ours.rows, theirs.checksum, ours.checksum)
        if not check.ok:
            differences = _differences(source, target, spec, scope)
            check = TableCheck(
                spec.name, theirs.rows, ours.rows, theirs.checksum, ours.checksum, differences
            )
        checks.append(check)
    return checks
