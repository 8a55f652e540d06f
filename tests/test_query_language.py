"""The run query language: grammar, typed literals, round-trips and error positions."""

from __future__ import annotations

import datetime as dt
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mangodb.errors import QuerySyntaxError
from mangodb.language import parse, to_text
from mangodb.language.semantics import BOOL_FIELDS, FLOAT_FIELDS, INT_FIELDS, TIME_FIELDS
from mangodb.runs.filters import (
    And,
    ConfigFilter,
    FieldFilter,
    Filter,
    MetricFilter,
    Not,
    ObjectiveFilter,
    Or,
    TagFilter,
)

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)
UTC = dt.timezone.utc


def p(text: str) -> Filter:
    return parse(text, now=NOW)


# -- what the language means ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status = crashed", FieldFilter("status", "=", "crashed")),
        ("STATUS = 'Crashed'", FieldFilter("status", "=", "crashed")),
        ("method = pcgrad", FieldFilter("method", "=", "pcgrad")),
        ('gradient_method != "mgda"', FieldFilter("gradient_method", "!=", "mgda")),
        ("batch_size >= 96", FieldFilter("batch_size", ">=", 96)),
        ("lr < 1e-3", FieldFilter("lr", "<", 0.001)),
        ("seed = -2", FieldFilter("seed", "=", -2)),
        ("spot = true", FieldFilter("spot", "=", True)),
        ("instance = i-0e4a3a096afeba3e4", FieldFilter("instance", "=", "i-0e4a3a096afeba3e4")),
        ("git_commit = 1234567", FieldFilter("git_commit", "=", "1234567")),
        ("ended is null", FieldFilter("ended", "is null")),
        ("ended is not null", FieldFilter("ended", "is not null")),
        ("ended = null", FieldFilter("ended", "is null")),
        ("model like 'resnet%'", FieldFilter("model", "like", "resnet%")),
        ("run_id like 'a\\_b%'", FieldFilter("run_id", "like", "a\\_b%")),
        ("status in (crashed, failed)", FieldFilter("status", "in", ("crashed", "failed"))),
        (
            "status not in (completed)",
            Not(FieldFilter("status", "in", ("completed",))),
        ),
        ("created > 7d", FieldFilter("created", ">", NOW - dt.timedelta(days=7))),
        ("ended < 2w", FieldFilter("ended", "<", NOW - dt.timedelta(weeks=2))),
        (
            "created >= 1d12h30m",
            FieldFilter("created", ">=", NOW - dt.timedelta(days=1, hours=12, minutes=30)),
        ),
        (
            "created >= 2026-11-01",
            FieldFilter("created", ">=", dt.datetime(2026, 11, 1, tzinfo=UTC)),
        ),
        (
            "created < 2026-11-01T10:30:00Z",
            FieldFilter("created", "<", dt.datetime(2026, 11, 1, 10, 30, tzinfo=UTC)),
        ),
        (
            "created < 2026-11-01T10:30:00+02:00",
            FieldFilter("created", "<", dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ),
        ("config.data.batch_size = 96", ConfigFilter(("data", "batch_size"), "=", 96)),
        ('config."a.b".c = x', ConfigFilter(("a.b", "c"), "=", "x")),
        ("config.layers.0 = 'conv'", ConfigFilter(("layers", "0"), "=", "conv")),
        ("config.amp = false", ConfigFilter(("amp",), "=", False)),
        (
            "config.optim.name in (adam, 'sgd', 3)",
            ConfigFilter(("optim", "name"), "in", ("adam", "sgd", 3)),
        ),
        ("metric.val/loss < 0.5", MetricFilter("val/loss", "<", 0.5)),
        ("metric.train.loss <= 2", MetricFilter("train.loss", "<=", 2)),
        ('metric."val loss" > 1', MetricFilter("val loss", ">", 1)),
        ("objective.hop is not null", ObjectiveFilter("hop", "is not null")),
        ("tag = best", TagFilter("best")),
        ("tags != 'bad'", Not(TagFilter("bad"))),
        ("tag in (a, b)", Or((TagFilter("a"), TagFilter("b")))),
    ],
)
def test_parses_to_typed_filters(text: str, expected: Filter) -> None:
    assert p(text) == expected


def test_a_bare_date_compared_for_equality_means_the_whole_day() -> None:
    day = dt.datetime(2026, 11, 1, tzinfo=UTC)
    whole_day = And(
        (
            FieldFilter("created", ">=", day),
            FieldFilter("created", "<", day + dt.timedelta(days=1)),
        )
    )
    assert p("created = 2026-11-01") == whole_day
    assert p("created != 2026-11-01") == Not(whole_day)
    assert p("created = 2026-11-01T00:00") == FieldFilter("created", "=", day)


def test_precedence_not_binds_tighter_than_and_tighter_than_or() -> None:
    a, b, c = (FieldFilter("seed", "=", i) for i in (1, 2, 3))
    assert p("seed = 1 or seed = 2 and seed = 3") == Or((a, And((b, c))))
    assert p("not seed = 1 and seed = 2") == And((Not(a), b))
    assert p("(seed = 1 or seed = 2) and seed = 3") == And((Or((a, b)), c))
    assert p("seed = 1 AND seed = 2 And seed = 3") == And((a, b, c))
    assert p("(seed = 1 and seed = 2) and seed = 3") == And((And((a, b)), c))


def test_string_escapes() -> None:
    assert p(r"model = 'it\'s \"x\" \\ \n é'") == FieldFilter("model", "=", 'it\'s "x" \\ \n é')
    assert p(r'model = "\u00e9"') == FieldFilter("model", "=", "é")


def test_values_are_plain_python_types() -> None:
    assert type(p("method = pcgrad").value) is str  # type: ignore[attr-defined]
    assert type(p("config.a = b").value) is str  # type: ignore[attr-defined]
    assert type(p("batch_size = 96").value) is int  # type: ignore[attr-defined]
    assert type(p("lr = 1.5").value) is float  # type: ignore[attr-defined]


def test_fields_are_all_typed_by_name() -> None:
    from mangodb.runs.filters import FIELDS

    typed = TIME_FIELDS | INT_FIELDS | FLOAT_FIELDS | BOOL_FIELDS
    assert typed <= set(FIELDS)


# -- errors point at the column of the problem ---------------------------------------------
@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("status = crashd", 10, "unknown status 'crashd', did you mean 'crashed'?"),
        ("stauts = crashed", 1, "unknown field 'stauts', did you mean 'status'?"),
        ("status = crashed and mehtod = mgda", 22, "did you mean 'method'?"),
        ("", 1, "empty query"),
        ("status =", 9, "expected a value, found end of query"),
        ("status crashed", 8, "expected an operator"),
        ("created > 7x", 11, "invalid number '7x'"),
        ("model = 'abc", 9, "unterminated string"),
        ("(status = running", 18, "expected ')'"),
        ("status = running)", 17, "expected 'and', 'or' or the end of the query"),
        ("status = running and", 21, "expected a field name"),
        ("batch_size = abc", 14, "batch_size compares with a number"),
        ("model = 7d", 9, "a duration compares only with time fields"),
        ("created > 12", 11, "created compares with a date or a duration"),
        ("metric.loss like 'a%'", 18, "'like' needs a text field"),
        ("metric.loss < 'low'", 15, "metric.loss compares with a number"),
        ("spot = 1", 8, "spot compares with true or false"),
        ("status = crashed @ x", 18, "unexpected character '@'"),
        ("config = 1", 8, "expected '.' after 'config'"),
        ("config. = 1", 9, "expected a config key after '.'"),
        ("tag like 'a%'", 1, "tag supports only =, != and in"),
        ("status is crashed", 11, "expected 'null'"),
        ("batch_size < null", 14, "null cannot be compared with '<'"),
        ("status in (crashed, null)", 21, "null cannot be in a list"),
        ("model = resnet.v2", 9, "a value containing '.' must be quoted"),
        ("batch_size.x = 1", 11, "field 'batch_size' has no sub-keys"),
        ("created > 2026-13-01", 11, "invalid datetime"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        p(text)
    assert caught.value.column == column
    assert message in caught.value.reason
    assert caught.value.text == text
    # The message shows the query with a caret under the column.
    lines = str(caught.value).splitlines()
    assert lines[-1].index("^") - 2 == column - 1


def test_deep_nesting_is_refused_not_a_crash() -> None:
    text = "(" * 500 + "seed = 1" + ")" * 500
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        p(text)
    assert p("(" * 50 + "seed = 1" + ")" * 50) == FieldFilter("seed", "=", 1)


# -- round-trip: filter trees -> text -> parse -> the same tree ------------------------------
# Query values are text a database can store: no lone surrogates, no NUL.
_text_values = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20
)
_keys = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=12
)
_numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
_datetimes = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
)
_compare_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
_null_ops = st.sampled_from(["is null", "is not null"])


def _comparison(
    op: st.SearchStrategy[str], value: st.SearchStrategy[object]
) -> st.SearchStrategy[tuple[str, object]]:
    return st.one_of(
        st.tuples(op, value),
        st.tuples(st.just("in"), st.lists(value, min_size=1, max_size=3).map(tuple)),
        st.tuples(_null_ops, st.none()),
    )


def _field(
    names: frozenset[str] | list[str],
    value: st.SearchStrategy[object],
    ops: st.SearchStrategy[str] = _compare_ops,
) -> st.SearchStrategy[Filter]:
    return st.builds(
        lambda name, opv: FieldFilter(name, opv[0], opv[1]),
        st.sampled_from(sorted(names)),
        _comparison(ops, value),
    )


def _config(path: list[str], opv: tuple[str, object]) -> ConfigFilter:
    """Well-typed: ``like`` takes text, true and false compare only with = and !=."""
    op, value = opv
    if (op == "like" and not isinstance(value, str)) or (
        isinstance(value, bool) and op in ("<", ">=")
    ):
        op = "="
    return ConfigFilter(tuple(path), op, value)


_text_fields = [
    "run_id",
    "model",
    "dataset",
    "instance",
    "gradient_method",
    "method",
    "region",
    "wandb",
]
_leaves = st.one_of(
    _field(_text_fields, _text_values),
    st.builds(lambda v: FieldFilter("model", "like", v), _text_values),
    _field(
        ["status"],
        st.sampled_from(["launched", "running", "completed", "failed", "crashed", "terminated"]),
    ),
    _field(INT_FIELDS, st.integers(min_value=-(10**12), max_value=10**12)),
    _field(FLOAT_FIELDS, st.floats(allow_nan=False, allow_infinity=False)),
    _field(BOOL_FIELDS, st.booleans(), st.sampled_from(["=", "!="])),
    _field(TIME_FIELDS, _datetimes),
    st.builds(
        _config,
        st.lists(_keys, min_size=1, max_size=3),
        _comparison(
            st.sampled_from(["=", "!=", "<", ">=", "like"]),
            st.one_of(_text_values, _numbers, st.booleans()),
        ),
    ),
    st.builds(
        lambda k, opv: MetricFilter(k, opv[0], opv[1]), _keys, _comparison(_compare_ops, _numbers)
    ),
    st.builds(
        lambda k, opv: ObjectiveFilter(k, opv[0], opv[1]),
        _keys,
        _comparison(_compare_ops, _numbers),
    ),
    st.builds(TagFilter, _text_values),
)


def _fix_like(item: Filter) -> Filter:
    """``like`` takes text only: keep generated like-comparisons well-typed."""
    if isinstance(item, ConfigFilter) and item.op == "like" and not isinstance(item.value, str):
        return ConfigFilter(item.path, "=", item.value)
    return item


_trees = st.recursive(
    _leaves.map(_fix_like),
    lambda children: st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(_trees)
def test_round_trip_tree_to_text_to_tree(tree: Filter) -> None:
    text = to_text(tree)
    assert p(text) == tree, text
    assert to_text(p(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_fails_with_a_position(text: str) -> None:
    try:
        p(text)
    except QuerySyntaxError as error:
        assert 1 <= error.column <= len(text) + 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"()=<>!,.'\" ",
                "and",
                "or",
                "not",
                "in",
                "status",
                "7d",
                "x",
                "1",
                "tag",
                "config",
                "is",
                "null",
            ]
        ),
        max_size=12,
    )
)
def test_token_soup_parses_or_fails_with_a_position(parts: list[str]) -> None:
    text = " ".join(parts)
    try:
        p(text)
    except QuerySyntaxError as error:
        assert 1 <= error.column <= len(text) + 1


@pytest.mark.parametrize("char", list(string.punctuation))
def test_any_character_in_a_quoted_value_is_data(char: str) -> None:
    value = f"a{char}b"
    assert p(to_text(FieldFilter("model", "=", value))) == FieldFilter("model", "=", value)


def test_every_example_of_the_reference_parses() -> None:
    from pathlib import Path

    reference = Path(__file__).resolve().parent.parent / "docs" / "query-language.md"
    examples = reference.read_text(encoding="utf-8").split("## Examples", 1)[1]
    block = examples.split("```text\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) >= 8
    for line in lines:
        assert to_text(p(line))
