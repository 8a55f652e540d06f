"""``query_runs(where=...)`` on both dialects: the language selects the right runs, and
injection attempts stay data (matched literally, never executed)."""

from __future__ import annotations

import datetime as dt

import pytest

from mangodb import ObjectiveCreate, RunCreate, RunRepository
from mangodb.errors import QuerySyntaxError
from mangodb.language.printer import quote

INJECTIONS = [
    "'; DROP TABLE runs; --",
    '"; DROP TABLE runs; --',
    "x' OR '1'='1",
    "\\'; DELETE FROM runs; --",
    "100%",
    "a_b",
    "back\\slash",
    '") OR 1=1 --',
]


@pytest.fixture
def campaign(repo: RunRepository) -> RunRepository:
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    runs = [
        RunCreate(
            run_id="a",
            gradient_method="pcgrad",
            batch_size=96,
            config={"data": {"batch_size": 96}, "a.b": {"c": 1}},
            tags=["best"],
        ),
        RunCreate(
            run_id="b",
            gradient_method="mgda",
            batch_size=64,
            config={"data": {"batch_size": 64}},
            created_at=old,
        ),
        RunCreate(
            run_id="c",
            gradient_method="pcgrad",
            batch_size=64,
            config={"data": {"batch_size": 64}},
            objectives=[ObjectiveCreate(name="hop")],
        ),
    ]
    runs += [
        RunCreate(run_id=f"inj{i}", model_name=text, config={"note": text})
        for i, text in enumerate(INJECTIONS)
    ]
    for run in runs:
        repo.insert_run(run)
    repo.update_run_status("a", "running")
    repo.update_run_status("a", "crashed")
    repo.update_run_status("c", "completed", final_metrics={"val/loss": 0.25})
    repo.update_objective_metric("c", "hop", 0.4)
    return repo


def ids(repo: RunRepository, where: str) -> set[str]:
    return {r.run_id for r in repo.query_runs(where=where)}


def test_where_selects_runs(campaign: RunRepository) -> None:
    assert ids(campaign, "status = crashed and method = pcgrad") == {"a"}
    assert ids(campaign, "method = pcgrad and config.data.batch_size = 96") == {"a"}
    assert ids(campaign, "config.data.batch_size < 96") == {"b", "c"}
    assert ids(campaign, "created > 7d and batch_size = 64") == {"c"}
    assert ids(campaign, "created < 7d") == {"b"}
    assert ids(campaign, "metric.val/loss < 0.5") == {"c"}
    assert ids(campaign, "objective.hop <= 0.4") == {"c"}
    assert ids(campaign, "tag = best") == {"a"}
    assert ids(campaign, 'config."a.b".c = 1') == {"a"}
    assert ids(campaign, "not method in (pcgrad) and run_id like 'inj%'") == set()  # SQL NULL
    assert ids(campaign, "method is null or not method = pcgrad") == {"b"} | {
        f"inj{i}" for i in range(len(INJECTIONS))
    }


def test_a_bare_date_selects_the_whole_day(campaign: RunRepository) -> None:
    day = campaign.get_run("c").created_at.astimezone(dt.timezone.utc).date().isoformat()
    same_day = ids(campaign, f"created = {day}")
    assert "c" in same_day and "b" not in same_day
    assert ids(campaign, f"created != {day}") == {"b"} | (
        ids(campaign, "run_id like '%'") - same_day
    )


def test_malformed_where_raises_query_syntax_error(campaign: RunRepository) -> None:
    with pytest.raises(QuerySyntaxError, match="did you mean 'crashed'"):
        campaign.query_runs(where="status = crashd")


@pytest.mark.parametrize("index", range(len(INJECTIONS)))
def test_injection_strings_are_matched_literally(campaign: RunRepository, index: int) -> None:
    text = INJECTIONS[index]
    literal = quote(text)
    assert ids(campaign, f"model = {literal}") == {f"inj{index}"}
    assert ids(campaign, f"config.note = {literal}") == {f"inj{index}"}
    assert ids(campaign, f"tag = {literal}") == set()
    assert ids(campaign, f"metric.{quote(text, chr(34))} > 0") == set()
    assert ids(campaign, f"config.{quote(text, chr(34))} = 1") == set()
    # The table survived and nothing was deleted.
    assert campaign.count_runs() == 3 + len(INJECTIONS)


def test_like_wildcards_inside_data_are_escaped_by_the_user(campaign: RunRepository) -> None:
    assert ids(campaign, r"model like '100\%'") == {"inj4"}
    assert ids(campaign, r"model like 'a\_b'") == {"inj5"}
    assert ids(campaign, "model like 'a_b'") == {"inj5"}


def test_like_and_name_prefix_are_case_sensitive_on_both_dialects(repo: RunRepository) -> None:
    """As docs/query-language.md says text compares; SQLite's LIKE folded ASCII case, so
    ``model_name like 'null'`` also found 'NULL' there and not on PostgreSQL."""
    repo.insert_run(RunCreate(run_id="Upper", model_name="NULL"))
    repo.insert_run(RunCreate(run_id="upper", model_name="null"))
    assert ids(repo, "model_name like 'null'") == {"upper"}
    assert ids(repo, "run_id like 'Up%'") == {"Upper"}
    assert [r.run_id for r in repo.query_runs(name_prefix="up")] == ["upper"]
