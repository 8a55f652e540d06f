"""Rich renderings of one run (``runs show``) and of a method comparison (``compare``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.text import Text

from mangodb.cli.render import cell, jsonable, out, status_cell, text
from mangodb.cli.tables import Column, TableSpec
from mangodb.dto import MethodComparison, RunRead
from mangodb.frames import flatten

_IDENTITY = (
    ("method", "gradient_method"),
    ("model", "model_name"),
    ("dataset", "dataset"),
    ("batch size", "batch_size"),
    ("learning rate", "learning_rate"),
    ("seed", "seed"),
    ("created", "created_at"),
    ("started", "started_at"),
    ("ended", "ended_at"),
    ("heartbeat", "heartbeat_at"),
    ("archived", "archived_at"),
    ("steps", "total_training_steps"),
    ("exit code", "exit_code"),
    ("instance", "instance_id"),
    ("instance type", "instance_type"),
    ("region", "region"),
    ("spot", "is_spot"),
    ("host", "host"),
    ("git commit", "git_commit"),
    ("s3 prefix", "s3_prefix"),
    ("W&B", "wandb_url"),
    ("W&B run", "wandb_run_id"),
    ("error", "error_summary"),
)


# Values that identify the run stay whole; other values fold onto more lines when narrow.
_WHOLE = ("status", "method", "W&B run", "instance")


def _pairs(title: str, pairs: Sequence[tuple[str, Any]]) -> TableSpec:
    whole = max((len(cell(v)) for name, v in pairs if name in _WHOLE), default=0)
    columns = [Column("", kind="id", style="bold"), Column("", kind="text", floor=whole)]
    table = TableSpec(columns, title=title, show_header=False)
    for name, value in pairs:
        table.add_row(text(name), value if isinstance(value, Text) else text(value))
    return table


def render_run(run: RunRead) -> None:
    head: list[tuple[str, Any]] = [("status", status_cell(run.status))]
    head += [
        (label, getattr(run, attr)) for label, attr in _IDENTITY if getattr(run, attr) is not None
    ]
    if run.tags:
        head.append(("tags", ", ".join(run.tags)))
    out(_pairs(f"run {run.run_id}", head))
    if run.config:
        out(_pairs("config", sorted(flatten(run.config).items())))
    if run.final_metrics:
        out(_pairs("final metrics", sorted(run.final_metrics.items())))
    if run.objectives:
        columns = [Column("name", kind="id"), Column("metric", kind="id")]
        columns += [Column("direction", drop=3), Column("value", drop=1), Column("step", drop=2)]
        table = TableSpec(columns, title="objectives")
        for o in run.objectives:
            table.add_row(*map(text, (o.name, o.metric, o.direction, o.value, o.step)))
        out(table)
    events = TableSpec(
        [
            Column("at", kind="id"),  # times and statuses stay whole
            Column("change", kind="id"),
            Column("reason", kind="text"),
            Column("source", kind="text"),
            Column("details", kind="text"),
        ],
        title="status events",
    )
    for e in run.events:
        change = f"{cell(e.from_status) or '∅'} → {cell(e.to_status)}"
        if e.forced:
            change += " (forced)"
        if not e.applied:
            change += " (refused)"
        details = json.dumps(jsonable(e.details)) if e.details else ""
        events.add_row(*map(text, (e.at, change, e.reason, e.source, details)))
    out(events)
    for report in run.crash_reports:
        pairs = [
            (label, getattr(report, attr))
            for label, attr in (
                ("type", "error_type"),
                ("message", "message"),
                ("fingerprint", "fingerprint"),
                ("error log", "error_log_s3_key"),
                ("crash report", "crash_report_s3_key"),
                ("analysis", "analysis_s3_key"),
                ("summary", "analysis_summary"),
                ("occurred", "occurred_at"),
            )
            if getattr(report, attr) is not None
        ]
        out(_pairs(f"crash report #{report.id}", pairs))
    if run.attachments:
        out(_pairs("attachments", [(a.kind, a.uri) for a in run.attachments]))


def comparison_table(objective: str, rows: Sequence[MethodComparison]) -> TableSpec:
    direction = rows[0].direction if rows else "min"
    better = "lower" if direction == "min" else "higher"
    columns = [
        Column("method", kind="id"),
        Column("n", justify="right", drop=2),
        Column("mean ± std", justify="right", drop=1),
        Column("median", justify="right", drop=4),
        Column("best", justify="right", drop=3),
        Column("best run", kind="id"),
    ]
    table = TableSpec(
        columns, title=f"objective {objective} ({better} is better)", box=box.SIMPLE_HEAD
    )

    def key(row: MethodComparison) -> float:
        mean = row.mean if row.mean is not None else float("inf")
        return mean if direction == "min" else -mean

    for row in sorted(rows, key=key):
        spread = f" ± {row.std:.2g}" if row.std is not None else ""
        table.add_row(
            *map(
                text,
                (
                    row.gradient_method or "(none)",
                    row.n,
                    cell(row.mean) + spread,
                    row.median,
                    row.best_value,
                    row.best_run_id,
                ),
            )
        )
    return table
