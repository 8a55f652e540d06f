"""The EC2 reconciler against moto's server: verdicts, evidence, batching, idempotence."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any

from hypothesis import given
from hypothesis import strategies as st

from mangodb import RunCreate, RunRepository
from mangodb.dto import InstanceRunRead
from mangodb.integrations.aws.instances import InstanceState, is_instance_id
from mangodb.integrations.aws.reconcile import Verdict, judge, reconcile
from mangodb.status import RunStatus

if TYPE_CHECKING:
    from moto_support import AwsClients

pytest_plugins = ["moto_support"]  # the moto server fixtures: moto_server, aws
REGION = "us-east-1"

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
OLD = NOW - dt.timedelta(hours=2)
RECENT = NOW - dt.timedelta(minutes=5)
GRACE = dt.timedelta(minutes=15)
HEARTBEAT_GRACE = dt.timedelta(minutes=30)


def never_launched_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


class DescribeCounter:
    """Counts DescribeInstances calls and the ids each one carried (a botocore event hook)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(params)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.ec2.DescribeInstances", self)
        return client


def _runs(prefix: str, instances: list[str], per_instance: int, **fields: Any) -> list[RunCreate]:
    return [
        RunCreate(run_id=f"{prefix}-{i:04d}-{k}", instance_id=iid, region=REGION, **fields)
        for i, iid in enumerate(instances)
        for k in range(per_instance)
    ]


def test_sweep_of_2500_runs(repo: RunRepository, aws: AwsClients) -> None:
    ids = aws.launch(400, per_call=50)  # 8 reservations: pages of 5 reservations paginate
    live, stopped, terminated = ids[:300], ids[300:350], ids[350:]
    aws.ec2.stop_instances(InstanceIds=stopped)
    aws.ec2.terminate_instances(InstanceIds=terminated)
    vanished = [never_launched_id() for _ in range(240)]
    running = {"status": RunStatus.RUNNING}
    runs = [
        *_runs("fresh", live[:290], 7, created_at=RECENT, **running),
        *_runs("silent", live[290:], 2, created_at=OLD, **running),  # heartbeat lost
        *_runs("stopped", stopped, 2, created_at=OLD),
        *_runs("term", terminated, 2, created_at=OLD, **running),
        *_runs("gone", vanished[:200], 1, created_at=OLD, **running),
        *_runs("young", vanished[200:], 1, created_at=NOW - dt.timedelta(minutes=1)),
        *[
            RunCreate(run_id=f"bad-{i}", instance_id=bad, created_at=OLD)
            for i, bad in enumerate(["i-zzz", "not-an-id", "i-", "I-0123456789ABCDEF0", " "] * 2)
        ],
    ]
    assert len(runs) == 2500
    ended = [
        RunCreate(run_id=f"done-{i}", instance_id=iid, status=RunStatus.COMPLETED, created_at=OLD)
        for i, iid in enumerate(terminated[:20])
    ]
    no_instance = [RunCreate(run_id=f"local-{i}", created_at=OLD) for i in range(10)]
    repo.insert_runs([*runs, *ended, *no_instance])
    before = repo.count_by_status()

    counter = DescribeCounter()
    ec2 = counter.attach(aws.client("ec2"))

    def sweep(dry_run: bool) -> Any:
        return reconcile(
            repo,
            grace=GRACE,
            heartbeat_grace=HEARTBEAT_GRACE,
            dry_run=dry_run,
            ec2_for_region=lambda region: ec2,
            now=NOW,
            page_size=5,
        )

    dry = sweep(dry_run=True)
    assert repo.count_by_status() == before, "a dry run changes nothing"
    assert dry.applied == []
    dry_calls, counter.calls = counter.calls, []

    report = sweep(dry_run=False)
    expected = {
        "terminated": 100 + 100 + 200,
        "crashed": 20,
        "alive": 2030,
        "not_yet_visible": 40,
        "invalid_id": 10,
    }
    assert report.counts() == expected
    assert dry.counts() == expected
    assert {(v.run_id, v.verdict, v.reason) for v in dry.verdicts} == {
        (v.run_id, v.verdict, v.reason) for v in report.verdicts
    }
    assert len(report.applied) == 420 and not any(v.lost_race for v in report.verdicts)

    # Batching: <= 200 ids per call, only well-formed ids, each once; pagination used.
    sent = [tuple(call["Filters"][0]["Values"]) for call in counter.calls]
    distinct = {chunk for chunk in sent}
    assert all(len(chunk) <= 200 for chunk in sent)
    assert sum(len(chunk) for chunk in distinct) == len({*ids, *vanished})
    assert all(is_instance_id(i) for chunk in distinct for i in chunk)
    assert len(distinct) == 4 and len(counter.calls) > len(distinct)
    assert all(call.get("MaxResults") == 5 for call in counter.calls)
    assert len(dry_calls) == len(counter.calls)

    statuses = Counter(
        (run.run_id.split("-")[0], run.status.value) for run in repo.query_runs(limit=None)
    )
    assert statuses == {
        ("fresh", "running"): 2030,
        ("silent", "crashed"): 20,
        ("stopped", "terminated"): 100,
        ("term", "terminated"): 100,
        ("gone", "terminated"): 200,
        ("young", "launched"): 40,
        ("bad", "launched"): 10,
        ("done", "completed"): 20,
        ("local", "launched"): 10,
    }

    stopped_run = repo.get_run("stopped-0000-0")
    event = stopped_run.events[-1]
    assert (event.from_status, event.to_status) == (RunStatus.LAUNCHED, RunStatus.TERMINATED)
    assert event.reason == "instance stopped" and event.source == "reaper"
    assert event.details is not None
    assert event.details["ec2_state"] == "stopped"
    assert event.details["state_reason_code"] == "Client.UserInitiatedShutdown"
    assert event.details["state_transition_reason"]
    assert event.details["checked_at"] == NOW.isoformat()
    assert event.details["instance_id"] == stopped[0]
    term_event = repo.get_run("term-0000-0").events[-1]
    assert term_event.reason == "instance terminated"
    assert term_event.details and term_event.details["ec2_state"] == "terminated"
    gone_event = repo.get_run("gone-0000-0").events[-1]
    assert gone_event.reason == "instance gone"
    assert gone_event.details and gone_event.details["ec2_state"] is None
    silent = repo.get_run("silent-0000-0").events[-1]
    assert silent.to_status is RunStatus.CRASHED and silent.reason == "heartbeat lost"
    assert silent.details and silent.details["heartbeat_age_seconds"] == 7200.0

    # A second sweep finds nothing to change and writes nothing.
    events_before = len(repo.get_run("fresh-0000-0").events)
    after_first = repo.count_by_status()
    again = sweep(dry_run=False)
    assert again.applied == []
    assert again.counts() == {**expected, "terminated": 0, "crashed": 0}
    assert repo.count_by_status() == after_first
    assert len(repo.get_run("fresh-0000-0").events) == events_before


def test_runs_are_asked_in_their_own_region(repo: RunRepository, aws: AwsClients) -> None:
    west = aws.client("ec2", "us-west-2")
    (west_id,) = aws.launch(1, ec2=west)
    (east_id,) = aws.launch(1)
    repo.insert_run(
        RunCreate(
            run_id="west",
            instance_id=west_id,
            region="us-west-2",
            created_at=OLD,
            status=RunStatus.RUNNING,
        )
    )
    repo.insert_run(RunCreate(run_id="east", instance_id=east_id, created_at=OLD))  # no region
    repo.insert_run(RunCreate(run_id="lost", instance_id=west_id, created_at=OLD))  # wrong region
    report = reconcile(repo, region=REGION, now=NOW, heartbeat_grace=dt.timedelta(days=1))
    verdicts = {v.run_id: (v.region, v.verdict) for v in report.verdicts}
    assert verdicts == {
        "west": ("us-west-2", Verdict.ALIVE),
        "east": (REGION, Verdict.ALIVE),
        "lost": (REGION, Verdict.TERMINATED),  # asked in the default region: not found there
    }
    assert report.describe_regions == [REGION, "us-west-2"]


def test_a_second_reaper_loses_the_race_quietly(repo: RunRepository, aws: AwsClients) -> None:
    (iid,) = aws.launch(1)
    aws.ec2.terminate_instances(InstanceIds=[iid])
    repo.insert_run(RunCreate(run_id="r", instance_id=iid, created_at=OLD))
    plan = reconcile(repo, dry_run=True, now=NOW)
    first = reconcile(repo, now=NOW)
    from mangodb.integrations.aws.reconcile import apply

    (late,) = apply(repo, [plan.verdicts[0]], source="reaper-2")  # judged before the first wrote
    assert first.applied[0].run_id == "r"
    assert late.lost_race and not late.applied
    run = repo.get_run("r")
    assert run.status is RunStatus.TERMINATED
    assert [e.applied for e in run.events if e.to_status is RunStatus.TERMINATED] == [True, False]


_STATES = st.sampled_from(
    ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
)


@given(
    status=st.sampled_from([RunStatus.LAUNCHED, RunStatus.RUNNING]),
    state=st.none() | _STATES,
    age=st.integers(min_value=0, max_value=10 * 86400),
    silence=st.integers(min_value=0, max_value=10 * 86400),
    reason_code=st.sampled_from(
        [None, "Server.SpotInstanceTermination", "Client.UserInitiatedShutdown"]
    ),
)
def test_judge_rules(
    status: RunStatus, state: str | None, age: int, silence: int, reason_code: str | None
) -> None:
    created = NOW - dt.timedelta(seconds=age)
    last = max(created, NOW - dt.timedelta(seconds=silence))
    run = InstanceRunRead(
        run_id="r",
        status=status,
        instance_id="i-0123456789abcdef0",
        region=None,
        created_at=created,
        started_at=None,
        heartbeat_at=last,
    )
    ec2 = InstanceState("i-0123456789abcdef0", state, reason_code) if state else None
    verdict = judge(run, ec2, region=REGION, now=NOW, grace=GRACE, heartbeat_grace=HEARTBEAT_GRACE)
    if state in ("stopping", "stopped", "shutting-down", "terminated"):
        assert verdict.verdict is Verdict.TERMINATED
        assert verdict.details["ec2_state"] == state
        assert (verdict.reason == "preempted") is (reason_code == "Server.SpotInstanceTermination")
    elif state is None:
        young = NOW - created < GRACE
        assert verdict.verdict is (Verdict.NOT_YET_VISIBLE if young else Verdict.TERMINATED)
    else:
        stale = NOW - last > HEARTBEAT_GRACE
        assert verdict.verdict is (Verdict.CRASHED if stale else Verdict.ALIVE)
    assert verdict.verdict.changes_run == bool(verdict.details)


@given(st.text(max_size=25))
def test_instance_id_shape(text: str) -> None:
    assert is_instance_id(text) == (
        text.startswith("i-")
        and len(text) in (10, 19)
        and all(c in "0123456789abcdef" for c in text[2:])
    )


def test_reap_cli_dry_run_then_real(repo: RunRepository, aws: AwsClients) -> None:
    from typer.testing import CliRunner

    from mangodb.cli import app

    (iid,) = aws.launch(1)
    aws.ec2.stop_instances(InstanceIds=[iid])
    repo.insert_run(RunCreate(run_id="cli-run", instance_id=iid, created_at=OLD))
    url = repo.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    dry = runner.invoke(app, ["reap", "--dry-run", "--url", url])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "cli-run" in dry.output
    assert repo.get_run("cli-run").status is RunStatus.LAUNCHED
    looped = runner.invoke(app, ["reap", "--url", url, "--loop", "0", "--iterations", "2"])
    assert looped.exit_code == 0, looped.output
    assert looped.output.count("reap at") == 2
    assert repo.get_run("cli-run").status is RunStatus.TERMINATED
    as_json = runner.invoke(app, ["reap", "--url", url, "--dry-run", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["verdicts"] == []  # already terminated: nothing to do
    bad = runner.invoke(app, ["reap", "--url", url, "--grace", "soon"])
    assert bad.exit_code == 1 and "invalid duration" in bad.output


def test_an_unreachable_region_leaves_its_runs_alone(repo: RunRepository, aws: AwsClients) -> None:
    import boto3
    from botocore.config import Config

    (iid,) = aws.launch(1)
    aws.ec2.stop_instances(InstanceIds=[iid])
    repo.insert_run(RunCreate(run_id="east", instance_id=iid, region=REGION, created_at=OLD))
    repo.insert_run(
        RunCreate(run_id="far", instance_id="i-0123456789abcdef0", region="ap-south-2",
                  created_at=OLD)
    )  # fmt: skip
    dead = boto3.client(  # nothing listens on port 9: connection refused, one attempt
        "ec2",
        endpoint_url="http://127.0.0.1:9",
        region_name="ap-south-2",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    report = reconcile(
        repo,
        now=NOW,
        ec2_for_region=lambda region: dead if region == "ap-south-2" else aws.client("ec2"),
    )
    assert list(report.failed_regions) == ["ap-south-2"]
    assert "DescribeInstances" in report.failed_regions["ap-south-2"]
    assert [v.run_id for v in report.applied] == ["east"]
    assert repo.get_run("far").status is RunStatus.LAUNCHED

    from typer.testing import CliRunner

    from mangodb.cli import app

    url = repo.engine.url.render_as_string(hide_password=False)
    repo.insert_run(RunCreate(run_id="east-2", instance_id=iid, created_at=OLD))
    result = CliRunner().invoke(app, ["reap", "--url", url, "--endpoint-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "EC2 could not be asked about some regions" in result.output
    assert "Traceback" not in result.output


def test_two_reapers_at_once_write_each_verdict_once(repo: RunRepository, aws: AwsClients) -> None:
    import threading

    repo.insert_runs(
        RunCreate(run_id=f"v{i:03d}", instance_id=never_launched_id(), created_at=OLD)
        for i in range(150)
    )
    url = repo.engine.url
    reports: list[Any] = []

    def reaper(name: str) -> None:
        other = RunRepository.connect(url)  # its own engine, as on another machine
        try:
            reports.append(reconcile(other, now=NOW, source=name))
        finally:
            other.close()

    threads = [threading.Thread(target=reaper, args=(f"reaper-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    applied = [{v.run_id for v in report.applied} for report in reports]
    assert len(reports) == 2 and not applied[0] & applied[1]
    assert len(applied[0] | applied[1]) == 150
    for run in repo.query_runs(limit=None):
        assert run.status is RunStatus.TERMINATED
        written = [e for e in run.events if e.to_status is RunStatus.TERMINATED and e.applied]
        assert len(written) == 1
