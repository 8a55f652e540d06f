"""moto's ThreadedMotoServer for the AWS tests: a real HTTP endpoint on 127.0.0.1, started
once per session, reset before each test. Test modules load the fixtures with

    pytest_plugins = ["moto_support"]

and import names from here only under ``TYPE_CHECKING`` (an import at run time would come
before pytest could rewrite this module's asserts).
``aws`` also sets ``AWS_ENDPOINT_URL`` for the test, so code that builds its own clients
(the CLI, the Lambda handler, example scripts, subprocesses) reaches the same server.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"
START_TIMEOUT = 20.0  # ThreadedMotoServer.start() blocks forever when it cannot bind
# Few attempts and short timeouts: a failure in a test should be fast, not retried for long.
TEST_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=60
)
AMI = "ami-12c6146b"  # one of moto's built-in images


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    starter = threading.Thread(target=server.start, name="moto-start", daemon=True)
    starter.start()
    starter.join(START_TIMEOUT)
    if starter.is_alive():
        pytest.fail(f"moto server did not start within {START_TIMEOUT:.0f} s", pytrace=False)
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass(frozen=True)
class AwsClients:
    """Clients on the (reset) moto server, plus helpers to populate it."""

    endpoint: str
    s3: Any
    ec2: Any
    region: str = REGION

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=region, config=TEST_CONFIG
        )

    def launch(self, count: int, *, per_call: int = 50, ec2: Any = None) -> list[str]:
        """Launch ``count`` instances in calls of ``per_call`` (one reservation each)."""
        client = ec2 or self.ec2
        ids: list[str] = []
        while len(ids) < count:
            n = min(per_call, count - len(ids))
            answer = client.run_instances(
                ImageId=AMI, MinCount=n, MaxCount=n, InstanceType="t3.micro"
            )
            ids.extend(i["InstanceId"] for i in answer["Instances"])
        return ids


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    """Empty moto state, clients on it, and AWS_ENDPOINT_URL pointing at it."""
    reset(moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    make = AwsClients(moto_server, None, None).client
    return AwsClients(moto_server, make("s3"), make("ec2"))
