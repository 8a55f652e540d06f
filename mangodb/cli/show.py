"""Rich renderings of one run (``runs show``) and of a method comparison (``compare``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from mangodb.cli.render import cell, jsonable, out, status_cell, text
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


def _pairs(title: str, pairs: Sequence[tuple[str, Any]]) -> Table:
    table = Table(title=Text(title), title_justify="left", box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
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
        table = Table(title="objectives", title_justify="left", box=None, header_style="bold")
        for name in ("name", "metric", "direction", "value", "step"):
            table.add_column(name)
        for o in run.objectives:
            table.add_row(*map(text, (o.name, o.metric, o.direction, o.value, o.step)))
        out(table)
    events = Table(title="status events", title_justify="left", box=None, header_style="bold")
    for name in ("at", "change", "reason", "source", "details"):
        events.add_column(name, overflow="fold", no_wrap=name in ("at", "change"))
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


def comparison_table(objective: str, rows: Sequence[MethodComparison]) -> Table:
    direction = rows[0].direction if rows else "min"
    better = "lower" if direction == "min" else "higher"
    table = Table(
        title=Text(f"objective {objective} ({better} is better)"),
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
    )
    for name in ("method", "n", "mean ± std", "median", "best", "best run"):
        table.add_column(
            name,
            justify="left" if name in ("method", "best run") else "right",
            no_wrap=name != "best run",
            overflow="fold",
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
