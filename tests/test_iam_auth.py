"""IAM authentication (``?iam=true``) against a real PostgreSQL that checks passwords and speaks
TLS: a throwaway cluster (tests/faults/fault_cluster.py) with scram-sha-256 and a self-signed
certificate. The token signer is stubbed to return the role's current password, as RDS would
accept the token it signed: every new pool connection asks for a token, a rotated (expired)
token is never reused, the connection is encrypted and verified against the given CA, and no
token appears in any error or CLI output.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REQUIRE_PG
from faults.fault_cluster import PgCluster, cluster_problem, server_bindir
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import mangodb.db.iam as iam
from mangodb import DatabaseUnavailable, InvalidDatabaseURL, RunRepository
from mangodb.cli import app
from mangodb.db.engine import make_engine
from mangodb.settings import parse_url

ROLE = "iam_trainer"


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PgCluster, Path]]:
    problem = cluster_problem()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"{problem} (PostgreSQL is required in CI)", pytrace=False)
        pytest.skip(problem)
    bindir = server_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="mangodb-pg-"))  # the postgres user must reach it
    cluster = PgCluster(bindir, root)
    try:
        cluster.init()
        cert, key = cluster.data / "server.crt", cluster.data / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
        key.chmod(0o600)
        if cluster.as_postgres:
            for path in (cert, key):
                subprocess.run(["chown", "postgres:postgres", str(path)], check=True)
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        cluster.start()
        ca = tmp_path_factory.mktemp("iam") / "ca.crt"
        ca.write_bytes(cert.read_bytes())
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'token-1'"))
            connection.execute(text(f"CREATE DATABASE iam OWNER {ROLE}"))
        admin.dispose()
        yield cluster, ca
    finally:
        cluster.teardown()


class Signer:
    """Stands in for RDS: returns the token the server currently accepts, and counts calls."""

    def __init__(self) -> None:
        self.current = "token-1"
        self.calls: list[tuple[str, int, str, str | None]] = []

    def __call__(self, host: str, port: int, user: str, region: str | None) -> str:
        self.calls.append((host, port, user, region))
        return self.current


@pytest.fixture
def signer(monkeypatch: pytest.MonkeyPatch) -> Signer:
    stub = Signer()
    monkeypatch.setattr(iam, "token_provider", stub)
    return stub


def _url(cluster: PgCluster, ca: Path, **query: str) -> str:
    params = {"iam": "true", "sslrootcert": str(ca), "iam_region": "eu-west-1", **query}
    tail = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://{ROLE}@127.0.0.1:{cluster.port}/iam?{tail}"


def _rotate(cluster: PgCluster, signer: Signer, token: str) -> None:
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"ALTER ROLE {ROLE} PASSWORD '{token}'"))
    admin.dispose()
    signer.current = token


def test_each_new_connection_signs_a_token_over_verified_tls(
    tls_cluster: tuple[PgCluster, Path], signer: Signer
) -> None:
    cluster, ca = tls_cluster
    with RunRepository.connect(_url(cluster, ca)) as repo:  # migrates through IAM auth
        repo.insert_run(run_id="iam-1", gradient_method="mgda")
        assert repo.get_run("iam-1").gradient_method == "mgda"
    assert signer.calls and set(signer.calls) == {("127.0.0.1", cluster.port, ROLE, "eu-west-1")}
    engine = make_engine(parse_url(_url(cluster, ca)))
    try:
        before = len(signer.calls)
        connections = [engine.connect() for _ in range(3)]  # three new pool connections
        assert len(signer.calls) == before + 3
        ssl = connections[0].execute(
            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).scalar()
        assert ssl is True
        for connection in connections:
            connection.close()
    finally:
        engine.dispose()


def test_a_rotated_token_is_never_reused(
    tls_cluster: tuple[PgCluster, Path], signer: Signer
) -> None:
    cluster, ca = tls_cluster
    engine = make_engine(parse_url(_url(cluster, ca)))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        _rotate(cluster, signer, "token-2")  # the old token expired
        engine.dispose()  # the pool's connections age out (pool_recycle) or drop
        with engine.connect() as connection:  # a new connection: signs, gets token-2
            assert connection.execute(text("SELECT current_user")).scalar() == ROLE
        assert signer.calls[-1] == ("127.0.0.1", cluster.port, ROLE, "eu-west-1")
    finally:
        engine.dispose()
        _rotate(cluster, signer, "token-1")


def test_a_refused_token_is_a_typed_error_that_never_shows_it(
    tls_cluster: tuple[PgCluster, Path], signer: Signer
) -> None:
    cluster, ca = tls_cluster
    signer.current = "stale-token-abc123"
    with pytest.raises(DatabaseUnavailable) as caught:
        RunRepository.connect(_url(cluster, ca))
    assert "stale-token-abc123" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)
    result = CliRunner().invoke(app, ["runs", "ls", "--url", _url(cluster, ca)])
    assert result.exit_code == 3, result.output
    assert "stale-token-abc123" not in result.output
    assert "Traceback" not in result.output


def test_verify_full_refuses_a_server_the_ca_did_not_sign(
    tls_cluster: tuple[PgCluster, Path], signer: Signer, tmp_path: Path
) -> None:
    cluster, _ = tls_cluster
    other_key, other_ca = tmp_path / "other.key", tmp_path / "other.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(other_key), "-out", str(other_ca), "-subj", "/CN=someone-else"],
        check=True, capture_output=True,
    )  # fmt: skip
    with pytest.raises(DatabaseUnavailable) as caught:
        RunRepository.connect(_url(cluster, other_ca))
    assert "certificate verify failed" in str(caught.value) or "SSL" in str(caught.value)
    assert signer.current not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://u:pw@db.example/x?iam=true", "must not carry a password"),
        ("postgresql://u@db.example/x?iam=true&sslmode=disable", "must travel over TLS"),
        ("postgresql://u@db.example/x?iam=true&sslmode=prefer", "must travel over TLS"),
        ("postgresql://db.example/x?iam=true", "needs a user"),
        ("postgresql://u@db.example/x?iam_region=us-east-1", "only meaningful with iam=true"),
    ],
)
def test_unsafe_or_incomplete_iam_urls_are_refused(url: str, words: str) -> None:
    with pytest.raises(InvalidDatabaseURL, match=words):
        RunRepository.connect(url)


def test_the_real_signer_makes_a_token_offline_with_the_region_of_the_host() -> None:
    """boto3 signs locally (the fake credentials of conftest; no request is sent): the token
    is a presigned connect URL for that host, user and region."""
    url, auth = iam.iam_auth(
        parse_url("postgresql://trainer@mydb.abc123xyz.us-west-2.rds.amazonaws.com:5432/runs?iam=1")
    )
    assert auth is not None and auth.region == "us-west-2"
    assert url.query["sslmode"] == "verify-full" and "iam" not in url.query
    token = iam.rds_auth_token(auth.host, auth.port, auth.user, auth.region)
    assert token.startswith("mydb.abc123xyz.us-west-2.rds.amazonaws.com:5432/?Action=connect")
    assert "DBUser=trainer" in token and "X-Amz-Signature=" in token
    assert "us-west-2" in token
