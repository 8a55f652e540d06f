"""Where the database URL comes from, and that passwords never show."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mangodb.errors import InvalidDatabaseURL
from mangodb.settings import mask_url, parse_url, resolve_url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MANGODB_URL", raising=False)
    monkeypatch.delenv("TRAINING_DB_PATH", raising=False)
    monkeypatch.chdir(tmp_path)


def test_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGODB_URL", "sqlite:///from-env.sqlite3")
    assert resolve_url("postgresql://u@h/db").database == "db"


def test_mangodb_url_then_legacy_path_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert resolve_url().database == str(tmp_path / "mangodb.sqlite3")
    monkeypatch.setenv("TRAINING_DB_PATH", "legacy/training.db")
    assert resolve_url().database == str(tmp_path / "legacy" / "training.db")
    monkeypatch.setenv("MANGODB_URL", "postgresql://u@h:5433/runs")
    url = resolve_url()
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg", "h", 5433, "runs",
    )


def test_postgres_urls_use_psycopg3() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_bare_path_is_sqlite(tmp_path: Path) -> None:
    url = parse_url("runs/db.sqlite3")
    assert url.drivername == "sqlite"
    assert url.database == str(tmp_path / "runs" / "db.sqlite3")


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=db.internal port=5432 user=u password=s3cr3t-pw dbname=runs",
        "dbname=runs password='it\\'s s3cr3t-pw' host=db",
        "  PASSWORD = s3cr3t-pw host=db",
    ],
)
def test_a_libpq_keyword_value_string_is_refused_without_its_password(
    conninfo: str, tmp_path: Path
) -> None:
    """Not taken for a SQLite path (a file named by the password): a clear error naming the
    keywords, not their values."""
    with pytest.raises(InvalidDatabaseURL, match="keyword/value connection string") as caught:
        parse_url(conninfo)
    assert "s3cr3t" not in str(caught.value)
    assert "password" in str(caught.value) and "postgresql://" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


PASSWORDS = st.text(
    alphabet=st.characters(blacklist_characters="@/:?#%\x00", blacklist_categories=("Cs",)),
    min_size=3,
)


@given(PASSWORDS)
def test_mask_url_hides_any_password(password: str) -> None:
    from sqlalchemy.engine import URL

    url = URL.create("postgresql+psycopg", "user", password, "db.example", 5432, "runs")
    masked = mask_url(url)
    # a password that is part of the rest of the URL ("pos" of "postgresql") says nothing
    assume(password not in "postgresql+psycopg://user:@db.example:5432/runs")
    assert password not in masked.replace("***", "")
    assert "***" in masked
    assert mask_url(url.render_as_string(hide_password=False)) == masked


# Query parameters that carry a secret: libpq's own, and any name containing one of the words.
SECRET_KEYS = st.one_of(
    st.sampled_from(["password", "sslpassword", "PASSWORD", "api_token", "ClientSecret"]),
    st.tuples(
        st.text(alphabet="abcxyz_", max_size=4),
        st.sampled_from(["password", "secret", "token", "Token", "SECRET", "PassWord"]),
        st.text(alphabet="abcxyz_", max_size=4),
    ).map("".join),
)
SECRET_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
).map(lambda tail: "Zq9" + tail)  # a marker that appears nowhere else in the URL


@given(
    keys=st.lists(SECRET_KEYS, min_size=1, max_size=3, unique_by=str.lower),
    value=SECRET_VALUES,
    user_first=st.booleans(),
)
def test_mask_url_hides_every_secret_query_parameter(
    keys: list[str], value: str, user_first: bool
) -> None:
    from sqlalchemy.engine import URL

    query = {"user": "u", "options": "-csearch_path=s", **{k: value for k in keys}}
    url = URL.create("postgresql+psycopg", host="127.0.0.1", port=5433, database="x", query=query)
    as_text = url.render_as_string(hide_password=False)
    for shown in (mask_url(url), mask_url(as_text), mask_url("not a url ://" + as_text)):
        assert "Zq9" not in shown
        assert "user=u" in shown and "options=" in shown  # other parameters stay readable
    for key in keys:
        assert f"{key}=***" in mask_url(url)


def test_a_password_in_the_query_is_not_shown_by_the_cli_nor_by_connect_errors() -> None:
    from typer.testing import CliRunner

    from mangodb import RunRepository
    from mangodb.cli import app
    from mangodb.errors import DatabaseUnavailable

    url = "postgresql://127.0.0.1:1/x?user=u&password=S3cr3t&sslpassword=K3y"
    result = CliRunner().invoke(app, ["runs", "ls", "--url", url])
    assert result.exit_code == 3
    assert "S3cr3t" not in result.output and "K3y" not in result.output
    assert "password=***" in result.output
    with pytest.raises(DatabaseUnavailable) as caught:
        RunRepository.connect(url)
    assert "S3cr3t" not in str(caught.value) and "password=***" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["postgresql+nodriver://u@h/db", "postgresql+psycopg2://u@h/db", "sqlite+pg:///x.db"]
)
def test_an_unknown_driver_is_refused_naming_the_supported_ones(url: str) -> None:
    from mangodb.errors import InvalidDatabaseURL

    with pytest.raises(InvalidDatabaseURL, match="unsupported database driver") as caught:
        parse_url(url)
    message = str(caught.value)
    assert "postgresql+psycopg" in message and "sqlite" in message and "\n" not in message


def test_supported_drivers_are_accepted() -> None:
    assert parse_url("sqlite+pysqlite:///x.db").get_backend_name() == "sqlite"
    assert parse_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_without_the_postgres_extra_the_cli_names_it_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    # psycopg made unimportable in the child, as when the extra is not installed.
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'mangodb';"
        "from mangodb.cli.app import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "runs", "ls", "--url", "postgresql://u@127.0.0.1/db"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "mangodb[postgres]" in result.stderr
