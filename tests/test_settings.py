"""Where the database URL comes from, and that passwords never show."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


PASSWORDS = st.text(
    alphabet=st.characters(blacklist_characters="@/:?#%\x00", blacklist_categories=("Cs",)),
    min_size=3,
)


@given(PASSWORDS)
def test_mask_url_hides_any_password(password: str) -> None:
    from sqlalchemy.engine import URL

    url = URL.create("postgresql+psycopg", "user", password, "db.example", 5432, "runs")
    masked = mask_url(url)
    assert password not in masked.replace("***", "")
    assert "***" in masked
    assert mask_url(url.render_as_string(hide_password=False)) == masked
