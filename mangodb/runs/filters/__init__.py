"""Typed run filters that compile to SQL expressions on SQLite and PostgreSQL.

Values are always bound parameters and JSON paths are passed as data, never spliced into SQL
text. The query language (``mangodb.language``) parses into these same objects.

    operators   Filter, And, Or, Not; Op and check_op; Ago (a moment relative to "now")
    fields      FIELDS (the run columns a filter may name), FieldFilter, PrefixFilter, TagFilter
    config      ConfigFilter and the JSON path lookups of each dialect
    metrics     MetricFilter and ObjectiveFilter (numeric bounds, NaN tests)
"""

from mangodb.runs.filters.config import ConfigFilter, pg_lookup, split_path, sqlite_lookup
from mangodb.runs.filters.fields import FIELDS, FieldFilter, PrefixFilter, TagFilter
from mangodb.runs.filters.metrics import MetricFilter, ObjectiveFilter
from mangodb.runs.filters.operators import (
    NAN_OPS,
    OPS,
    Ago,
    And,
    Filter,
    Not,
    Op,
    Or,
    check_op,
    like_prefix,
)

__all__ = [
    "FIELDS",
    "NAN_OPS",
    "OPS",
    "Ago",
    "And",
    "ConfigFilter",
    "FieldFilter",
    "Filter",
    "MetricFilter",
    "Not",
    "ObjectiveFilter",
    "Op",
    "Or",
    "PrefixFilter",
    "TagFilter",
    "check_op",
    "like_prefix",
    "pg_lookup",
    "split_path",
    "sqlite_lookup",
]
