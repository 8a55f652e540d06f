"""Only documented errors escape.

Every public ``RunRepository`` method, called with arguments of wrong types and values
(huge integers, NaN, lone surrogates, bytes, self-containing documents, arbitrary objects…),
raises nothing but typed ``MangoDBError`` subclasses, on SQLite and on PostgreSQL; the CLI
answers fuzzed arguments with a documented exit code and never a traceback. The methods are
enumerated by introspection: a new public method without a strategy here fails the suite.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_db import demo_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text
from typer.testing import CliRunner

from mangodb import (
    CrashReportCreate,
    MangoDBError,
    ObjectiveCreate,
    RunAlreadyExists,
    RunCreate,
    RunRepository,
    RunStatus,
    StorageFull,
)
from mangodb.cli import app
from mangodb.dto import StatusUpdate
from mangodb.history import HistoryWriter
from mangodb.inputs import UPDATABLE
from mangodb.runs.filters import FieldFilter
from mangodb.runs.planning import _CRITERIA

__all__ = ["demo_url"]  # the module-scoped campaign fixture

UTC = dt.timezone.utc
# 40 examples per method keep the module near 30 s per dialect; raise it for a deeper search.
FUZZ = settings(
    max_examples=int(os.environ.get("MANGODB_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# -- values of wrong types and values --------------------------------------------------------
HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 2**70, -(2**70), 2**1100, -(2**1100)])
TEXTS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        ["\ud800", "a\udfffb", "nul\x00", "", "   ", "x" * 600, "r", "o", "hop", "loss", "$.a"]
    ),
)


def _cyclic_dict(inner: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"a": inner}
    document["self"] = {"again": document}
    return document


def _cyclic_list(inner: Any) -> list[Any]:
    items: list[Any] = [inner]
    items.append(items)
    return items


def _deep(depth: int) -> Any:
    value: Any = 1.0
    for _ in range(depth):
        value = {"d": [value]}
    return value


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE,
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]),
    TEXTS,
    st.binary(max_size=6),
    st.complex_numbers(max_magnitude=10),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.timedeltas(),
    st.builds(object),
    st.sampled_from([RunStatus.RUNNING, Ellipsis, int, NotImplemented]),
    st.frozensets(st.integers(), max_size=2),
)
JUNK = st.one_of(
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(TEXTS | st.integers() | st.none(), inner, max_size=3),
        max_leaves=6,
    ),
    st.builds(_cyclic_dict, SCALARS),
    st.builds(_cyclic_list, SCALARS),
    st.integers(300, 2000).map(_deep),
)

# -- plausible values, so that calls also get past the first check ----------------------------
RUN_IDS = st.sampled_from(["r", "missing", "deco_hop_bs64_mgda_i-0c68bf56155a83e50"])
KEYS = st.sampled_from(["loss", "val/hop_loss", "missing", "a.b"]) | TEXTS
STATUSES = st.sampled_from([*RunStatus, *(s.value for s in RunStatus), "finished"])
INTS = st.integers(-5, 5_000) | HUGE
NUMBERS = st.floats() | st.integers() | HUGE
WHEN = st.datetimes(timezones=st.just(UTC)) | st.datetimes()
WORDS = [
    *["spot", "status", "method", "config.a", "config.data.batch_size", "metric.loss"],
    *["objective.hop", "tag", "created", "batch_size", "lr", "run_id", "seed", "steps"],
    *["=", "!=", "<", ">=", "in", "like", "is", "not", "null", "and", "or", "(", ")", ","],
    *["true", "false", "1", "-3.5", "1e400", "99999999999999999999999", "nan", "7d"],
    *["2024-01-01", "'x'", "'\ud800'", '"a\x00"', "crashed", "'%_'", "."],
]
KNOWN_BAD_WHERE = [
    "spot >= true",
    "config.a < false",
    "run_id = '\ud800'",
    "config.a = 99999999999999999999999",
    "metric.loss < 1e400",
    "batch_size > 99999999999999999999999",
]
WHERE = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=7).map(" ".join),
    st.sampled_from(KNOWN_BAD_WHERE),
)


def _cursor(payload: Any) -> str:
    try:
        raw = json.dumps(payload).encode()
    except (TypeError, ValueError):
        raw = b"{"
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CURSORS = st.one_of(
    TEXTS,
    st.builds(_cursor, st.fixed_dictionaries({"k": st.lists(SCALARS | TEXTS, max_size=3)})),
    st.builds(_cursor, st.fixed_dictionaries({"o": SCALARS})),
    st.builds(_cursor, SCALARS),
)
BOUNDS = st.one_of(
    SCALARS,
    st.tuples(st.sampled_from(["<", ">=", "=", "!=", "in", "like", "~"]), SCALARS),
    st.dictionaries(st.sampled_from(["min", "max", "eq", "in", "ne", "gt", "huh"]), SCALARS),
    st.lists(SCALARS, max_size=3),
)
BOUND_MAPS = st.dictionaries(KEYS, BOUNDS, max_size=3)
DOCUMENTS = st.dictionaries(TEXTS, JUNK, max_size=3)
RUN_CREATES = st.builds(
    RunCreate,
    run_id=st.sampled_from(["r", "fresh"]) | st.text("abc", min_size=1, max_size=6),
    config=st.dictionaries(st.sampled_from(["a", "b"]), st.integers() | st.floats(), max_size=2),
)
STATUS_UPDATES = st.builds(StatusUpdate, run_id=RUN_IDS, status=st.sampled_from(list(RunStatus)))
HISTORY = st.one_of(
    st.dictionaries(KEYS, st.tuples(st.lists(INTS, max_size=3), st.lists(JUNK, max_size=3))),
    st.dictionaries(KEYS, st.lists(NUMBERS | JUNK, max_size=3)),
    st.lists(st.dictionaries(st.sampled_from(["_step", "loss"]) | TEXTS, JUNK), max_size=3),
)


def _filter(field: Any, op: Any, value: Any) -> Any:
    """A typed filter, or the value itself where the filter refuses it (typed filters are
    public too: their constructors may raise only mangodb errors)."""
    try:
        return FieldFilter(field, op, value)
    except MangoDBError:
        return value


FILTER_FIELDS = st.sampled_from(["batch_size", "spot", "lr", "created", "status"]) | TEXTS
FILTER_OPS = st.sampled_from(["=", "<", "in", "like", "is null"]) | TEXTS
FILTERS = st.one_of(
    st.builds(_filter, FILTER_FIELDS, FILTER_OPS, SCALARS | JUNK),
    st.lists(st.builds(_filter, FILTER_FIELDS, FILTER_OPS, SCALARS), max_size=3),
)

# Plausible values by parameter name; ``(method, name)`` wins over ``name``.
PLAUSIBLE: dict[Any, st.SearchStrategy[Any]] = {
    "run_id": RUN_IDS,
    "run_ids": st.lists(RUN_IDS, max_size=3),
    "run": RUN_CREATES,
    "runs": st.lists(RUN_CREATES, max_size=3),
    "status": STATUSES,
    "expected_status": STATUSES | st.lists(STATUSES, max_size=2),
    "name": st.sampled_from(["o", "hop", "missing"]),
    ("insert_objective", "objective"): st.builds(ObjectiveCreate, name=st.sampled_from(["o"])),
    ("compare_gradient_methods", "objective"): st.sampled_from(["o", "hop", "missing"]),
    ("method_report", "baseline"): st.sampled_from(["mgda", "uniform", "missing"]),
    ("method_report", "objectives"): st.none() | st.lists(st.sampled_from(["o", "hop", "x"])),
    ("history_by_method", "baseline"): st.sampled_from(["mgda", "uniform", "nope"]) | TEXTS,
    "report": st.builds(CrashReportCreate, message=TEXTS.filter(lambda t: t.isprintable())),
    "value": NUMBERS,
    "step": INTS,
    "min_step": INTS,
    "max_step": INTS,
    "max_points": INTS,
    "limit": INTS,
    "sample": INTS,
    "batch_size": INTS,
    "flush_every": INTS,
    "max_pending": INTS,
    "flush_seconds": NUMBERS,
    "offset": INTS,
    "cursor": CURSORS,
    "where": WHERE,
    "key": KEYS,
    "keys": st.lists(KEYS, max_size=3) | KEYS,
    "columns": st.lists(st.sampled_from(["run_id", "config.a", "metric.loss"]) | TEXTS),
    "add": st.lists(TEXTS, max_size=3),
    "remove": st.lists(TEXTS, max_size=3),
    "tags": st.lists(TEXTS, max_size=3),
    "config": BOUND_MAPS | DOCUMENTS,
    ("update_run_status", "config"): DOCUMENTS,
    "metrics": BOUND_MAPS,
    "objectives": BOUND_MAPS,
    "bounds": BOUND_MAPS,
    "final_metrics": DOCUMENTS,
    "final_metrics_json": DOCUMENTS | TEXTS,
    "history_json": HISTORY | TEXTS,
    "summary": DOCUMENTS,
    "details": DOCUMENTS,
    "data": HISTORY,
    "updates": st.lists(STATUS_UPDATES, max_size=3),
    "grace": st.timedeltas(),
    "older_than": st.one_of(st.none(), st.timedeltas(min_value=dt.timedelta(0))),
    "runs_per_batch": st.integers(min_value=1, max_value=500),
    "at": WHEN,
    "now": WHEN,
    "ended_at": WHEN,
    "started_at": WHEN,
    "created_after": WHEN,
    "order_by": st.sampled_from(["-created_at", "run_id", "metric.loss", "status", "nope"]),
    "filters": FILTERS,
    "instance_id": TEXTS,
    "statuses": st.lists(STATUSES, max_size=2),
    "reason": TEXTS,
    "source": TEXTS,
    "uri": TEXTS,
    "s3_key": TEXTS,
    "title": TEXTS,
    "kind": TEXTS,
    "force": st.booleans(),
    "dry_run": st.booleans(),
    "active_only": st.booleans(),
    "include_archived": st.booleans(),
}

# Keyword names a method's ``**kwargs`` accepts (plus arbitrary ones, drawn too).
CRITERIA = sorted(_CRITERIA)
RUN_FIELDS = sorted(RunCreate.model_fields)
EXTRA_KEYWORDS: dict[str, list[str]] = {
    "insert_run": RUN_FIELDS,
    "update_run_status": sorted(UPDATABLE),
    "query_runs": CRITERIA,
    "query_runs_page": CRITERIA,
    "count_runs": CRITERIA,
    "count_by_status": CRITERIA,
    "query_runs_by_objectives": CRITERIA,
    "compare_gradient_methods": CRITERIA,
    "runs_without_crash_data": CRITERIA,
    "purge_runs": CRITERIA,
    "crash_groups": CRITERIA,
    "runs_frame": CRITERIA,
    "insert_objective": sorted(ObjectiveCreate.model_fields),
    "attach_crash_data": sorted(CrashReportCreate.model_fields),
}

# Every public method is fuzzed unless named here with the reason.
NOT_FUZZED = {
    "connect": "opens the database its argument names: fuzzed text would create files "
    "(bad URLs: tests/test_settings.py)",
    "close": "takes no arguments",
}
FUZZED = sorted(
    name
    for name, member in inspect.getmembers(RunRepository)
    if not name.startswith("_") and callable(member) and name not in NOT_FUZZED
)
_OMIT = object()


def _parameter(method: str, parameter: inspect.Parameter) -> st.SearchStrategy[Any]:
    plausible = PLAUSIBLE.get((method, parameter.name), PLAUSIBLE.get(parameter.name))
    values = JUNK if plausible is None else st.one_of(plausible, plausible, JUNK)
    if parameter.default is inspect.Parameter.empty:
        return values
    return st.one_of(st.just(_OMIT), values)


@st.composite
def calls(draw: st.DrawFn, method: str) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for ``RunRepository.<method>``."""
    signature = inspect.signature(getattr(RunRepository, method))
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in list(signature.parameters.values())[1:]:  # after self
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            names = st.sampled_from(EXTRA_KEYWORDS[method]) | st.text(max_size=6)
            for name in draw(st.lists(names, max_size=3, unique=True)):
                plausible = PLAUSIBLE.get(name)
                kwargs[name] = draw(JUNK if plausible is None else plausible | JUNK)
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        value = draw(_parameter(method, parameter))
        if value is _OMIT:
            if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                break  # the later positional-only ones must be omitted too
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[parameter.name] = value
    return args, kwargs


def _consume(result: Any) -> None:
    """Iterate lazy results and close writers: their errors count too."""
    if isinstance(result, HistoryWriter):
        result.close()
    elif isinstance(result, Iterator):
        for _ in result:
            pass


def _seed(repo: RunRepository) -> None:
    if not repo.run_exists("r"):
        repo.insert_run(RunCreate(run_id="r", objectives=[ObjectiveCreate(name="o")]))
        repo.append_history("r", {"loss": ([0, 1, 2], [1.0, 0.5, math.nan])})


@pytest.fixture(scope="module")
def fuzzed_repo(demo_url: str) -> Iterator[RunRepository]:
    repo = RunRepository.connect(demo_url)
    try:
        yield repo
    finally:
        repo.close()


def test_every_public_method_has_a_strategy() -> None:
    """A new public method (or parameter) fails here until its plausible values are listed
    in PLAUSIBLE (and its ``**kwargs`` names in EXTRA_KEYWORDS), so the fuzz gets past its
    first check instead of only ever feeding it junk."""
    assert set(FUZZED) | set(NOT_FUZZED) >= {"get_run", "query_runs", "append_history"}
    for method in FUZZED:
        signature = inspect.signature(getattr(RunRepository, method))
        for parameter in list(signature.parameters.values())[1:]:
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                assert method in EXTRA_KEYWORDS, f"{method}(**{parameter.name}): list its names"
            elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
                known = (method, parameter.name) in PLAUSIBLE or parameter.name in PLAUSIBLE
                assert known, f"{method}({parameter.name}=...): add its values to PLAUSIBLE"


@pytest.mark.parametrize("method", FUZZED)
@FUZZ
@given(data=st.data())
def test_only_documented_errors_escape(
    fuzzed_repo: RunRepository, method: str, data: st.DataObject
) -> None:
    _seed(fuzzed_repo)
    args, kwargs = data.draw(calls(method), label="arguments")
    try:
        _consume(getattr(fuzzed_repo, method)(*args, **kwargs))
    except MangoDBError as error:
        assert type(error) is not MangoDBError, f"untyped error: {error}"
        assert str(error).strip(), f"{type(error).__name__} without a message"


# -- the same inputs through the command line ------------------------------------------------
ARGUMENTS = st.one_of(WHERE, TEXTS.filter(lambda t: not t.startswith("-")), st.just("\udcff"))


@st.composite
def command_lines(draw: st.DrawFn, url: str, out: Path) -> list[str]:
    command = draw(st.sampled_from(["ls", "show", "history", "compare", "export"]))
    text_arg = draw(ARGUMENTS)
    if command == "ls":
        line = ["runs", "ls", text_arg, "--sort", draw(st.sampled_from(["-created", "x", "seed"]))]
        line += ["--limit", draw(st.sampled_from(["1", "0", "-1", "abc", "99999999999999999999"]))]
    elif command == "show":
        line = ["runs", "show", text_arg]
    elif command == "history":
        line = ["history", draw(RUN_IDS | TEXTS.filter(lambda t: not t.startswith("-")))]
        line += draw(st.lists(ARGUMENTS, max_size=2))
        line += ["--max-points", draw(st.sampled_from(["2", "5", "1", "x", "10" * 12]))]
    elif command == "compare":
        line = ["compare", "-o", draw(TEXTS | st.just("hop")), "--where", text_arg]
        line += ["--status", draw(STATUSES.map(str))]
    else:
        fmt = draw(st.sampled_from(["csv", "jsonl", "parquet", "xml"]))
        line = ["export", "--out", str(out / f"runs.{fmt}"), "--format", fmt, text_arg]
    return [*line, "--url", url]


@FUZZ
@given(data=st.data())
def test_the_cli_never_prints_a_traceback(
    demo_url: str, tmp_path: Path, data: st.DataObject
) -> None:
    line = data.draw(command_lines(demo_url, tmp_path), label="command line")
    result = CliRunner().invoke(app, line)
    unexpected = result.exception
    if isinstance(unexpected, SystemExit):
        unexpected = None
    assert unexpected is None, f"{type(unexpected).__name__}: {unexpected}"
    assert result.exit_code in {0, 1, 2, 3, 4}, result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("error: "), result.output


def test_runs_ls_refuses_ordering_on_booleans_in_one_error(demo_url: str) -> None:
    result = CliRunner().invoke(app, ["runs", "ls", "spot >= true", "--url", demo_url])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: spot is true or false"), result.stderr
    assert "^" in result.stderr and "Traceback" not in result.output


# -- errors the database reports --------------------------------------------------------------
def test_a_concurrent_duplicate_in_insert_runs_is_run_already_exists(
    pg_schema_url: Any,
) -> None:
    """Two writers insert the same run id: the loser's check ran before the winner committed,
    so PostgreSQL's unique index refuses its INSERT; that is ``RunAlreadyExists`` too."""
    repo = RunRepository.connect(pg_schema_url)
    started = threading.Barrier(2)
    outcome: dict[str, BaseException | int] = {}
    try:
        # Hold a lock the loser's INSERT must wait for, so both checks run before either
        # commits: the first writer inserts "dup" and waits, uncommitted, for the second.
        with repo.engine.connect() as first:
            first.execute(text("BEGIN"))
            first.execute(
                text(
                    "INSERT INTO runs (run_id, status, config, created_at, updated_at) "
                    "VALUES ('dup', 'launched', '{}', now(), now())"
                )
            )

            def second() -> None:
                started.wait()
                try:
                    outcome["second"] = repo.insert_runs([RunCreate(run_id="dup")])
                except BaseException as error:  # recorded, asserted below
                    outcome["second"] = error

            thread = threading.Thread(target=second)
            thread.start()
            started.wait()
            _wait_for_lock_wait(repo)
            first.execute(text("COMMIT"))
            thread.join(60)
        assert not thread.is_alive(), "the second insert_runs never finished"
        error = outcome["second"]
        assert isinstance(error, RunAlreadyExists), repr(error)
        assert error.run_id == "dup"
        assert repo.count_runs() == 1
    finally:
        repo.close()


def _wait_for_lock_wait(repo: RunRepository) -> None:
    """Until a session of this schema waits for a lock (the second INSERT on the index)."""
    for _ in range(600):
        with repo.engine.connect() as connection:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO runs%'"
                )
            ).scalar()
        if waiting:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the second insert_runs never waited on the first one's row")


def test_a_full_sqlite_database_raises_storage_full(sqlite_url: Any) -> None:
    repo = RunRepository.connect(sqlite_url)
    try:
        repo.insert_run(RunCreate(run_id="small"))
        pages = _scalar(repo, "PRAGMA page_count")

        def limit_pages(connection: Any, _record: Any) -> None:
            connection.execute(f"PRAGMA max_page_count = {pages + 2}")

        event.listen(repo.engine, "connect", limit_pages)
        repo.engine.dispose()  # every connection from now on has the limit
        big = {"blob": "x" * 200_000}
        with pytest.raises(StorageFull, match="full"):
            repo.insert_run(RunCreate(run_id="big", config=big))
        assert not repo.run_exists("big")
        assert repo.get_run("small").run_id == "small"
    finally:
        repo.close()


def _scalar(repo: RunRepository, sql: str) -> int:
    with repo.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def test_postgresql_disk_full_raises_storage_full(pg_schema_url: Any) -> None:
    """PostgreSQL's SQLSTATE 53100 (disk_full), raised by the server itself; filling a real
    cluster's disk needs a tmpfs cluster of its own, out of scope here."""
    repo = RunRepository.connect(pg_schema_url)
    try:
        with repo.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "RAISE EXCEPTION 'could not extend file: No space left on device' "
                    "USING ERRCODE = 'disk_full'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER full_disk BEFORE INSERT ON runs "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_full()"
                )
            )
        with pytest.raises(StorageFull, match="No space left"):
            repo.insert_run(RunCreate(run_id="r"))
        with pytest.raises(StorageFull):
            repo.insert_runs([RunCreate(run_id="r")])
    finally:
        repo.close()



def test_every_error_is_in_the_api_reference() -> None:
    import importlib.util

    docs = Path(__file__).resolve().parent.parent / "docs"
    spec = importlib.util.spec_from_file_location("gen_api", docs / "gen_api.py")
    assert spec is not None and spec.loader is not None
    gen_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_api)
    reference = (docs / "api.md").read_text(encoding="utf-8")
    assert gen_api.render_errors() in reference, "run python docs/gen_api.py"
    assert StorageFull in gen_api.error_classes()
