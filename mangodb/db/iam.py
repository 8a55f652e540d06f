"""IAM authentication to RDS / Aurora PostgreSQL: no password on the training hosts.

``postgresql://USER@HOST:5432/DB?iam=true`` makes every new connection sign a fresh RDS auth
token (``rds.generate_db_auth_token``, valid 15 minutes, signed locally with the instance
role's credentials: no network call) and present it as the password. A token is never kept:
the next connection signs a new one, so an expired token is never reused. Tokens travel only
over TLS: ``sslmode`` defaults to ``verify-full`` (give the RDS CA bundle as
``sslrootcert=/path/global-bundle.pem``); ``require`` and ``verify-ca`` are accepted,
anything weaker is refused. The region comes from ``iam_region=``, else from an RDS host
name (``*.REGION.rds.amazonaws.com``), else from boto3's configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL

from mangodb.errors import InvalidDatabaseURL, MissingExtra

TokenProvider = Callable[[str, int, str, "str | None"], str]

_TRUE = ("1", "true", "yes", "on")
_TLS_MODES = ("require", "verify-ca", "verify-full")
_RDS_HOST = re.compile(r"\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.rds\.amazonaws\.com(?:\.cn)?$")


def rds_auth_token(host: str, port: int, user: str, region: str | None) -> str:
    """A fresh RDS auth token, signed by boto3 with the credentials it finds (instance role)."""
    try:
        import boto3
    except ImportError as error:
        raise MissingExtra("boto3 (RDS IAM authentication)", "aws") from error
    client = boto3.client("rds", region_name=region)
    token: str = client.generate_db_auth_token(
        DBHostname=host, Port=port, DBUsername=user, Region=region
    )
    return token


# What signs tokens; tests and unusual deployments may replace it (same signature).
token_provider: TokenProvider = rds_auth_token


@dataclass(frozen=True)
class IamAuth:
    host: str
    port: int
    user: str
    region: str | None

    def token(self) -> str:
        return token_provider(self.host, self.port, self.user, self.region)


def _flag(value: Any) -> bool:
    if isinstance(value, tuple):
        value = value[-1] if value else ""
    return str(value).strip().lower() in _TRUE


def iam_auth(url: URL) -> tuple[URL, IamAuth | None]:
    """``url`` without the IAM parameters and with TLS required, plus how to sign tokens; or
    ``url`` unchanged and None when it does not ask for IAM authentication."""
    if not _flag(url.query.get("iam", "")):
        if "iam_region" in url.query:
            raise InvalidDatabaseURL("iam_region= is only meaningful with iam=true")
        return url.difference_update_query(["iam"]), None
    if url.password:
        raise InvalidDatabaseURL(
            "a database URL with iam=true must not carry a password: the RDS auth token is "
            "the password"
        )
    if not url.username or not url.host:
        raise InvalidDatabaseURL("iam=true needs a user and a host: postgresql://USER@HOST/DB")
    sslmode = str(url.query.get("sslmode") or "verify-full")
    if sslmode not in _TLS_MODES:
        raise InvalidDatabaseURL(
            f"iam=true sends an auth token, which must travel over TLS: sslmode={sslmode} is "
            f"refused (use verify-full, the default, with sslrootcert=RDS CA bundle)"
        )
    region = url.query.get("iam_region")
    if isinstance(region, tuple):
        region = region[-1] if region else None
    if not region:
        found = _RDS_HOST.search(url.host)
        region = found.group("region") if found else None
    auth = IamAuth(host=url.host, port=url.port or 5432, user=url.username, region=region)
    cleaned = url.difference_update_query(["iam", "iam_region"]).update_query_dict(
        {"sslmode": sslmode}
    )
    return cleaned, auth
