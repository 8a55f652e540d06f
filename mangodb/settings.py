"""Where the database URL comes from, and how it is shown without its password."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from mangodb.errors import InvalidDatabaseURL

DEFAULT_SQLITE_FILE = "mangodb.sqlite3"
ENV_URL = "MANGODB_URL"
ENV_LEGACY_PATH = "TRAINING_DB_PATH"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# The SQLAlchemy drivers mangodb runs on, per backend (a bare backend name means the first).
SUPPORTED_DRIVERS = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}
MASK = "***"
# libpq's password and sslpassword, and whatever else names a secret (api_token, client_secret).
_SECRET_WORDS = ("password", "secret", "token")


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
            if _CONNINFO.match(text):
                raise InvalidDatabaseURL(_conninfo_refusal(text))
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
    _check_driver(parsed)
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database in (None, ""):
        raise InvalidDatabaseURL(
            "a SQLite URL needs a file path (in-memory databases are not kept)"
        )
    return parsed


# libpq's keyword/value connection strings ("host=db port=5432 user=u password=p dbname=x"):
# not a path, and not a URL mangodb takes. Matched by their first keyword.
_CONNINFO_KEYWORDS = (
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service",
    "connect_timeout", "sslmode", "sslpassword", "options", "application_name",
)  # fmt: skip
_CONNINFO = re.compile(rf"\s*({'|'.join(_CONNINFO_KEYWORDS)})\s*=", re.IGNORECASE)
_CONNINFO_KEY = re.compile(r"(?:^|\s)([A-Za-z_]+)\s*=")


def _conninfo_refusal(text: str) -> str:
    """Why a libpq keyword/value string is refused, naming its keywords, never its values
    (one of them may be the password)."""
    found = (key.lower() for key in _CONNINFO_KEY.findall(text))
    keys = ", ".join(dict.fromkeys(key for key in found if key in _CONNINFO_KEYWORDS))
    return (
        f"a libpq keyword/value connection string ({keys}) is not a database URL: write it "
        "as postgresql://user:PASSWORD@host:5432/dbname (percent-encode special characters "
        "in the password), or pass the password in PGPASSWORD or ~/.pgpass"
    )


def _check_driver(url: URL) -> None:
    """Refuse a driver mangodb does not run on (``postgresql+nodriver``) instead of silently
    running another one."""
    backend, driver = url.get_backend_name(), url.drivername.partition("+")[2]
    if driver and driver not in SUPPORTED_DRIVERS[backend]:
        supported = ", ".join(
            f"{name}+{d}" for name, drivers in SUPPORTED_DRIVERS.items() for d in drivers
        )
        raise InvalidDatabaseURL(
            f"unsupported database driver {driver!r} in {mask_url(url)!r}: mangodb supports "
            f"{supported} (or plain sqlite:// and postgresql://)"
        )


def is_secret_parameter(name: str) -> bool:
    """Whether a URL query parameter carries a secret (its value is never shown)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def mask_url(url: str | URL) -> str:
    """The URL as text with its password and every secret query parameter (``password``,
    ``sslpassword``, ``…token``, ``…secret``…) replaced by ``***``. Every URL mangodb shows or
    logs goes through here."""
    if isinstance(url, str):
        text = url
        try:
            url = make_url(text)
        except Exception:  # unparsable text: mask what looks like a password or a parameter
            return _mask_text(text)
    secrets = {key: MASK for key in url.query if is_secret_parameter(key)}
    text = url.update_query_dict(secrets).render_as_string(hide_password=True)
    # The query renders "***" percent-encoded; show it as the userinfo password is shown.
    return text.replace("=%2A%2A%2A", "=" + MASK)


_TEXT_PARAMETER = re.compile(r"([?&;]([^=&;#]*)=)([^&;#]*)")


def _mask_text(text: str) -> str:
    head, sep, tail = text.partition("://")
    if sep and "@" in tail:
        text = f"{head}://{MASK}@{tail.rsplit('@', 1)[1]}"

    def hide(match: re.Match[str]) -> str:
        secret = is_secret_parameter(match.group(2))
        return match.group(1) + MASK if secret else match.group(0)

    return _TEXT_PARAMETER.sub(hide, text)
