"""Cloud backfill: W&B states map onto ours, and recorded API payloads are written into
mangodb (history, summary, config, identity), idempotently, on both dialects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mangodb import RunCreate, RunRepository
from mangodb.errors import ConfigurationError, ValidationError
from mangodb.integrations.wandb import backfill, status_for_exit, status_for_state, write_payload
from mangodb.integrations.wandb.backfill import payload_from_api
from mangodb.integrations.wandb.keys import flatten
from mangodb.status import RunStatus

DATA = Path(__file__).parent / "data" / "wandb"
PAYLOADS = {p.stem: json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))}


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("pending", RunStatus.LAUNCHED),
        ("running", RunStatus.RUNNING),
        ("preempting", RunStatus.RUNNING),
        ("finished", RunStatus.COMPLETED),
        ("failed", RunStatus.FAILED),
        ("crashed", RunStatus.CRASHED),
        ("killed", RunStatus.TERMINATED),
        ("preempted", RunStatus.TERMINATED),
        ("Finished", RunStatus.COMPLETED),
    ],
)
def test_wandb_states_map_onto_run_statuses(state: str, status: RunStatus) -> None:
    verdict = status_for_state(state)
    assert verdict is not None and verdict.status is status
    assert verdict.reason == f"wandb state {state}"


def test_unknown_state_is_left_alone() -> None:
    assert status_for_state("zombie") is None


@pytest.mark.parametrize(
    ("code", "has_exit", "status"),
    [
        (0, True, RunStatus.COMPLETED),
        (1, True, RunStatus.FAILED),
        (255, True, RunStatus.FAILED),  # KeyboardInterrupt, as wandb records it
        (143, True, RunStatus.TERMINATED),  # SIGTERM
        (137, True, RunStatus.TERMINATED),  # SIGKILL
        (134, True, RunStatus.FAILED),  # SIGABRT: the program aborted itself
        (None, False, RunStatus.CRASHED),
    ],
)
def test_exit_records_map_onto_run_statuses(
    code: int | None, has_exit: bool, status: RunStatus
) -> None:
    assert status_for_exit(code, has_exit=has_exit).status is status


def expected_points(payload: dict[str, Any]) -> dict[str, dict[int, Any]]:
    points: dict[str, dict[int, Any]] = {}
    for raw in payload["history"]:
        row = flatten(raw)
        step = row.pop("_step")
        for key, value in row.items():
            if value is not None:
                points.setdefault(key, {})[step] = value
    return points


@pytest.mark.parametrize("wandb_id", sorted(PAYLOADS))
def test_recorded_payload_is_written(repo: RunRepository, wandb_id: str) -> None:
    payload = PAYLOADS[wandb_id]
    result = write_payload(repo, payload)
    assert result.created and result.run_id == wandb_id
    run = repo.get_run(wandb_id)
    assert run.status is status_for_state(payload["state"]).status  # type: ignore[union-attr]
    assert (run.wandb_entity, run.wandb_project, run.wandb_run_id) == ("deco-lab", "deco", wandb_id)
    assert run.wandb_url == payload["url"]
    assert run.created_at.isoformat().startswith("2025-05-01T10:00:00")
    if run.status.is_terminal:  # the last heartbeat W&B saw, not the time of the backfill
        assert run.ended_at is not None and run.ended_at.isoformat()[:19] == "2025-05-01T10:01:02"
    assert run.config == {k: v for k, v in payload["config"].items() if k != "_wandb"}
    assert run.final_metrics == {k: v for k, v in payload["summary"].items() if k != "_wandb"}
    history = repo.get_history(wandb_id)
    expected = expected_points(payload)
    assert set(history) == set(expected)
    for key, points in expected.items():
        assert dict(zip(history[key].steps, history[key].values, strict=True)) == points, key
    assert history["samples"].values[0]["_type"] == "image-file"  # media kept, not dropped
    assert write_payload(repo, payload).points_written == 0  # idempotent
    assert len(repo.get_run(wandb_id).events) == len(run.events)


def test_backfill_finds_the_tracked_run_and_gives_the_verdict(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="deco_hop_bs96_mgda", wandb_run_id="hzg69uzq"))
    repo.update_run_status("deco_hop_bs96_mgda", "running")
    repo.append_history("deco_hop_bs96_mgda", {"train/loss": ([0, 1], [2.0, 1.0])})
    result = write_payload(repo, PAYLOADS["hzg69uzq"])
    assert result.run_id == "deco_hop_bs96_mgda" and not result.created
    assert result.points_skipped == 2  # mirrored live already: kept, not duplicated
    run = repo.get_run("deco_hop_bs96_mgda")
    assert run.status is RunStatus.CRASHED
    assert run.events[-1].reason == "wandb state crashed"
    assert run.events[-1].source == "wandb-backfill"
    assert repo.get_history("deco_hop_bs96_mgda")["train/loss"].steps == list(range(6))


def test_a_verdict_already_given_stands(repo: RunRepository) -> None:
    repo.insert_run(RunCreate(run_id="done", wandb_run_id="hzg69uzq", status="completed"))
    write_payload(repo, PAYLOADS["hzg69uzq"])
    assert repo.get_run("done").status is RunStatus.COMPLETED


class RecordedRun:
    """A ``wandb.apis.public.Run`` as recorded: the attributes ``payload_from_api`` reads."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = payload
        for name in ("id", "entity", "project", "name", "state", "url", "config"):
            setattr(self, name, payload[name])
        self.created_at, self.heartbeat_at = payload["created_at"], payload["heartbeat_at"]
        self.summary_metrics = payload["summary"]

    def scan_history(self, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        yield from self._payload["history"]


class RecordedApi:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail

    def run(self, path: str) -> RecordedRun:
        if self.fail:
            raise self.fail
        return RecordedRun(PAYLOADS[path.split("/")[-1]])

    def runs(self, path: str) -> Iterator[RecordedRun]:
        assert path == "deco-lab/deco"
        return (RecordedRun(p) for p in PAYLOADS.values())


def test_backfill_a_project_and_one_run(repo: RunRepository) -> None:
    one = backfill(repo, "deco-lab/deco/runs/aumlqybe", api=RecordedApi())
    assert [r.run_id for r in one] == ["aumlqybe"]
    seen: list[str] = []
    results = backfill(
        repo, "deco-lab/deco", api=RecordedApi(), on_run=lambda r: seen.append(r.run_id)
    )
    assert sorted(seen) == sorted(PAYLOADS)
    points = {i: sum(map(len, expected_points(p).values())) for i, p in PAYLOADS.items()}
    assert one[0].points_written == points["aumlqybe"] > 0
    # aumlqybe was written by the first call: the second writes only the other runs' points.
    assert {r.run_id: r.points_written for r in results} == {**points, "aumlqybe": 0}
    assert repo.count_by_status() == {"completed": 1, "crashed": 1, "terminated": 1}


def test_payload_from_api_reads_full_history() -> None:
    payload = payload_from_api(RecordedRun(PAYLOADS["hwe6zhn3"]))
    assert list(payload["history"]) == PAYLOADS["hwe6zhn3"]["history"]


def test_bad_paths_and_w_and_b_errors_are_one_clear_error(repo: RunRepository) -> None:
    with pytest.raises(ValidationError, match="ENTITY/PROJECT"):
        backfill(repo, "just-a-project", api=RecordedApi())
    with pytest.raises(ValidationError, match="--run-id needs one run"):
        backfill(repo, "deco-lab/deco", api=RecordedApi(), run_id="x")
    with pytest.raises(ConfigurationError, match="network access and an API key"):
        backfill(repo, "deco-lab/deco/x", api=RecordedApi(fail=RuntimeError("401")))


def test_cli_says_it_needs_network_and_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mangodb.cli.app import app

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    outcome = CliRunner().invoke(app, ["backfill-wandb", "deco-lab/deco", "--url", url])
    assert outcome.exit_code == 1
    assert "needs network access and an API key" in outcome.output
    assert "Traceback" not in outcome.output
