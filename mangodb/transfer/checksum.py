"""A content checksum of one table, computed the same way on SQLite and PostgreSQL.

Each row is serialised canonically from the values SQLAlchemy hands back through the model's
column types (so both dialects speak the same Python values): datetimes as UTC ISO text,
floats by ``float.hex`` (exact, NaN and ±Inf included), JSON documents as key-sorted dumps,
blobs by their SHA-256. The table digest is the sum of the rows' SHA-256 modulo 2**256: it
does not depend on row order (PostgreSQL and SQLite collate text keys differently) and, unlike
XOR, two identical rows do not cancel out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Double, Float, func, select

from mangodb.transfer.tables import TableSpec

_MODULUS = 1 << 256
_STREAM_ROWS = 1000


def canonical(value: Any, *, is_float: bool = False) -> Any:
    """A JSON-serialisable, dialect-independent form of one column value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if is_float or isinstance(value, float):
        number = float(value)
        # SQLite cannot keep the sign of a zero in a REAL column; the kind columns carry it.
        return "f:" + (0.0 if number == 0.0 else number).hex()
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        return "t:" + value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, (dict, list)):
        return "j:" + json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    raise TypeError(f"no canonical form for {type(value).__name__}")


def row_hash(values: Sequence[Any], float_columns: Sequence[bool]) -> int:
    items = [canonical(v, is_float=f) for v, f in zip(values, float_columns, strict=True)]
    line = json.dumps(items, separators=(",", ":"), allow_nan=True)
    return int.from_bytes(hashlib.sha256(line.encode()).digest(), "big")


@dataclass(frozen=True)
class Scope:
    """Which rows of a table to read and how to undo a ``--merge`` id shift: rows whose
    ``column`` exceeds ``offset``, with ``shifts[column]`` subtracted from each id column."""

    column: str
    offset: int
    shifts: Mapping[str, int]


def _float_columns(spec: TableSpec) -> list[bool]:
    return [isinstance(c.type, (Float, Double)) for c in spec.columns]


def rows(connection: Connection, spec: TableSpec, scope: Scope | None) -> Iterator[tuple[Any, ...]]:
    """The rows of ``spec`` (those in ``scope``), ids shifted back; streamed, unordered."""
    table = spec.table
    statement = select(*spec.columns)
    if scope is not None and scope.offset:
        statement = statement.where(table.c[scope.column] > scope.offset)
    names = [c.name for c in spec.columns]
    shifts = [(i, scope.shifts.get(n, 0)) for i, n in enumerate(names)] if scope else []
    shifts = [(i, s) for i, s in shifts if s]
    result = connection.execution_options(stream_results=True, yield_per=_STREAM_ROWS).execute(
        statement
    )
    for row in result:
        values = list(row)
        for i, shift in shifts:
            if values[i] is not None:
                values[i] -= shift
        yield tuple(values)


def key_of(spec: TableSpec, values: Sequence[Any]) -> tuple[Any, ...]:
    names = [c.name for c in spec.columns]
    return tuple(values[names.index(k)] for k in spec.key)


@dataclass(frozen=True)
class Digest:
    rows: int
    checksum: str


def digest(connection: Connection, spec: TableSpec, scope: Scope | None = None) -> Digest:
    floats = _float_columns(spec)
    total, count = 0, 0
    for values in rows(connection, spec, scope):
        total = (total + row_hash(values, floats)) % _MODULUS
        count += 1
    return Digest(rows=count, checksum=f"{total:064x}")


def row_hashes(
    connection: Connection, spec: TableSpec, scope: Scope | None = None
) -> dict[tuple[Any, ...], int]:
    """Per-key row hashes, to name the rows that differ once a digest disagrees."""
    floats = _float_columns(spec)
    return {key_of(spec, v): row_hash(v, floats) for v in rows(connection, spec, scope)}


def count_rows(connection: Connection, spec: TableSpec, scope: Scope | None = None) -> int:
    statement = select(func.count()).select_from(spec.table)
    if scope is not None and scope.offset:
        statement = statement.where(spec.table.c[scope.column] > scope.offset)
    return int(connection.scalar(statement) or 0)
