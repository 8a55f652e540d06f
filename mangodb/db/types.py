"""Column types: timezone-aware UTC timestamps and lossless JSON documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ColumnElement, DateTime, Text, cast, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.type_api import _ResultProcessorType
from sqlalchemy.types import TypeDecorator, TypeEngine

from mangodb.codecs import jsontext


def utcnow() -> dt.datetime:
    """Now, in UTC (timestamps are stored aware)."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC. Naive datetimes are refused: their zone is a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a timezone")
        value = value.astimezone(dt.timezone.utc)
        # SQLite stores text; keep it naive-UTC there so text ordering equals time ordering.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class SerializedJSON(dict[str, Any]):
    """A JSON object together with its text, already produced (and checked) by
    ``JSONDocument``: ``dumps`` passes the text on instead of serialising the document a
    second time. Any other serialiser still sees an ordinary dict."""

    __slots__ = ("text",)

    def __init__(self, document: dict[str, Any], text: str) -> None:
        super().__init__(document)
        self.text = text


def dumps(value: Any) -> str:
    """Strict JSON text (no NaN tokens); the codec has already tagged special floats."""
    if type(value) is SerializedJSON:
        return value.text
    return jsontext.to_text(value)


class JSONDocument(TypeDecorator[Any]):
    """A JSON document (JSONB on PostgreSQL) whose floats round-trip exactly."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        text = jsontext.plain_text(value)
        if text is None:
            return jsontext.encode(value)
        return SerializedJSON(value, text) if isinstance(value, dict) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else jsontext.decode(value)

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any] | None:
        # Read the document as text (jsonb::text on PostgreSQL): the result processor below
        # then skips the decoding walk when no tag occurs in it, the common case.
        return type_coerce(cast(colexpr, Text), self)

    def result_processor(self, dialect: Dialect, coltype: object) -> _ResultProcessorType[Any]:
        def process(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            if isinstance(value, str):
                parsed = jsontext.parse(value)
                return jsontext.decode(parsed) if jsontext.TAG_PREFIX in value else parsed
            return jsontext.decode(value)  # a driver that parsed it already

        return process
