"""Retention: archiving runs (hidden from listings and analysis, kept whole) and deleting runs
for good, with everything that belongs to them; both in short batches."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session
from typing_extensions import Unpack

from mangodb import inputs
from mangodb.boundary.base import Boundary
from mangodb.db.types import utcnow
from mangodb.dto import ArchiveReport, PurgeReport
from mangodb.errors import ValidationError
from mangodb.runs import archive, planning, purge
from mangodb.runs.criteria import RunQuery

_FIRST_DAY = dt.datetime(1, 1, 2, tzinfo=dt.timezone.utc)  # the earliest cut-off datetime holds


class RetentionMethods(Boundary):
    def archive_runs(
        self, where: str, *, dry_run: bool = False, runs_per_batch: int = 200
    ) -> ArchiveReport:
        """Hide the runs matching ``where`` (the query language) from listings and analysis:
        they stay whole, ``get_run`` returns them, and ``include_archived=True`` (or a filter
        naming ``archived_at``) lists them. Active runs may be archived too (only hidden; their
        writers and the reaper find them by id). Runs archived already keep their time and are
        not counted again. ``dry_run`` says which runs, changing nothing."""
        return self._archive(where, True, dry_run, runs_per_batch)

    def unarchive_runs(
        self, where: str, *, dry_run: bool = False, runs_per_batch: int = 200
    ) -> ArchiveReport:
        """Bring the archived runs matching ``where`` back into listings and analysis."""
        return self._archive(where, False, dry_run, runs_per_batch)

    def _archive(self, where: str, archived: bool, dry_run: bool, batch_size: int) -> ArchiveReport:
        if not inputs.text(where, "where").strip():
            raise ValidationError("give a query: archiving never selects all runs by default")
        criteria: RunQuery = {"where": where, "include_archived": True}
        dry_run = inputs.flag(dry_run, "dry_run")
        inputs.integer(batch_size, "runs_per_batch", minimum=1)
        chosen = (*planning.plan(criteria, dialect=self.dialect).where, archive.state(archived))
        when = utcnow() if archived else None  # one time for every run of the call
        run_ids: list[str] = []
        after, batches = 0, 0

        def batch(session: Session) -> list[tuple[int, str]]:
            found = purge.next_batch(session, chosen, after, batch_size)
            if found and not dry_run:
                archive.mark(session, [pk for pk, _ in found], when)
            return found

        while True:
            found = (self._read if dry_run else self._write)(batch)
            if not found:
                break
            after, batches = found[-1][0], batches + 1
            run_ids.extend(run_id for _, run_id in found)
        return ArchiveReport(
            dry_run=dry_run, archived=archived, run_ids=tuple(run_ids), batches=batches
        )

    def purge_runs(
        self,
        *,
        older_than: dt.timedelta | None = None,
        dry_run: bool = False,
        runs_per_batch: int = 200,
        **criteria: Unpack[RunQuery],
    ) -> PurgeReport:
        """Delete the matching runs (never ``launched`` or ``running`` ones; with
        ``older_than``, only runs created longer ago) with everything that belongs to them,
        ``runs_per_batch`` runs per short transaction. ``dry_run`` counts and deletes nothing.
        The report lists the S3 keys of their crash artefacts, which stay in S3."""
        if older_than is None and not criteria:
            raise ValidationError("purge_runs needs criteria or older_than; it never purges all")
        if older_than is not None and (
            not isinstance(older_than, dt.timedelta) or older_than < dt.timedelta(0)
        ):
            raise ValidationError("older_than must be a timedelta of zero or more")
        if older_than is not None and older_than > utcnow() - _FIRST_DAY:
            raise ValidationError("older_than reaches back before the year 1")
        inputs.integer(runs_per_batch, "runs_per_batch", minimum=1)
        planning.check_criteria(criteria)
        criteria.setdefault("include_archived", True)  # archived runs are deleted too
        chosen = purge.selection(planning.plan(criteria, dialect=self.dialect), older_than)
        return self._purge(chosen, inputs.flag(dry_run, "dry_run"), runs_per_batch)

    def _purge(self, chosen: Any, dry_run: bool, batch_size: int) -> PurgeReport:
        run_ids: list[str] = []
        rows = dict.fromkeys(purge.TABLES, 0)
        keys: set[str] = set()
        after, batches = 0, 0

        def batch(session: Session) -> tuple[list[tuple[int, str]], dict[str, int], list[str]]:
            # Pure: a retried transaction (a busy SQLite) must not count twice.
            found = purge.next_batch(session, chosen, after, batch_size)
            pks = [pk for pk, _ in found]
            if not pks:
                return found, {}, []
            counts, artifacts = purge.count_rows(session, pks), purge.artifact_keys(session, pks)
            if not dry_run:
                purge.delete_batch(session, pks)
            return found, counts, artifacts

        while True:
            found, counts, artifacts = (self._read if dry_run else self._write)(batch)
            if not found:
                break
            after, batches = found[-1][0], batches + 1
            run_ids.extend(run_id for _, run_id in found)
            purge.add_counts(rows, counts)
            keys.update(artifacts)
        return PurgeReport(
            dry_run=dry_run, run_ids=tuple(run_ids), rows=rows, artifacts=tuple(sorted(keys)),
            batches=batches,
        )
