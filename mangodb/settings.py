"""Where the database URL comes from, and how it is shown without its password."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from mangodb.errors import InvalidDatabaseURL

DEFAULT_SQLITE_FILE = "mangodb.sqlite3"
ENV_URL = "MANGODB_URL"
ENV_LEGACY_PATH = "TRAINING_DB_PATH"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def resolve_url(url: str | URL | None = None) -> URL:
    """Return the database URL: the argument, else ``MANGODB_URL``, else ``TRAINING_DB_PATH``
    (a SQLite file path, the legacy setting), else ``./mangodb.sqlite3``."""
    if url is None:
        url = os.environ.get(ENV_URL) or None
    if url is None:
        legacy = os.environ.get(ENV_LEGACY_PATH)
        url = sqlite_url(legacy) if legacy else sqlite_url(DEFAULT_SQLITE_FILE)
    return parse_url(url)


def sqlite_url(path: str | os.PathLike[str]) -> URL:
    """URL of a SQLite file; relative paths are resolved against the working directory."""
    return URL.create("sqlite", database=str(Path(path).expanduser().resolve()))


def parse_url(url: str | URL) -> URL:
    """Parse and normalise a URL: ``postgresql://`` uses psycopg 3; a bare path is SQLite."""
    if isinstance(url, str):
        text = url.strip()
        if not text:
            raise InvalidDatabaseURL("database URL is empty")
        if "://" not in text:
            return sqlite_url(text)
        if text.startswith("postgres://"):  # the spelling Heroku and some RDS tools use
            text = "postgresql://" + text.removeprefix("postgres://")
        try:
            parsed = make_url(text)
        except (ArgumentError, ValueError) as exc:
            raise InvalidDatabaseURL(
                f"cannot parse database URL {mask_url(text)!r}: expected e.g. "
                "sqlite:///path/to/file.sqlite3 or postgresql://user@host/dbname"
            ) from exc
    else:
        parsed = url
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise InvalidDatabaseURL(
            f"unsupported database backend {backend!r} in {mask_url(parsed)!r}: "
            f"mangodb supports {', '.join(SUPPORTED_BACKENDS)}"
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database in (None, ""):
        raise InvalidDatabaseURL(
            "a SQLite URL needs a file path (in-memory databases are not kept)"
        )
    return parsed


def mask_url(url: str | URL) -> str:
    """The URL as text with any password replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparsable text: hide everything between '://' and '@'
        head, sep, tail = url.partition("://")
        if sep and "@" in tail:
            return f"{head}://***@{tail.rsplit('@', 1)[1]}"
        return url
