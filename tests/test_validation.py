"""Bad input is refused with a clear mangodb ``ValidationError`` before anything is written."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, cast

import pytest

from mangodb import (
    MangoDBError,
    ObjectiveCreate,
    RunCreate,
    RunRepository,
    RunStatus,
    ValidationError,
)

UTC = dt.timezone.utc


class Opaque:
    pass


BAD_RUNS: list[tuple[dict[str, Any], str]] = [
    ({"run_id": ""}, "run_id"),
    ({"run_id": "   "}, "run_id"),
    ({"run_id": "x" * 256}, "run_id"),
    ({"run_id": "nul\x00id"}, "NUL"),
    ({"run_id": "r", "status": "finished"}, "status"),
    ({"run_id": "r", "created_at": dt.datetime(2024, 1, 1)}, "created_at"),
    ({"run_id": "r", "config": {"s": {1, 2}}}, "set, not JSON"),
    ({"run_id": "r", "config": {"o": Opaque()}}, "Opaque, not JSON"),
    ({"run_id": "r", "config": {"d": dt.datetime.now(UTC)}}, "datetime, not JSON"),
    ({"run_id": "r", "config": {1: "a"}}, "not a string"),
    ({"run_id": "r", "config": {"a": {(1, 2): "b"}}}, "not a string"),
    ({"run_id": "r", "config": {"k\x00": 1}}, "NUL"),
    ({"run_id": "r", "config": {"k": "v\x00"}}, "NUL"),
    ({"run_id": "r", "config": {"k": "\ud800"}}, "surrogate"),
    ({"run_id": "r", "config": [1, 2]}, "config"),
    ({"run_id": "r", "batch_size": math.nan}, "batch_size"),
    ({"run_id": "r", "batch_size": 0}, "batch_size"),
    ({"run_id": "r", "batch_size": 2**70}, "batch_size"),
    ({"run_id": "r", "learning_rate": math.nan}, "learning_rate"),
    ({"run_id": "r", "learning_rate": math.inf}, "learning_rate"),
    ({"run_id": "r", "learning_rate": -0.1}, "learning_rate"),
    ({"run_id": "r", "seed": 2**64}, "seed"),
    ({"run_id": "r", "gradient_method": "m" * 65}, "gradient_method"),
    ({"run_id": "r", "region": "r" * 33}, "region"),
    ({"run_id": "r", "tags": [""]}, "tags"),
    ({"run_id": "r", "tags": ["t" * 256]}, "tags"),
    ({"run_id": "r", "objectives": [{"name": "hop"}, {"name": "hop"}]}, "unique"),
    ({"run_id": "r", "objectives": [{"name": "hop", "weight": math.nan}]}, "weight"),
    ({"run_id": "r", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_RUNS, ids=[m for _, m in BAD_RUNS])
def test_bad_run_fields_are_refused_before_any_write(
    repo: RunRepository, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as direct:
        RunCreate(**fields)
    assert isinstance(direct.value, MangoDBError)
    with pytest.raises(ValidationError, match=message):
        repo.insert_run(**fields)
    assert repo.count_runs() == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.update_run_status("r", "finished"), "unknown status"),
        (lambda r: r.update_run_status("r", RunStatus.RUNNING, expected_status="x"), "status"),
        (lambda r: r.update_run_status("r", expected_status="launched"), "needs a status"),
        (lambda r: r.update_run_status("r", ended_at=dt.datetime(2024, 1, 1)), "naive"),
        (lambda r: r.update_run_status("r", ended_at="yesterday"), "datetime"),
        (lambda r: r.update_run_status("r", total_training_steps=-1), "total_training_steps"),
        (lambda r: r.update_run_status("r", total_training_steps=1.5), "total_training_steps"),
        (lambda r: r.update_run_status("r", batch_size=math.nan), "batch_size"),
        (lambda r: r.update_run_status("r", learning_rate=math.nan), "learning_rate"),
        (lambda r: r.update_run_status("r", exit_code=2**70), "exit_code"),
        (lambda r: r.update_run_status("r", error_summary="a\x00b"), "NUL"),
        (lambda r: r.update_run_status("r", config={"s": {1}}), "set"),
        (lambda r: r.update_run_status("r", final_metrics={"s": {1}}), "set"),
        (lambda r: r.update_run_status("r", final_metrics={1: 0.5}), "not a string"),
        (lambda r: r.update_run_status("r", final_metrics={"k" * 600: 0.5}), "512"),
        (lambda r: r.update_run_status("r", details={"o": Opaque()}), "Opaque"),
        (lambda r: r.update_objective_metric("r", "hop", 0.1, step=-5), "step"),
        (lambda r: r.update_objective_metric("r", "hop", "high"), "number"),
        (lambda r: r.insert_objective("r", name=""), "name"),
        (lambda r: r.insert_objective("r", name="x", metric="m" * 600), "metric"),
        (lambda r: r.set_tags("r", add=["bad\x00tag"]), "NUL"),
        (lambda r: r.heartbeat("r", at=dt.datetime(2024, 1, 1)), "naive"),
    ],
)
def test_bad_updates_change_nothing(repo: RunRepository, call: Any, message: str) -> None:
    repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="hop")]))
    before = repo.get_run("r")
    with pytest.raises(ValidationError, match=message):
        call(repo)
    assert repo.get_run("r") == before


def test_validation_messages_name_the_field_and_the_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        RunCreate(run_id="r", config={"optim": {"betas": {0.9, 0.99}}})
    assert "optim.betas" in str(caught.value) and "set" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        RunCreate(run_id="", batch_size=-1)
    text = str(caught.value)
    assert "run_id" in text and "batch_size" in text


def _self_containing() -> dict[str, Any]:
    document: dict[str, Any] = {"lr": 0.1}
    document["again"] = {"inner": document}
    return document


def _cursor(payload: Any) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# Calls that once raised TypeError, AttributeError, UnicodeEncodeError, RecursionError,
# OverflowError, IndexError or SQLAlchemy's ArgumentError (issue 12, section 3).
MALFORMED_CALLS: list[tuple[str, Any, str]] = [
    ("set_tags add=True", lambda r: r.set_tags("r", add=True), "add"),
    ("query_runs objectives=0.5", lambda r: r.query_runs(objectives=0.5), "objectives"),
    ("get_history keys=5", lambda r: r.get_history("r", keys=5), "keys"),
    ("get_history keys=[5]", lambda r: r.get_history("r", keys=["a", 5]), "keys"),
    ("get_run surrogate", lambda r: r.get_run("\ud800"), "surrogate"),
    ("heartbeat surrogate", lambda r: r.heartbeat("\ud800"), "surrogate"),
    ("tag surrogate", lambda r: r.set_tags("r", add=["\udcff"]), "surrogate"),
    ("history key surrogate", lambda r: r.append_history("r", {"\ud800": [1.0]}), "surrogate"),
    ("where surrogate", lambda r: r.query_runs(where="run_id = '\ud800'"), "surrogate"),
    ("config key surrogate", lambda r: r.query_runs(config={"\ud800": 1}), "surrogate"),
    ("config value surrogate", lambda r: r.query_runs(config={"a": "\ud800"}), "surrogate"),
    ("metric surrogate", lambda r: r.query_runs(metrics={"\ud800": ("<", 1)}), "surrogate"),
    (
        "config contains itself",
        lambda r: r.update_run_status("r", config=_self_containing()),
        "contains itself",
    ),
    (
        "final metrics contain themselves",
        lambda r: r.set_final_metrics("r", _self_containing()),
        "contains itself",
    ),
    (
        "history value contains itself",
        lambda r: r.append_history("r", {"doc": [_self_containing()]}),
        "contains itself",
    ),
    ("objective 2**1100", lambda r: r.update_objective_metric("r", "hop", 2**1100), "double"),
    ("metric bound 2**1100", lambda r: r.query_runs(metrics={"m": ("<", 2**1100)}), "double"),
    ("config order 2**1100", lambda r: r.query_runs(config={"a": (">", 2**1100)}), "double"),
    ("cursor garbage", lambda r: r.query_runs_page(cursor="%%%"), "cursor"),
    ("cursor list", lambda r: r.query_runs_page(cursor=_cursor({"k": []})), "cursor"),
    ("cursor id", lambda r: r.query_runs_page(cursor=_cursor({"k": ["x", "y"]})), "cursor"),
    ("cursor offset", lambda r: r.query_runs_page(cursor=_cursor({"o": "z"})), "cursor"),
    ("cursor -offset", lambda r: r.query_runs_page(cursor=_cursor({"o": -1})), "cursor"),
    ("cursor naive", lambda r: r.query_runs_page(cursor=_cursor({"k": ["2024-01", 1]})), "cursor"),
    ("offset text", lambda r: r.query_runs(offset="ten"), "offset"),
    ("offset inf", lambda r: r.query_runs(offset=math.inf), "offset"),
    ("limit text", lambda r: r.query_runs(limit="5"), "limit"),
    ("spot >= true", lambda r: r.query_runs(where="spot >= true"), "true or false"),
    ("config < false", lambda r: r.query_runs(config={"a": ("<", False)}), "true and false"),
    ("text field = 5", lambda r: r.query_runs(gradient_method=5), "text"),
    ("where is not text", lambda r: r.query_runs(where=5), "where"),
    ("filter not text", lambda r: r.filter(5), "where"),
    ("insert_runs of dicts", lambda r: r.insert_runs([{"run_id": "x"}]), "RunCreate"),
]


@pytest.mark.parametrize(
    ("call", "message"), [c[1:] for c in MALFORMED_CALLS], ids=[c[0] for c in MALFORMED_CALLS]
)
def test_malformed_calls_raise_a_validation_error(
    repo: RunRepository, call: Any, message: str
) -> None:
    repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="hop")]))
    before = repo.get_run("r")
    with pytest.raises(ValidationError, match=message):
        call(repo)
    assert repo.get_run("r") == before


def test_integers_beyond_64_bits_compare_the_same_on_both_dialects(repo: RunRepository) -> None:
    """``=`` and ``!=`` compare exactly (as PostgreSQL's jsonb does); ordering compares as
    doubles, as it does for every number; run columns (64-bit) never equal such an integer."""
    values = {"big": 2**70, "edge": 2**63, "max": 2**63 - 1, "small": 5, "text": "2"}
    for name, value in values.items():
        repo.insert_run(run_id=name, config={"a": value}, batch_size=7)

    def ids(**criteria: Any) -> set[str]:
        return {run.run_id for run in repo.query_runs(**criteria)}

    assert ids(config={"a": 2**70}) == {"big"}
    assert ids(config={"a": 2**63}) == {"edge"}
    assert ids(config={"a": [2**63, 5]}) == {"edge", "small"}
    assert ids(config={"a": ("!=", 2**63)}) == {"big", "max", "small"}
    assert ids(config={"a": (">", 2**63)}) == {"big"}
    assert ids(config={"a": ("<", -(2**64))}) == set()
    assert ids(where="config.a = 1180591620717411303424") == {"big"}
    assert ids(batch_size=2**70) == set()
    assert ids(where="batch_size < 1180591620717411303424") == set(values)
    assert ids(where="batch_size > -1180591620717411303424 and seed != 2") == set()
    assert ids(where="batch_size in (7, 1180591620717411303424)") == set(values)


def test_documents_nest_up_to_the_limit_and_no_deeper(repo: RunRepository) -> None:
    from mangodb.dto import MAX_JSON_DEPTH

    def nested(levels: int) -> dict[str, Any]:
        """``levels`` containers, dicts and lists in turn, the outermost a dict."""
        doc: Any = {"leaf": -0.0, "nan": math.nan}  # tagged floats: the decoder walks it all
        for level in range(2, levels + 1):
            doc = {"d": doc} if (levels - level) % 2 == 0 else [doc]
        return cast(dict[str, Any], doc)

    def canonical(value: Any) -> str:  # NaN != NaN, and jsonb orders keys its own way
        return json.dumps(value, sort_keys=True)

    deepest = nested(MAX_JSON_DEPTH)
    repo.insert_run(run_id="deep", config=deepest)
    repo.set_final_metrics("deep", deepest)
    repo.append_history("deep", {"doc": [nested(MAX_JSON_DEPTH - 1)]})
    run = repo.get_run("deep")
    assert canonical(run.config) == canonical(deepest)
    assert canonical(run.final_metrics) == canonical(deepest)
    assert canonical(repo.get_history("deep")["doc"].values[0]) == canonical(
        nested(MAX_JSON_DEPTH - 1)
    )
    with pytest.raises(ValidationError, match="nests deeper"):
        repo.insert_run(run_id="deeper", config=nested(MAX_JSON_DEPTH + 1))
    with pytest.raises(ValidationError, match="nests deeper"):
        repo.append_history("deep", {"doc": [nested(MAX_JSON_DEPTH + 1)]})
