"""The declarative base: one naming convention for constraints, one type map."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Double, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase

from mangodb.db.types import JSONDocument, UTCDateTime

# Named constraints from the first migration on, so later migrations never guess names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        float: Double(),
        # SQLite only aliases INTEGER PRIMARY KEY to the rowid (autoincrement); BIGINT elsewhere.
        int: BigInteger().with_variant(Integer(), "sqlite"),
        dict[str, Any]: JSONDocument(),
        list[Any]: JSONDocument(),
    }
