"""``RunRepository``: the one object callers hold. Every public method is one unit of work
(its own transaction, committed or rolled back), takes and returns DTOs, and raises only
``MangoDBError`` subclasses.

This module is the table of contents of the API; the methods live in ``mangodb/boundary/``,
one module per concern, and ``docs/api.md`` (generated from their docstrings) documents each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from mangodb import inputs
from mangodb.boundary.attachments import AttachmentMethods
from mangodb.boundary.fleet import FleetMethods
from mangodb.boundary.frames import FrameMethods
from mangodb.boundary.history import HistoryMethods
from mangodb.boundary.objectives import ObjectiveMethods
from mangodb.boundary.queries import QueryMethods
from mangodb.boundary.retention import RetentionMethods
from mangodb.boundary.runs import RunMethods
from mangodb.db.engine import make_engine
from mangodb.db.schema import ensure_schema
from mangodb.db.translate import translate
from mangodb.errors import MangoDBError
from mangodb.settings import resolve_url


class RunRepository(
    RunMethods,
    ObjectiveMethods,  # uses QueryMethods
    AttachmentMethods,
    FleetMethods,
    FrameMethods,  # uses QueryMethods and HistoryMethods
    QueryMethods,
    HistoryMethods,
    RetentionMethods,
):
    """Runs, objectives, crashes, attachments and history in one SQL database.

    >>> repo = RunRepository.connect("sqlite:///runs.sqlite3")    # doctest: +SKIP
    >>> repo.insert_run(RunCreate(run_id="r1", gradient_method="mgda"))  # doctest: +SKIP

    The API (``tests/test_docs.py`` checks this list against the methods):

    the repository (here)
        connect                     open a database by URL, migrating an empty one
        close                       dispose of the engine and its pooled connections
        dialect                     'sqlite' or 'postgresql'
    runs (boundary/runs.py)
        insert_run                  record a new run
        insert_runs                 insert many runs in few transactions
        get_run                     the run with everything attached
        run_exists                  whether a run id is stored
        update_run_status           move a run to a status and/or update its fields
        heartbeat                   record that the run is alive
        reap_stale_runs             crash running runs whose heartbeat is too old
        delete_run                  delete a run and everything attached to it
        set_tags                    add and remove tags of a run
        set_final_metrics           replace the run's final metrics
    queries (boundary/queries.py)
        query_runs                  runs matching every criterion
        query_runs_page             one page of query_runs, with the next page's cursor
        count_runs                  how many runs match
        count_by_status             run counts per status
        find_runs_by_instance       runs launched on an EC2 instance
        filter                      a query-language string as a typed filter
    objectives (boundary/objectives.py)
        insert_objective            add or redefine an objective of a run
        update_objective_metric     set an objective's current value
        query_runs_by_objectives    runs whose objective values satisfy bounds
        compare_gradient_methods    per method: n, mean, std, min, max, median, best run
        method_report               methods against a baseline: Δm%, ranks, Pareto, p-values
    crashes and attachments (boundary/attachments.py)
        attach_crash_data           attach a crash report
        attach_conversation         link a conversation export to the run
        runs_without_crash_data     ended runs that have no crash report
        crash_groups                crash reports grouped by error type and fingerprint
    history (boundary/history.py)
        append_history              append metric history
        get_history                 history of one run, key -> Series
        get_history_many            one key across many runs
        history_keys                the logged keys of a run with their point counts
        history_summary             the stored, exact summary of each key of a run
        history_by_method           one key per gradient method: mean, std, min, max
        history_writer              a buffered writer for training loops
    EC2 reconciliation (boundary/fleet.py)
        iter_active_instance_runs   active runs with an instance id, in batches
        transition_runs             many status changes in few transactions
        record_event                an observation in the event log, status unchanged
    retention (boundary/retention.py)
        archive_runs                hide runs from listings and analysis, kept whole
        unarchive_runs              bring archived runs back into view
        purge_runs                  delete finished runs and all they hold, in batches
    DataFrames (boundary/frames.py, the pandas extra)
        runs_frame                  one row per matching run
        history_frame               long-format history
    """

    @classmethod
    def connect(
        cls,
        url: str | URL | None = None,
        *,
        auto_upgrade: bool = True,
        source: str | None = None,
        read_only: bool = False,
        **engine_options: Any,
    ) -> RunRepository:
        """Open the database at ``url`` (else ``MANGODB_URL``, else ``TRAINING_DB_PATH``, else
        ``./mangodb.sqlite3``). An empty database is migrated to head; one behind this package
        raises ``SchemaOutOfDate``, one ahead raises ``SchemaTooNew``.

        ``read_only=True``: the database itself refuses writes (SQLite opened with
        ``mode=ro``, PostgreSQL sessions read-only); a write method raises a ``MangoDBError``.
        The SQLite file must exist and nothing is migrated."""
        resolved = resolve_url(url)
        read_only = inputs.flag(read_only, "read_only")
        engine = make_engine(resolved, read_only=read_only, **engine_options)
        try:
            ensure_schema(engine, auto_upgrade_empty=auto_upgrade and not read_only)
        except SQLAlchemyError as error:
            engine.dispose()
            raise translate(error, resolved) from error
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, source=source)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RunRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["MangoDBError", "RunRepository"]
