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

from mangodb.jsoncodec import ESCAPE_TAG, FLOAT_TAG, decode, encode

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
    plain = {"a": [1, 2.5, "text with 1e5 and -0.0 inside"], "b": {"c": None}}
    assert encode(plain) is plain or encode(plain) == plain
    special = {"a": [math.nan, {"b": -0.0}], "c": 1e300}
    snapshot = json.dumps(special)
    encoded = encode(special)
    assert json.dumps(special) == snapshot
    assert same(decode(json.loads(json.dumps(encoded))), special)


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
