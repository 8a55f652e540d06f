"""Rich rendering of copy plans, verification results and database status for the CLI."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mangodb.transfer.copy import CopyResult
from mangodb.transfer.copy_plan import CopyPlan
from mangodb.transfer.status import DatabaseStatus


def _size(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.1f} {unit}" if unit != "B" else f"{size:,} B"
        value /= 1024
    return f"{size:,} B"  # pragma: no cover


def print_plan(console: Console, plan: CopyPlan) -> None:
    action = {
        "fresh": "copy into an empty target",
        "resume": "resume an earlier copy of this source",
        "merge": "merge into a target holding other runs (ids renumbered)",
    }[plan.mode]
    console.print(f"dry run: {plan.source} -> {plan.target}: {action}", highlight=False)
    table = Table("table", "source rows", "already copied", "to copy", "id shift")
    for item in plan.tables:
        left = 0 if item.done else max(item.source_rows - item.copied_rows, 0)
        table.add_row(
            item.name,
            f"{item.source_rows:,}",
            f"{item.copied_rows:,}",
            f"{left:,}",
            f"+{item.id_offset:,}" if item.id_offset else "",
        )
    console.print(table)
    console.print(f"{plan.remaining_rows:,} rows would be copied; nothing was written.")


def print_checks(console: Console, result: CopyResult) -> None:
    copied = sum(result.copied_rows.values())
    runs = result.copied_rows.get("runs", 0)
    rate = runs / result.seconds if result.seconds > 0 else 0.0
    console.print(
        f"{result.plan.source} -> {result.plan.target} ({result.plan.mode}): copied {copied:,} "
        f"rows in {result.seconds:.1f} s ({rate:,.0f} runs/s)",
        highlight=False,
    )
    table = Table("table", "source rows", "target rows", "checksum")
    for check in result.checks:
        table.add_row(
            check.table,
            f"{check.source_rows:,}",
            f"{check.target_rows:,}",
            "equal" if check.ok else "[red]DIFFERENT[/red]",
        )
    console.print(table)
    if result.ok:
        console.print("verified: every table has the same rows on both sides")
        return
    console.print("[red]verification failed[/red]:")
    for check in result.checks:
        if not check.ok:
            console.print(
                f"  {check.table}: {check.source_rows:,} rows in the source, "
                f"{check.target_rows:,} in the target",
                highlight=False,
                markup=False,
            )
            for line in check.differences:
                console.print(f"    {line}", highlight=False, markup=False)


def print_status(console: Console, status: DatabaseStatus) -> None:
    marker = "(head)" if status.revision == status.head else f"(package head: {status.head})"
    console.print(f"database: {status.url}", highlight=False)
    console.print(f"schema:   {status.revision or 'empty'} {marker}", highlight=False)
    console.print(f"size:     {_size(status.size_bytes)}", highlight=False)
    hosts = ", ".join(status.writing_hosts) or "none yet"
    console.print(f"writers:  {len(status.writing_hosts)} host(s): {hosts}", highlight=False)
    table = Table("table", "rows")
    for name, count in status.rows.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    for warning in status.warnings:
        console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
