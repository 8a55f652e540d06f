"""The reversible JSON encoding: strict JSON out (no NaN tokens), exact floats back, user data
that looks like our tags never mistaken for them."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from equality import same
from hypothesis import given, settings
from hypothesis import strategies as st

from mangodb.codecs.jsontext import (
    ESCAPE_TAG,
    FLOAT_TAG,
    decode,
    encode,
    may_hold_long_integer,
    parse,
    plain_text,
)

keys = st.one_of(
    st.text(max_size=8),
    st.sampled_from([FLOAT_TAG, ESCAPE_TAG, "nan", "Infinity"]),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e300, 5e-324, 1e16, 2.0**70]),
    st.text(max_size=10),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=30,
)


def jsonb_like(text: str) -> Any:
    """Parse JSON the way PostgreSQL's jsonb keeps numbers: as decimals printed without an
    exponent, so an integral float written in exponent form comes back as an integer."""

    def number(raw: str) -> Any:
        value = Decimal(raw)
        integral = value == value.to_integral_value()
        return int(value) if integral and "e" in raw.lower() else float(raw)

    return json.loads(text, parse_float=number, parse_int=int)


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_encode_decode_roundtrip(value: Any) -> None:
    encoded = encode(value)
    text = json.dumps(encoded, allow_nan=False)  # strict JSON: would raise on NaN/Infinity
    assert same(decode(json.loads(text)), value)
    # What jsonb does to numbers cannot change the decoded value either.
    assert same(decode(jsonb_like(text)), value)


@pytest.mark.parametrize(
    ("value", "tagged"),
    [
        (math.nan, True),
        (math.inf, True),
        (-math.inf, True),
        (-0.0, True),
        (1e300, True),
        (1e16, True),
        (0.0, False),
        (1.5, False),
        (5e-324, False),
        (123.0, False),
    ],
)
def test_which_floats_are_tagged(value: float, tagged: bool) -> None:
    encoded = encode(value)
    assert isinstance(encoded, dict) is tagged
    if tagged:
        assert set(encoded) == {FLOAT_TAG}


def test_encode_never_changes_its_argument_and_plain_values_pass_through() -> None:
    """The promise (``encode``'s docstring): ``value`` itself when nothing needs a tag, else a
    copy, the argument unchanged."""
    plain = {"a": [1, 2.5, "text with 1e5 and -0.0 inside"], "b": {"c": None}}
    assert encode(plain) is plain
    special = {"a": [math.nan, {"b": -0.0}], "c": 1e300}
    snapshot = json.dumps(special)
    encoded = encode(special)
    assert encoded is not special and encoded["a"] is not special["a"]
    assert json.dumps(special) == snapshot
    assert same(decode(json.loads(json.dumps(encoded))), special)


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_encode_returns_the_value_itself_exactly_when_nothing_needs_a_tag(value: Any) -> None:
    encoded = encode(value)
    assert (encoded is value) is same(encoded, value)


def test_user_dicts_shaped_like_tags_are_escaped() -> None:
    for user in ({FLOAT_TAG: "nan"}, {ESCAPE_TAG: {"a": 1}}, {ESCAPE_TAG: 3}):
        encoded = encode(user)
        assert set(encoded) == {ESCAPE_TAG}
        assert decode(encoded) == user
    two_keys = {FLOAT_TAG: "nan", "other": 1}
    assert encode(two_keys) == two_keys and decode(two_keys) == two_keys


def test_tuples_become_lists_and_other_types_are_refused() -> None:
    assert encode({"t": (1, -0.0)}) == {"t": [1, {FLOAT_TAG: "-0.0"}]}
    assert decode(json.loads(json.dumps(encode({"t": (1, 2.5)})))) == {"t": [1, 2.5]}
    with pytest.raises(TypeError):
        encode({"s": {1, 2}})


def postgres_text(value: Any) -> str:
    """JSON text the way ``jsonb::text`` prints it: ", " and ": " separators, every number a
    plain decimal without exponent (0.000012345678901234567, 100000000000000000000)."""
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}: {postgres_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(postgres_text(v) for v in value) + "]"
    if isinstance(value, float) and math.isfinite(value):
        return format(Decimal(repr(value)), "f")
    return json.dumps(value)


plain_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**19, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 5e-324, 1.7976931348623157e308, 1e16, 1e19, 0.1 + 0.2]),
    st.text(max_size=12),  # incl. lone surrogates and digit strings
    st.from_regex(r"[0-9]{15,25}", fullmatch=True),
)
plain_values = st.recursive(
    plain_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(value=plain_values)
def test_parse_reads_every_text_exactly_as_json_does(value: Any) -> None:
    """The fast parser (orjson when it is exact) agrees with json.loads bit for bit, on the
    texts both dialects give back: compact SQLite text and jsonb's decimal-only text."""
    for text in (
        json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False),
        json.dumps(value, allow_nan=False),
        postgres_text(value),
    ):
        assert same(parse(text), json.loads(text)), text


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("[9223372036854775807]", True),  # 19 digits: a possible long integer, json reads it
        ("[123456789012345678901234567890]", True),
        ("123456789012345678901234567890", True),  # at the very start
        ('{"a": -18446744073709551616}', True),
        ("[0.000012345678901234567]", False),  # the fraction of a decimal
        ("[1.2345678901234567e-05]", False),
        ("[922337203685477580]", False),  # 18 digits: orjson reads it exactly
        ('["1234567890123456789"]', True),  # inside a string: a harmless detour
    ],
)
def test_which_texts_avoid_the_fast_parser(text: str, flagged: bool) -> None:
    assert may_hold_long_integer(text) is flagged
    assert same(parse(text), json.loads(text))


def test_long_integers_are_never_read_as_floats() -> None:
    for number in (2**64, -(2**63) - 1, 10**40):
        parsed = parse(json.dumps({"n": number, "pi": 3.14}))
        assert type(parsed["n"]) is int and parsed["n"] == number


@settings(max_examples=500, deadline=None)
@given(value=values)
def test_plain_text_is_only_given_for_documents_that_read_back_exactly(value: Any) -> None:
    """The fast writer (orjson, then C-speed checks) returns text only when that text reads
    back as the value itself, from SQLite's text and from what jsonb keeps of its numbers;
    otherwise None, and the value is tagged by encode()."""
    text = plain_text(value)
    if text is None:
        assert same(decode(json.loads(json.dumps(encode(value)))), value)
        return
    assert same(json.loads(text, parse_constant=_refuse), value)  # strict: no NaN tokens
    assert same(jsonb_like(text), value)


def _refuse(token: str) -> Any:
    raise AssertionError(f"{token} in stored JSON text")


def test_plain_text_refuses_what_jsonb_would_change() -> None:
    for value in ({"a": math.nan}, {"a": [None, -math.inf]}, {"a": -0.0}, {"a": 1e16}):
        assert plain_text(value) is None
    assert plain_text({"a": None, "b": 1e-7, "c": 2**70}) == f'{{"a":null,"b":1e-07,"c":{2**70}}}'
