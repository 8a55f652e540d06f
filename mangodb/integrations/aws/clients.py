"""boto3 clients the way mangodb wants them: imported lazily, standard retry mode with a
bounded number of attempts, finite timeouts. ``endpoint_url=None`` lets boto3 honour
``AWS_ENDPOINT_URL`` (how tests and LocalStack users point everything at a local server)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mangodb.errors import CloudError, MissingExtra, ValidationError

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_s3 import S3Client

FALLBACK_REGION = "us-east-1"
MAX_ATTEMPTS = 5  # standard mode: exponential backoff with jitter between attempts

# Error codes that mean "slow down": after the retries they become a per-run outcome.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "TooManyRequestsException",
        "503",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "Forbidden",
        "403",
        "UnauthorizedOperation",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    }
)


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as error:
        raise MissingExtra("boto3", "aws") from error
    return boto3


def client_config(max_attempts: int = MAX_ATTEMPTS) -> Config:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=30,
    )


def default_region() -> str:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or FALLBACK_REGION


def s3_client(
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> S3Client:
    client: S3Client = _client("s3", region, endpoint_url, max_attempts)
    return client


def ec2_client(
    region: str | None = None,
    *,
    endpoint_url: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> EC2Client:
    client: EC2Client = _client("ec2", region, endpoint_url, max_attempts)
    return client


def _client(service: str, region: str | None, endpoint_url: str | None, attempts: int) -> Any:
    """A boto3 client; a region or endpoint botocore refuses is a ``ValidationError``."""
    try:
        return _boto3().client(
            service,
            region_name=region or default_region(),
            endpoint_url=endpoint_url,
            config=client_config(attempts),
        )
    except ValueError as error:  # botocore's InvalidRegionError; a malformed endpoint URL
        raise ValidationError(f"cannot make an AWS {service} client: {error}") from error


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for other exceptions)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def cloud_error(operation: str, error: BaseException) -> CloudError:
    """A one-line ``CloudError`` for a failed AWS call (code and message, no traceback)."""
    code = error_code(error)
    text = str(error) if code is None else f"{code}: {_message(error)}"
    return CloudError(f"AWS {operation} failed: {text}")


def _message(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(error)


def botocore_errors() -> tuple[type[BaseException], ...]:
    """The exception types a boto3 call can raise (ClientError and transport errors)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)
