"""Whether a history value can be stored is a property of the value alone: ``stored_form``
(the check the buffered writer makes when a row is logged) refuses exactly the values that
make ``pack`` refuse a chunk, and a chunk of accepted values is stored whatever their mix."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from history_values import BAD_VALUES, GOOD_VALUES, fingerprint
from hypothesis import given, settings
from hypothesis import strategies as st

from mangodb import RunRepository, ValidationError
from mangodb.history.columns import check_key
from mangodb.history.json_values import stored_form
from mangodb.history.packing import pack, unpack


def accepted(value: Any) -> bool:
    try:
        stored_form(value)
    except ValidationError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(values=st.lists(st.one_of(GOOD_VALUES, GOOD_VALUES, BAD_VALUES), min_size=1, max_size=6))
def test_a_chunk_is_refused_exactly_when_one_of_its_values_is(values: list[Any]) -> None:
    steps = list(range(len(values)))
    if not all(map(accepted, values)):
        with pytest.raises(ValidationError):
            pack(steps, values)
        return
    chunk = pack(steps, values)
    _, back = unpack(
        chunk.codec, chunk.first_step, chunk.last_step, chunk.point_count, chunk.steps,
        chunk.payload,
    )  # fmt: skip
    assert [fingerprint(v) for v in back] == [fingerprint(stored_form(v)) for v in values]
    assert [fingerprint(v) for v in back] == [fingerprint(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(value=GOOD_VALUES)
def test_every_good_value_is_accepted(value: Any) -> None:
    assert fingerprint(stored_form(value)) == fingerprint(value)


@settings(max_examples=50, deadline=None)
@given(value=BAD_VALUES)
def test_every_bad_value_is_refused_with_a_validation_error(value: Any) -> None:
    with pytest.raises(ValidationError, match=r"neither a number nor JSON|nests deeper than"):
        stored_form(value)


def test_numbers_of_other_types_beside_text_are_stored_as_float64(repo: RunRepository) -> None:
    """Before, a JSON chunk refused them: ``[Decimal(1), "a"]`` failed, ``[Decimal(1)]`` not."""
    repo.insert_run(run_id="r")
    repo.append_history(
        "r", [{"x": Decimal("1.5")}, {"x": "n/a"}, {"x": np.float32(0.25)}, {"x": np.int64(3)}]
    )
    assert repo.get_history("r")["x"].values == [1.5, "n/a", 0.25, 3.0]


def test_a_document_that_contains_itself_is_a_validation_error(repo: RunRepository) -> None:
    repo.insert_run(run_id="r")
    document: dict[str, Any] = {}
    document["self"] = document
    with pytest.raises(ValidationError):
        repo.append_history("r", [{"x": document}])
    assert repo.history_keys("r") == {}


def test_a_key_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValidationError, match="lone surrogate"):
        check_key("loss\ud800")
    assert check_key("val/énergie") == "val/énergie"


float64s = st.one_of(st.floats(), st.integers(-(2**60), 2**60))
other_numbers = st.one_of(
    st.floats(width=32).map(np.float32),
    st.integers(-(2**62), 2**62).map(np.int64),
    st.decimals(allow_nan=False, allow_infinity=False, places=12).filter(
        lambda d: abs(d) < 10**300
    ),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(float64s, other_numbers), min_size=1, max_size=8))
def test_chunk_extremes_are_those_of_the_stored_float64s(values: list[Any]) -> None:
    """``np.float32(1.0) < 1.00000001`` is False: extremes compared on the given objects
    were wrong (max 1.0 of [np.float32(1.0), 1.00000001])."""
    chunk = pack(list(range(len(values))), values)
    stored = [float(v) for v in values]
    kept = [v for v in stored if v == v]
    assert chunk.nan_count == len(stored) - len(kept)
    assert (chunk.min_value, chunk.max_value) == ((min(kept), max(kept)) if kept else (None, None))
