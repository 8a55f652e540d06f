"""End to end on moto's server: launch (examples/launch_ec2.py) -> train (real wandb offline,
mirrored by mangodb) -> the instance dies -> `mangodb reap` -> the run is `terminated` with
EC2's evidence. Plus the shutdown hook (examples/ec2_user_data.sh) with moto as IMDS."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner
from waiting import wait_for

from mangodb import RunCreate, RunRepository
from mangodb.cli import app
from mangodb.status import RunStatus

if TYPE_CHECKING:
    from moto_support import AwsClients

pytest_plugins = ["moto_support"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AMI = "ami-12c6146b"
TRAIN = textwrap.dedent(
    """
    import os, sys, time
    import wandb
    from mangodb.integrations.wandb import track

    run = wandb.init(project="e2e", dir=sys.argv[1], config={"lr": 0.1})
    with track(run, os.environ["MANGODB_URL"], os.environ["MANGODB_RUN_ID"],
               flush_seconds=0.2, heartbeat_seconds=1):
        for step in range(30):
            run.log({"loss": 1.0 / (step + 1)})
        print("READY", flush=True)
        time.sleep(600)  # the instance dies before this ends
    """
)


@pytest.fixture
def url(sqlite_url: URL) -> str:
    RunRepository.connect(sqlite_url).close()
    return sqlite_url.render_as_string(hide_password=False)


def test_launch_train_terminate_reap(aws: AwsClients, url: str, tmp_path: Path) -> None:
    config = {"model": {"name": "deco"}, "data": {"batch_size": 96}, "gradient_method": "mgda"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    launched = subprocess.run(
        [sys.executable, str(EXAMPLES / "launch_ec2.py"), "--run-id", "e2e-1",
         "--config", str(tmp_path / "config.json"), "--image-id", AMI,
         "--instance-type", "g5.xlarge", "--url", url, "--endpoint-url", aws.endpoint],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    answer = json.loads(launched.stdout)
    instance_id = answer["instance_id"]

    repo = RunRepository.connect(url)
    run = repo.get_run("e2e-1")
    assert (run.status, run.instance_id, run.region) == ("launched", instance_id, "us-east-1")
    assert run.config == config and run.instance_type == "g5.xlarge" and run.is_spot is False

    # The run id reaches the instance in its user data, with a pinned mangodb.
    behaviour = aws.ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    attribute = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    script = base64.b64decode(attribute["UserData"]["Value"]).decode()
    assert script.startswith("#!/bin/bash\nexport MANGODB_RUN_ID=e2e-1\n")
    assert "export MANGODB_VERSION=" in script and "mark-terminated --instance-id" in script
    run_id = next(
        line.split("=", 1)[1]
        for line in script.splitlines()
        if line.startswith("export MANGODB_RUN_ID=")
    )

    # Train: real wandb offline, mirrored into mangodb; then the "instance" dies (SIGKILL).
    (tmp_path / "train.py").write_text(TRAIN)
    env = {**os.environ, "MANGODB_URL": url, "MANGODB_RUN_ID": run_id, "WANDB_MODE": "offline"}
    trainer = subprocess.Popen(
        [sys.executable, str(tmp_path / "train.py"), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert trainer.stdout is not None
        assert trainer.stdout.readline().strip() == "READY"
        wait_for(
            lambda: repo.history_keys(run_id).get("loss") == 30, "the mirrored history", 120
        )
    finally:
        trainer.kill()
        trainer.wait(timeout=60)
    training = repo.get_run(run_id)
    assert training.status is RunStatus.RUNNING and training.wandb_run_id

    aws.ec2.terminate_instances(InstanceIds=[instance_id])
    reaped = CliRunner().invoke(app, ["reap", "--url", url])
    assert reaped.exit_code == 0, reaped.output
    assert "e2e-1" in reaped.output

    final = repo.get_run(run_id)
    assert final.status is RunStatus.TERMINATED
    event = final.events[-1]
    assert (event.from_status, event.reason, event.source) == (
        RunStatus.RUNNING, "instance terminated", "reaper",
    )  # fmt: skip
    assert event.details is not None
    assert event.details["ec2_state"] == "terminated"
    assert event.details["instance_id"] == instance_id
    assert event.details["state_reason_code"] == "Client.UserInitiatedShutdown"
    assert repo.get_history(run_id)["loss"].values[-1] == pytest.approx(1 / 30)
    repo.close()


def test_failed_launch_marks_the_run_failed(aws: AwsClients, url: str) -> None:
    launched = subprocess.run(
        [sys.executable, str(EXAMPLES / "launch_ec2.py"), "--run-id", "bad-launch",
         "--image-id", AMI, "--subnet-id", "subnet-nope", "--url", url,
         "--endpoint-url", aws.endpoint],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert launched.returncode == 1 and "launch of bad-launch failed" in launched.stderr
    with RunRepository.connect(url) as repo:
        run = repo.get_run("bad-launch")
        assert run.status is RunStatus.FAILED and run.instance_id is None
        assert run.events[-1].reason == "launch failed"
        assert run.events[-1].details == {
            "code": "InvalidSubnetID.NotFound",
            "error": launched.stderr.split("failed: ", 1)[1].strip(),
        }


def hook_env(url: str, endpoint: str, command: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # where the `mangodb` console script lives
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MANGODB_RUN_ID": "hooked",
        "MANGODB_URL": url,
        "MANGODB_SKIP_INSTALL": "1",
        "MANGODB_IMDS_ENDPOINT": endpoint,  # moto serves IMDSv2: instance id "i-fake"
        "MANGODB_SPOT_POLL_SECONDS": "1",
        "TRAIN_COMMAND": command,
    }


def finish(process: subprocess.Popen[str], seen: str = "") -> str:
    """Wait for the hook; on a hang kill its whole process group and show what it logged."""
    try:
        _, errors = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, errors = process.communicate()
        pytest.fail(f"the hook did not exit:\n{seen}{errors}")
    return seen + errors


def test_shutdown_hook_marks_the_run_terminated(aws: AwsClients, url: str) -> None:
    with RunRepository.connect(url) as repo:
        repo.insert_run(RunCreate(run_id="hooked", instance_id="i-fake", status="running"))
    hook = subprocess.Popen(
        ["bash", str(EXAMPLES / "ec2_user_data.sh")],
        # A trainer with a child of its own: the hook must stop the whole process group,
        # else the orphaned `sleep` keeps stderr open and finish() reports a hang.
        env=hook_env(url, aws.endpoint, "sleep 120 & wait"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert hook.stderr is not None
    seen = []
    for line in hook.stderr:
        seen.append(line)
        if "training started" in line:
            break
    hook.send_signal(signal.SIGTERM)
    errors = finish(hook, "".join(seen))
    assert hook.returncode == 143, errors
    with RunRepository.connect(url) as repo:
        run = repo.get_run("hooked")
    assert run.status is RunStatus.TERMINATED
    event = run.events[-1]
    assert (event.reason, event.source) == ("shutdown", "shutdown-hook")
    assert event.details and event.details["instance_id"] == "i-fake"


def test_shutdown_hook_leaves_a_finished_run_alone(aws: AwsClients, url: str) -> None:
    with RunRepository.connect(url) as repo:
        repo.insert_run(RunCreate(run_id="hooked", instance_id="i-fake", status="running"))
    done = subprocess.Popen(
        ["bash", str(EXAMPLES / "ec2_user_data.sh")],
        env=hook_env(url, aws.endpoint, "exit 3"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    errors = finish(done)
    assert done.returncode == 3, errors
    assert "training exited with code 3" in errors
    with RunRepository.connect(url) as repo:
        run = repo.get_run("hooked")
    assert run.status is RunStatus.CRASHED, errors
    assert run.events[-1].reason == "exit code 3"


def test_mark_terminated_cli(url: str) -> None:
    with RunRepository.connect(url) as repo:
        repo.insert_run(RunCreate(run_id="a", instance_id="i-0123456789abcdef0", status="running"))
        repo.insert_run(RunCreate(run_id="b", instance_id="i-0123456789abcdef0"))
        repo.insert_run(RunCreate(run_id="c", status="completed"))
        repo.insert_run(RunCreate(run_id="d"))
    runner = CliRunner()
    by_instance = runner.invoke(
        app, ["runs", "mark-terminated", "--instance-id", "i-0123456789abcdef0", "--url", url]
    )
    assert by_instance.exit_code == 0, by_instance.output
    assert "a: terminated" in by_instance.output and "b: terminated" in by_instance.output
    again = runner.invoke(
        app, ["runs", "mark-terminated", "--instance-id", "i-0123456789abcdef0", "--url", url]
    )
    assert again.exit_code == 0 and "nothing to do" in again.output
    finished = runner.invoke(app, ["runs", "mark-terminated", "c", "--url", url])
    assert finished.exit_code == 0 and "already completed" in finished.output
    by_id = runner.invoke(app, ["runs", "mark-terminated", "d", "--reason", "manual", "--url", url])
    assert by_id.exit_code == 0 and "d: terminated (reason: manual)" in by_id.output
    neither = runner.invoke(app, ["runs", "mark-terminated", "--url", url])
    assert neither.exit_code == 1 and "either a RUN_ID or --instance-id" in neither.output
    missing = runner.invoke(app, ["runs", "mark-terminated", "zzz", "--url", url])
    assert missing.exit_code == 1 and "run not found" in missing.output
    with RunRepository.connect(url) as repo:
        assert repo.get_run("a").events[-1].reason == "shutdown"
        assert repo.get_run("c").status is RunStatus.COMPLETED
