"""The one exception hierarchy of mangodb.

Every error a caller can see derives from :class:`MangoDBError`. Driver errors are translated
in one place (:func:`mangodb.db.translate.translate`) with ``raise ... from`` so the cause stays
attached.
Messages never contain passwords: URLs are masked before they reach a message.
"""

from __future__ import annotations


class MangoDBError(Exception):
    """Base class of every error raised by mangodb."""


class ConfigurationError(MangoDBError):
    """The database URL or another setting is invalid."""


class InvalidDatabaseURL(ConfigurationError):
    """The database URL cannot be parsed or names an unsupported backend."""


class DatabaseUnavailable(MangoDBError):
    """The database cannot be reached (server down, file not writable, bad credentials)."""

    def with_hint(self, hint: str) -> DatabaseUnavailable:
        """The same kind of error, its message followed by what to do (e.g. how to resume)."""
        return type(self)(f"{self}; {hint}")


class DatabaseBusy(DatabaseUnavailable):
    """The database stayed locked past the retry budget."""


class StorageFull(DatabaseUnavailable):
    """The database has no room left for the write (SQLite ``SQLITE_FULL``: the disk or
    ``max_page_count`` is full; PostgreSQL SQLSTATE 53100 ``disk_full``). Nothing of the
    refused unit of work was kept; free space, then retry."""


class SchemaError(MangoDBError):
    """The database schema does not match this version of mangodb."""


class SchemaOutOfDate(SchemaError):
    """The database is behind this package: run the named upgrade command."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer mangodb: upgrade the package."""


class ValidationError(MangoDBError, ValueError):
    """Input was rejected before anything was written."""


class RunNotFound(MangoDBError, LookupError):
    """No run has the given run id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run not found: {run_id!r}")
        self.run_id = run_id


class RunAlreadyExists(MangoDBError):
    """A run with this run id is already stored."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run already exists: {run_id!r}")
        self.run_id = run_id


class ObjectiveNotFound(MangoDBError, LookupError):
    """The run has no objective with the given name."""

    def __init__(self, run_id: str, name: str) -> None:
        super().__init__(f"run {run_id!r} has no objective {name!r}")
        self.run_id = run_id
        self.name = name


class MethodNotFound(ValidationError, LookupError):
    """No selected run has this gradient method (e.g. an unknown ``method_report`` baseline);
    the message suggests the closest known method."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(message)
        self.method = method


class InvalidTransition(MangoDBError):
    """A status change that the lifecycle does not allow."""

    def __init__(self, run_id: str, from_status: str, to_status: str, hint: str = "") -> None:
        message = f"run {run_id!r}: cannot move from {from_status!r} to {to_status!r}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
        self.run_id = run_id
        self.from_status = from_status
        self.to_status = to_status


class ConcurrentUpdate(MangoDBError):
    """Deprecated, never raised: a lost compare-and-set raises ``InvalidTransition``. Kept so
    ``from mangodb import ConcurrentUpdate`` and ``except ConcurrentUpdate`` keep working."""


class QuerySyntaxError(ValidationError):
    """A run query could not be parsed; ``column`` is 1-based."""

    def __init__(self, message: str, text: str, column: int) -> None:
        pointer = " " * (column - 1) + "^"
        super().__init__(f"{message} at column {column}\n  {text}\n  {pointer}")
        self.text = text
        self.column = column
        self.reason = message


class MissingExtra(MangoDBError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: install it with `pip install 'mangodb[{extra}]'`"
        )
        self.package = package
        self.extra = extra


class TargetNotEmpty(MangoDBError):
    """``mangodb db copy``: the target holds mangodb data that is not a copy of this source."""


class CloudError(MangoDBError):
    """A cloud provider (AWS) call failed after bounded retries; the message names the call."""


class HistoryNotStored(MangoDBError):
    """A buffered history writer could not write ``rows`` rows of run ``run_id`` (the
    database's error is chained as the cause); they are still buffered."""

    def __init__(self, message: str, *, run_id: str, rows: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.rows = rows


class HistoryBufferFull(HistoryNotStored):
    """``HistoryWriter.log`` refused a row: ``max_pending`` rows already wait for a database
    that keeps failing. The refused row was not kept (``rows`` is 1)."""


class UnknownHistoryKey(ValidationError, LookupError):
    """No selected run logged the history key; the message suggests a close one."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class UnknownGradientMethod(ValidationError, LookupError):
    """No selected run has this gradient method (e.g. a baseline); the message suggests a
    close one."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(message)
        self.method = method
