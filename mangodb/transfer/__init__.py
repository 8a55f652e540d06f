"""Moving a mangodb database: ``copy_database`` (SQLite ⇄ PostgreSQL, resumable, verified),
``verify_tables`` and ``database_status`` (when to move)."""

from __future__ import annotations

from mangodb.transfer.copy import DEFAULT_BATCH_SIZE, CopyResult, copy_database, dry_run_plan
from mangodb.transfer.copy_plan import CopyPlan, plan_copy
from mangodb.transfer.status import DatabaseStatus, database_status
from mangodb.transfer.verify import TableCheck, verify_tables

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CopyPlan",
    "CopyResult",
    "DatabaseStatus",
    "TableCheck",
    "copy_database",
    "database_status",
    "dry_run_plan",
    "plan_copy",
    "verify_tables",
]
