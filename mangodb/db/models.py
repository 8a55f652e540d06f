"""The typed ORM models. Table and constraint names are explicit and stable.

``runs`` carries the promoted, indexed columns people filter on, plus the whole config and the
non-numeric part of the final summary as documents. Numeric final metrics live one row per
key in ``run_metrics`` (value + kind, so NaN and -0.0 survive SQLite). History is one
``history_series`` row per (run, key) and its points packed in ``history_chunks``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Double,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from mangodb.db.base import Base
from mangodb.db.types import utcnow

RUN_ID_LENGTH = 255
KEY_LENGTH = 512
STATUS_VALUES = ("launched", "running", "completed", "failed", "crashed", "terminated")


class config_as_text(FunctionElement[str]):
    """``runs.config`` as JSON text: ``config::text`` on PostgreSQL (jsonb), the column itself
    on SQLite (a text column already)."""

    type = Text()
    name = "config_as_text"
    inherit_cache = True


@compiles(config_as_text)
def _config_as_text(element: config_as_text, compiler: SQLCompiler, **kw: Any) -> str:
    return "config"


@compiles(config_as_text, "postgresql")
def _config_as_text_pg(element: config_as_text, compiler: SQLCompiler, **kw: Any) -> str:
    return "config::text"


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUS_VALUES) + ")", name="status_valid"
        ),
        # The archive mark trails the creation-ordered indexes (migration 0009): the default
        # question's ``archived_at IS NULL`` is answered in them (counts stay index-only).
        # ``id`` is explicit so the mark does not come between the sort key and the tie-break.
        Index("ix_runs_created_at_id_archived", "created_at", "id", "archived_at"),
        Index("ix_runs_status_created_at_id_archived", "status", "created_at", "id", "archived_at"),
        Index("ix_runs_gradient_method_status", "gradient_method", "status"),
        Index("ix_runs_wandb_run_id", "wandb_run_id"),
        Index("ix_runs_instance_id", "instance_id"),
        # The filtered first page: equality on status and method, walked in creation order.
        Index(
            "ix_runs_status_method_created_at_id_archived",
            "status",
            "gradient_method",
            "created_at",
            "id",
            "archived_at",
        ),
        # Config equality compiles to `config @> {...}` on PostgreSQL, answered by this GIN
        # index. SQLite cannot use it: there it is an empty partial index (WHERE 0), declared
        # so that one model matches both dialects' migrated schema.
        Index(
            "ix_runs_config_gin",
            "config",
            postgresql_using="gin",
            postgresql_ops={"config": "jsonb_path_ops"},
            sqlite_where=text("0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="launched")

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    heartbeat_at: Mapped[dt.datetime | None]
    # Set by ``archive_runs``: the run is left out of listings and analysis unless asked for
    # (``include_archived``); NULL for a run in view (migration 0009).
    archived_at: Mapped[dt.datetime | None]

    gradient_method: Mapped[str | None] = mapped_column(String(64))
    model_name: Mapped[str | None] = mapped_column(String(255), index=True)
    dataset: Mapped[str | None] = mapped_column(String(255), index=True)
    batch_size: Mapped[int | None] = mapped_column(index=True)
    learning_rate: Mapped[float | None]
    seed: Mapped[int | None]

    instance_id: Mapped[str | None] = mapped_column(String(64))
    instance_type: Mapped[str | None] = mapped_column(String(64), index=True)
    region: Mapped[str | None] = mapped_column(String(32))
    is_spot: Mapped[bool | None] = mapped_column(Boolean)
    host: Mapped[str | None] = mapped_column(String(255))
    git_commit: Mapped[str | None] = mapped_column(String(64), index=True)
    s3_prefix: Mapped[str | None] = mapped_column(String(1024))

    wandb_entity: Mapped[str | None] = mapped_column(String(255))
    wandb_project: Mapped[str | None] = mapped_column(String(255), index=True)
    wandb_run_id: Mapped[str | None] = mapped_column(String(64))
    wandb_url: Mapped[str | None] = mapped_column(String(1024))

    exit_code: Mapped[int | None]
    total_training_steps: Mapped[int | None]
    error_summary: Mapped[str | None] = mapped_column(Text)

    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The config as JSON text, generated by the database from ``config`` on every write
    # (migrations 0005, 0006): a page read on PostgreSQL takes it instead of converting jsonb
    # per row (mangodb.runs.loading). On SQLite a virtual column, which stores nothing. Never
    # written; loaded only when asked for.
    config_text: Mapped[str | None] = mapped_column(
        Text, Computed(config_as_text(), persisted=True), deferred=True
    )
    final_metrics: Mapped[dict[str, Any] | None]  # the non-numeric part of the summary

    events: Mapped[list[RunEvent]] = relationship(
        back_populates="run", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    objectives: Mapped[list[RunObjective]] = relationship(
        back_populates="run", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    crash_reports: Mapped[list[CrashReport]] = relationship(
        back_populates="run", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    attachments: Mapped[list[RunAttachment]] = relationship(
        back_populates="run", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    metrics: Mapped[list[RunMetric]] = relationship(
        back_populates="run", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[RunTag]] = relationship(
        back_populates="run", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class RunEvent(Base):
    """One status change (or a notable observation such as a spot warning) of a run."""

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    host: Mapped[str | None] = mapped_column(String(255))
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    # False for a refused change (e.g. a late "completed" after the reaper's "crashed"):
    # the attempt is kept so both writers' views stay on record.
    applied: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[dict[str, Any] | None]

    run: Mapped[Run] = relationship(back_populates="events", lazy="raise")


class RunTag(Base):
    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_tag", "tag"),)

    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)

    run: Mapped[Run] = relationship(back_populates="tags", lazy="raise")


class RunMetric(Base):
    """A numeric final metric. ``kind``: 0 finite, 1 NaN, 2 +Inf, 3 -Inf, 4 -0.0.
    ``value`` is NULL for NaN (SQLite turns NaN into NULL anyway), ±Inf otherwise stored as is."""

    __tablename__ = "run_metrics"
    __table_args__ = (Index("ix_run_metrics_key_value", "key", "value"),)

    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[float | None]
    kind: Mapped[int] = mapped_column(SmallInteger, default=0)

    run: Mapped[Run] = relationship(back_populates="metrics", lazy="raise")


class RunObjective(Base):
    __tablename__ = "run_objectives"
    __table_args__ = (
        UniqueConstraint("run_pk", "name"),
        CheckConstraint("direction IN ('min', 'max')", name="direction_valid"),
        Index("ix_run_objectives_name_value", "name", "value"),
        # compare_gradient_methods joins one objective of every run: covering, index-only.
        Index("ix_run_objectives_name_run_pk_value", "name", "run_pk", "value"),
        # ... or, with status and method copied here, reads it without a join, index-only and
        # already in method then value order; method_report's aggregates read it alone too
        # (direction and run_pk are key columns, not INCLUDE, so SQLite covers them: 0008).
        # The archive mark comes last: every default read tests it, in the index (0009).
        Index(
            "ix_run_objectives_name_status_method_value_dir_pk_archived",
            "name",
            "run_status",
            "run_gradient_method",
            "value",
            "direction",
            "run_pk",
            "run_archived_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    metric: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
    direction: Mapped[str] = mapped_column(String(3), default="min")
    weight: Mapped[float | None]
    target: Mapped[float | None]
    value: Mapped[float | None]
    value_kind: Mapped[int] = mapped_column(SmallInteger, default=0)
    step: Mapped[int | None]
    updated_at: Mapped[dt.datetime | None]
    details: Mapped[dict[str, Any] | None]
    # Copies of the run's status, gradient method and archive mark, written only by the
    # database: triggers (migrations 0003, 0009) set them when the row is inserted and when
    # the run's values change.
    run_status: Mapped[str | None] = mapped_column(String(16))
    run_gradient_method: Mapped[str | None] = mapped_column(String(64))
    run_archived_at: Mapped[dt.datetime | None]

    run: Mapped[Run] = relationship(back_populates="objectives", lazy="raise")


class CrashReport(Base):
    __tablename__ = "crash_reports"
    __table_args__ = (UniqueConstraint("run_pk", "dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    dedup_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    occurred_at: Mapped[dt.datetime | None]
    error_log_s3_key: Mapped[str | None] = mapped_column(String(1024))
    crash_report_s3_key: Mapped[str | None] = mapped_column(String(1024))
    analysis_s3_key: Mapped[str | None] = mapped_column(String(1024))
    error_type: Mapped[str | None] = mapped_column(String(255), index=True)
    message: Mapped[str | None] = mapped_column(Text)
    excerpt: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    analysis_summary: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]

    run: Mapped[Run] = relationship(back_populates="crash_reports", lazy="raise")


class RunAttachment(Base):
    """A linked artefact, e.g. a conversation export (``kind='conversation'``)."""

    __tablename__ = "run_attachments"
    __table_args__ = (UniqueConstraint("run_pk", "kind", "uri"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any] | None]

    run: Mapped[Run] = relationship(back_populates="attachments", lazy="raise")


class HistorySeries(Base):
    """One logged key of one run. ``kind`` is 'numeric' (float64 chunks) or 'json' (values
    that are not numbers: strings, media dicts, histograms), summary columns kept current."""

    __tablename__ = "history_series"
    __table_args__ = (
        UniqueConstraint("run_pk", "key"),
        CheckConstraint("kind IN ('numeric', 'json')", name="kind_valid"),
        Index("ix_history_series_key", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    kind: Mapped[str] = mapped_column(String(8), default="numeric")
    point_count: Mapped[int] = mapped_column(default=0)
    chunk_count: Mapped[int] = mapped_column(default=0)
    first_step: Mapped[int | None]
    last_step: Mapped[int | None]
    min_value: Mapped[float | None]
    max_value: Mapped[float | None]
    last_value: Mapped[float | None]
    last_value_kind: Mapped[int] = mapped_column(SmallInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The first step of the series' open tail: its chunks from this step on were written by
    # small in-order appends and are merged into full chunks from time to time (see
    # ``mangodb.history.store``); NULL when there is none.
    tail_step: Mapped[int | None]


class HistoryChunk(Base):
    """A packed run of points of one series: ``steps`` and ``payload`` are encoded by the
    codec named in ``codec`` (see ``mangodb.history``); the summary columns need no unpacking."""

    __tablename__ = "history_chunks"
    __table_args__ = (Index("ix_history_chunks_series_id_first_step", "series_id", "first_step"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("history_series.id", ondelete="CASCADE"))
    codec: Mapped[int] = mapped_column(SmallInteger)
    first_step: Mapped[int]
    last_step: Mapped[int]
    point_count: Mapped[int]
    nan_count: Mapped[int] = mapped_column(default=0)
    min_value: Mapped[float | None]
    max_value: Mapped[float | None]
    last_value: Mapped[float | None]
    last_value_kind: Mapped[int] = mapped_column(SmallInteger, default=0)
    steps: Mapped[bytes] = mapped_column(LargeBinary)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class CopyState(Base):
    """Progress of ``mangodb db copy`` into this database, one row per copied table: which
    source it comes from, the id shift applied (``--merge``), and the last key copied, so a
    killed copy resumes where it stopped. Not copied itself."""

    __tablename__ = "mangodb_copy_state"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(2048))
    id_offset: Mapped[int] = mapped_column(default=0)
    last_key: Mapped[str | None] = mapped_column(Text)  # JSON list of the primary key values
    rows_copied: Mapped[int] = mapped_column(default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# Per-method sums of the objective values, kept by the database (triggers of migration 0010 on
# ``run_objectives``, in the statement that changes a row), so ``method_report`` over runs
# chosen by status, method and archive mark reads a few rows per method, not every objective
# row. Keyed by the run's gradient method, whether it is archived (0/1) and its status ('' if
# none); runs without a method are not counted. Sums are of the values that are finite and
# summable (0 or 1e-150 <= |v| < 1e150: their squares and products neither overflow nor
# underflow). SQLite holds them as float8, each with its Neumaier compensation (``*_c``: the
# true sum is the column plus its compensation); PostgreSQL as numeric, exact (its deltas are
# folded in as numeric too: a value added and taken back cancels whatever else was in flight).
# Derived data: ``db copy`` skips them (the target's triggers count the copied rows).
EXACT_SUM: TypeEngine[float] = Double().with_variant(Numeric(), "postgresql")


class _RunCounts:
    runs: Mapped[int] = mapped_column(server_default=text("0"))
    valued_runs: Mapped[int] = mapped_column(server_default=text("0"))


class _ObjectiveCounts:
    rows: Mapped[int] = mapped_column(server_default=text("0"))
    says_max: Mapped[int] = mapped_column(server_default=text("0"))
    valued: Mapped[int] = mapped_column(server_default=text("0"))
    pos_inf: Mapped[int] = mapped_column(server_default=text("0"))
    neg_inf: Mapped[int] = mapped_column(server_default=text("0"))
    nan: Mapped[int] = mapped_column(server_default=text("0"))
    unsummable: Mapped[int] = mapped_column(server_default=text("0"))
    n: Mapped[int] = mapped_column(server_default=text("0"))


class MethodRunSums(_RunCounts, Base):
    """Runs per (method, archived, status) that have an objective row, and a value."""

    __tablename__ = "method_run_sums"

    method: Mapped[str] = mapped_column(String(64), primary_key=True)
    archived: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)


class MethodObjectiveSums(_ObjectiveCounts, Base):
    """Per (method, archived, status, objective): rows, declared directions, values by kind, and the
    count, sum and sum of squares of the summable ones."""

    __tablename__ = "method_objective_sums"

    method: Mapped[str] = mapped_column(String(64), primary_key=True)
    archived: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    s: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    s_c: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    q: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    q_c: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))


class MethodPairSums(Base):
    """Per (method, archived, status, objectives a < b): over the runs with a summable value
    of both, their count and the sums of a's values, b's values and their products."""

    __tablename__ = "method_pair_sums"

    method: Mapped[str] = mapped_column(String(64), primary_key=True)
    archived: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    a: Mapped[str] = mapped_column(String(255), primary_key=True)
    b: Mapped[str] = mapped_column(String(255), primary_key=True)
    n: Mapped[int] = mapped_column(server_default=text("0"))
    sa: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    sa_c: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    sb: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    sb_c: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    sab: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))
    sab_c: Mapped[float] = mapped_column(EXACT_SUM, server_default=text("0"))


# Changes to the sums above waiting to be added to them: PostgreSQL's triggers append here
# (writers never wait on each other) and fold them in now and then; readers add both. SQLite,
# with one writer at a time, changes the sums in place and leaves these empty.


class _Delta:
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    method: Mapped[str] = mapped_column(String(64))
    archived: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16))


class MethodRunDeltas(_Delta, _RunCounts, Base):
    __tablename__ = "method_run_deltas"


class MethodObjectiveDeltas(_Delta, _ObjectiveCounts, Base):
    __tablename__ = "method_objective_deltas"

    name: Mapped[str] = mapped_column(String(255))
    s: Mapped[float] = mapped_column(server_default=text("0"))
    q: Mapped[float] = mapped_column(server_default=text("0"))


class MethodPairDeltas(_Delta, Base):
    __tablename__ = "method_pair_deltas"

    a: Mapped[str] = mapped_column(String(255))
    b: Mapped[str] = mapped_column(String(255))
    n: Mapped[int] = mapped_column(server_default=text("0"))
    sa: Mapped[float] = mapped_column(server_default=text("0"))
    sb: Mapped[float] = mapped_column(server_default=text("0"))
    sab: Mapped[float] = mapped_column(server_default=text("0"))
