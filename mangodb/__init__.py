"""mangodb: one trustworthy, queryable record of every ML training run."""

from __future__ import annotations

from mangodb.dto import (
    AttachmentRead,
    CrashGroup,
    CrashReportCreate,
    CrashReportRead,
    MethodComparison,
    MethodCurve,
    MethodCurves,
    MethodReport,
    MethodRow,
    ObjectiveCreate,
    ObjectiveRead,
    ObjectiveStats,
    ReportObjective,
    RunCreate,
    RunEventRead,
    RunPage,
    RunRead,
)
from mangodb.errors import (
    ConcurrentUpdate,
    DatabaseUnavailable,
    InvalidDatabaseURL,
    InvalidTransition,
    MangoDBError,
    MethodNotFound,
    ObjectiveNotFound,
    RunAlreadyExists,
    RunNotFound,
    SchemaOutOfDate,
    SchemaTooNew,
    StorageFull,
    TooManyConnections,
    ValidationError,
)
from mangodb.repository import RunRepository
from mangodb.runs.criteria import RunQuery
from mangodb.status import RunStatus

__version__ = "0.1.0"

__all__ = [
    "AttachmentRead",
    "ConcurrentUpdate",
    "CrashGroup",
    "CrashReportCreate",
    "CrashReportRead",
    "DatabaseUnavailable",
    "InvalidDatabaseURL",
    "InvalidTransition",
    "MangoDBError",
    "MethodComparison",
    "MethodCurve",
    "MethodCurves",
    "MethodNotFound",
    "MethodReport",
    "MethodRow",
    "ObjectiveCreate",
    "ObjectiveNotFound",
    "ObjectiveRead",
    "ObjectiveStats",
    "ReportObjective",
    "RunAlreadyExists",
    "RunCreate",
    "RunEventRead",
    "RunNotFound",
    "RunPage",
    "RunQuery",
    "RunRead",
    "RunRepository",
    "RunStatus",
    "SchemaOutOfDate",
    "SchemaTooNew",
    "StorageFull",
    "TooManyConnections",
    "ValidationError",
    "__version__",
]
