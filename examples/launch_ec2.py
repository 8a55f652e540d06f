#!/usr/bin/env python3
"""Launch one training run on EC2 and record it in mangodb first.

    python examples/launch_ec2.py --run-id deco_hop_bs96_mgda --config config.json \
        --image-id ami-0123456789abcdef0 --instance-type g5.2xlarge --spot \
        --train-command "python3 train.py --config config.json"

Order matters: the run is recorded (status ``launched``, its whole config, instance type,
region, spot flag) BEFORE ``run_instances``, so a run can never exist on EC2 without a row.
The instance id is added as soon as EC2 answers; a failed launch marks the run ``failed``.
The run id travels to the instance in its user data (``examples/ec2_user_data.sh``), which
pins this machine's mangodb version. The database URL does not: the instance reads it from
SSM Parameter Store (``--url-parameter``), because user data is readable by anyone allowed to
describe the instance.

``--endpoint-url`` points boto3 at another endpoint (moto, LocalStack) for tests.
Prints one JSON line: {"run_id": ..., "instance_id": ..., "region": ...}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mangodb import RunCreate, RunRepository
from mangodb.errors import MangoDBError
from mangodb.integrations.aws.clients import (
    botocore_errors,
    default_region,
    ec2_client,
    error_code,
)

USER_DATA = Path(__file__).with_name("ec2_user_data.sh")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--config", type=Path, help="JSON file with the run's whole config.")
    parser.add_argument("--image-id", required=True)
    parser.add_argument("--instance-type", default="g5.xlarge")
    parser.add_argument("--region", default=None, help="Default: AWS_DEFAULT_REGION.")
    parser.add_argument("--spot", action="store_true", help="Launch a spot instance.")
    parser.add_argument("--train-command", default="python3 train.py")
    parser.add_argument("--url", default=None, help="Database URL (default: MANGODB_URL).")
    parser.add_argument("--url-parameter", default="/mangodb/url", help="SSM parameter name.")
    parser.add_argument("--iam-instance-profile", default=None, help="Instance profile name.")
    parser.add_argument("--subnet-id", default=None)
    parser.add_argument("--key-name", default=None)
    parser.add_argument("--endpoint-url", default=None, help="AWS endpoint (tests).")
    return parser.parse_args(argv)


def mangodb_version() -> str:
    try:
        return version("mangodb")
    except PackageNotFoundError:
        return "0.1.0"


def user_data(run_id: str, train_command: str, url_parameter: str) -> str:
    """The hook script with this run's settings exported right below its shebang."""
    shebang, _, body = USER_DATA.read_text().partition("\n")
    settings = {
        "MANGODB_RUN_ID": run_id,
        "MANGODB_VERSION": mangodb_version(),
        "MANGODB_URL_PARAMETER": url_parameter,
        "TRAIN_COMMAND": train_command,
        "MANGODB_SHUTDOWN_WHEN_DONE": "1",
    }
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in settings.items())
    return f"{shebang}\n{exports}{body}"


def launch_request(args: argparse.Namespace, script: str) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ImageId": args.image_id,
        "InstanceType": args.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "UserData": script,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},  # IMDSv2
        # The hook powers the instance off when training ends: stop paying for it.
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": args.run_id},
                    {"Key": "mangodb:run_id", "Value": args.run_id},
                ],
            }
        ],
    }
    if args.spot:
        request["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"InstanceInterruptionBehavior": "terminate"},
        }
    if args.iam_instance_profile:
        request["IamInstanceProfile"] = {"Name": args.iam_instance_profile}
    if args.subnet_id:
        request["SubnetId"] = args.subnet_id
    if args.key_name:
        request["KeyName"] = args.key_name
    return request


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    region = args.region or default_region()
    config = json.loads(args.config.read_text()) if args.config else {}
    with RunRepository.connect(args.url, source="launcher") as repo:
        repo.insert_run(
            RunCreate(
                run_id=args.run_id,
                config=config,
                instance_type=args.instance_type,
                region=region,
                is_spot=args.spot,
                tags=["ec2"],
            )
        )
        ec2 = ec2_client(region, endpoint_url=args.endpoint_url)
        script = user_data(args.run_id, args.train_command, args.url_parameter)
        try:
            answer = ec2.run_instances(**launch_request(args, script))
        except botocore_errors() as error:  # record why the run never started
            repo.update_run_status(
                args.run_id,
                "failed",
                reason="launch failed",
                source="launcher",
                details={"error": str(error)[:500], "code": error_code(error)},
            )
            print(f"error: launch of {args.run_id} failed: {error}", file=sys.stderr)
            return 1
        instance_id = answer["Instances"][0]["InstanceId"]
        repo.update_run_status(args.run_id, instance_id=instance_id)
    print(json.dumps({"run_id": args.run_id, "instance_id": instance_id, "region": region}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MangoDBError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
