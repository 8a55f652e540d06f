"""Configs and summaries come back exactly as written, on SQLite and PostgreSQL: unicode keys,
deep nesting, integers beyond 64 bits, NaN, ±Inf, -0.0, extreme floats, our own codec tags used
as user keys, and a 1 MB document."""

from __future__ import annotations

import math
import uuid
from typing import Any

from equality import same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mangodb import RunCreate, RunRepository
from mangodb.codecs.jsontext import ESCAPE_TAG, FLOAT_TAG

SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e300, -1e300, 5e-324, 1e20, 1.5]

keys = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
    st.sampled_from(
        [FLOAT_TAG, ESCAPE_TAG, "$", ".", "a.b", "ключ", "🥭", "'; DROP TABLE runs; --"]
    ),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(SPECIAL_FLOATS),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20),
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=25,
)
documents = st.dictionaries(keys, json_values, max_size=6)
ROUNDTRIP = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_same_is_strict() -> None:
    assert same({"a": [math.nan, 1]}, {"a": [math.nan, 1]})
    assert not same(-0.0, 0.0)
    assert not same(1, 1.0)
    assert not same(True, 1)
    assert not same({"a": 1}, {"a": 1, "b": 2})


@ROUNDTRIP
@given(config=documents)
def test_config_roundtrip(repo: RunRepository, config: dict[str, Any]) -> None:
    run_id = uuid.uuid4().hex
    inserted = repo.insert_run(RunCreate(run_id=run_id, config=config))
    stored = repo.get_run(run_id)
    assert same(stored.config, config)
    assert same(inserted.config, config)
    # The same document written again through update_run_status.
    updated = repo.update_run_status(run_id, config=config)
    assert same(updated.config, config)


@ROUNDTRIP
@given(summary=documents)
def test_summary_roundtrip(repo: RunRepository, summary: dict[str, Any]) -> None:
    run_id = uuid.uuid4().hex
    repo.insert_run(RunCreate(run_id=run_id))
    returned = repo.update_run_status(run_id, "completed", final_metrics_json=summary)
    assert same(returned.final_metrics, summary)
    assert same(repo.get_run(run_id).final_metrics, summary)


def test_special_numbers_in_config_and_summary(repo: RunRepository) -> None:
    doc = {
        "floats": SPECIAL_FLOATS,
        "big": [2**64, -(2**64) - 1, 10**40],
        "tags": {FLOAT_TAG: "nan", "n": 1},
        "only_tag": {FLOAT_TAG: "1.0"},
        "only_escape": {ESCAPE_TAG: {FLOAT_TAG: "inf"}},
    }
    summary = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "neg0": -0.0, "huge": 10**400}
    repo.insert_run(RunCreate(run_id="special", config=doc))
    repo.update_run_status("special", final_metrics=summary)
    run = repo.get_run("special")
    assert same(run.config, doc)
    assert same(run.final_metrics, summary)


def test_deep_nesting(repo: RunRepository) -> None:
    doc: dict[str, Any] = {"leaf": -0.0}
    for depth in range(150):
        doc = {f"level{depth}": doc, "i": depth} if depth % 2 else {f"l{depth}": [doc]}
    repo.insert_run(RunCreate(run_id="deep", config=doc))
    assert same(repo.get_run("deep").config, doc)


def test_one_megabyte_config(repo: RunRepository) -> None:
    config = {
        f"section_{i}": {
            "values": [i * 0.5, -i, math.inf if i % 7 == 0 else i / 3.0],
            "name": f"параметр-{i}-" + "x" * 40,
        }
        for i in range(9000)
    }
    encoded_size = len(repr(config))
    assert encoded_size > 1_000_000
    repo.insert_run(RunCreate(run_id="huge", config=config))
    assert same(repo.get_run("huge").config, config)
    assert (
        repo.query_runs(config={"section_8999.name": config["section_8999"]["name"]})[0].run_id
        == "huge"
    )
