"""SQL-injection strings in every filter position and every write path, on both dialects.

A canary table sits in the test database with one row; a few hundred classic payloads (quotes,
comments, stacked queries, ``; DROP TABLE canary; --``, ``' OR 1=1 --``, unicode quotes,
PostgreSQL dollar quoting, backslash escapes, LIKE wildcards, JSON path tricks) go into
run ids, config keys and values, tags, objective names, final-metric keys, history keys, crash
report texts and event reasons, then into every way of finding them again (the query
language's strings and quoted config keys, keyword criteria, lookups by id, history keys).
Each write stores the payload exactly (reads return it unchanged), each filter finds exactly
what holds the payload (a ``%`` matches itself, not everything), and the canary and its row
survive. The count of payloads × positions is printed at the end of the run.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from faults.fault_cluster import PgCluster
from faults.fault_figures import STRESS, record
from faults.fault_invariants import database_problems
from mangodb import ObjectiveCreate, RunCreate, RunRepository

pytestmark = pytest.mark.faults

CORES = [
    "; DROP TABLE canary; --",
    " OR 1=1 --",
    " OR '1'='1",
    "; DELETE FROM canary; --",
    "; UPDATE canary SET note = 'owned'; --",
    " UNION SELECT note FROM canary --",
    "/**/OR/**/1=1#",
    "; INSERT INTO canary VALUES (2, 'owned'); --",
    "; SELECT pg_sleep(3); --",
]
PREFIXES = ["", "'", '"', "')", '")', "'))", "`", "\\'", "\u2019", "$$", "x' ", "1 "]
SUFFIXES = ["", "'", " AND 'a'='a"]
CLASSIC = [
    "'", "''", '"', "`", "\\", "\\'", "\\\\'", "'--", "admin'--", "' OR 1=1#", "' OR 1=1/*",
    "') OR ('1'='1", "')) OR (('1'='1", "1; DROP TABLE canary", "' UNION ALL SELECT 1,2,3--",
    "' UNION SELECT NULL, NULL--", "1' AND SLEEP(5)--", "' || pg_sleep(5) || '",
    "'; COMMIT; DROP TABLE canary; --", "'; ROLLBACK; DROP TABLE canary; --",
    "$$; DROP TABLE canary; $$", "$tag$; DROP TABLE canary; $tag$", "$1", "$$", "$a$'$a$",
    "E'\\x27; DROP TABLE canary; --'", "E'\\''", "U&'\\0027'", "X'27'", "B'1'", "\\x27",
    "%27", "%", "%%", "_", "%_%", "\\%", "a%", "*", "?", ":name", ":1", "%s", "%(x)s", "{}",
    "{0}", "'||'", "' + '", "CHAR(39)", "chr(39)", "/*", "*/", "--", "#", ";", "';",
    "\n; DROP TABLE canary; --", "\r\n--", "\t' OR 1=1", "\u02bc OR 1=1 --",
    "\u2019; DROP TABLE canary; --", "\uff07; DROP TABLE canary; --",
    "\u2018 OR \u20181\u2019=\u20181", "\uff02", "\u2032", "\u02b9", "\u201c\u201d",
    "$.a", '$."a"', "$[0]", "$..*", "$.a[*]", "'$.a') OR 1=1 --", "a->>'b'", "a#>>'{b}'",
    "config->'x'", "@> '{}'", "?|", "?&", "json_extract(config, '$')",
    "x' AND 1=(SELECT COUNT(*) FROM canary) AND 'x'='x", "'; ATTACH DATABASE 'x.db' AS x; --",
    "'; PRAGMA writable_schema=1; --", "'; VACUUM; --", "'; COPY canary TO PROGRAM 'true'; --",
    "a\\", "a\\\\", "' AND '1'='2", "0x27", "'+OR+1=1--", "1 OR 1=1", "1) OR (1=1", "NULL",
    "null", "' IS NULL --", "true", "'; SET ROLE postgres; --", "'; LOCK TABLE canary; --",
    "'::text", "1::int", "' COLLATE \"C\" --", "a.b", "a..b", ".a", "a.", "[0]", "\\u0027",
    "\\u0000", "\\n", "\\\\u0027", "'; SELECT * FROM canary WHERE 'a'='a", "' LIMIT 1 --",
    "' ORDER BY 1 --", "' GROUP BY note HAVING 1=1 --", "'; TRUNCATE canary; --",
    "'; ALTER TABLE canary RENAME TO gone; --", "'; DROP TABLE runs; --",
    "'; DROP SCHEMA public CASCADE; --",
]  # fmt: skip
PAYLOADS = list(
    dict.fromkeys(
        CLASSIC + [p + c + s for p, c, s in itertools.product(PREFIXES, CORES, SUFFIXES)]
    )
)
# CI tries every 20th payload (classic ones and each prefix family); MANGODB_STRESS=1 all.
TRIED = PAYLOADS if STRESS else PAYLOADS[::20]
TRIALS: Counter[str] = Counter()


def _lang(value: str) -> str:
    """``value`` as a string of the query language (backslash escapes, docs/query.md)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@pytest.fixture(params=["sqlite", "postgresql"])
def canary_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    if request.param == "sqlite":
        url = URL.create("sqlite", database=str(tmp_path / "inj.sqlite3"))
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        if cluster.postmaster_pid() is None:
            cluster.start()
        url = cluster.fresh_database()
    RunRepository.connect(url).close()  # the schema
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE canary (id integer PRIMARY KEY, note text)"))
            connection.execute(text("INSERT INTO canary VALUES (1, 'alive')"))
        yield url
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT id, note FROM canary")).all()
            assert [tuple(r) for r in rows] == [(1, "alive")], "the canary was touched"
            connection.execute(text("DROP TABLE canary"))  # so the schema check sees ours only
    finally:
        engine.dispose()
    problems = database_problems(url)
    assert problems == [], "\n".join(problems)


Check = Callable[[RunRepository, str, str], None]


def _writes(repo: RunRepository, p: str, rid: str) -> None:
    """Every write path with the payload; each read back exactly."""
    short, name, tag = p[:64], p.strip() or "o", p.strip() or "t"  # tags are stripped
    repo.insert_run(
        RunCreate(
            run_id=rid, config={p: p, "nested": {p: [p]}}, tags=[tag], gradient_method=short,
            instance_id=short, wandb_run_id=short, model_name=p, dataset=p,
            objectives=[ObjectiveCreate(name=name, metric=p)],
        )
    )  # fmt: skip
    run = repo.get_run(rid)
    assert run.config == {p: p, "nested": {p: [p]}}
    assert run.tags == (tag,)
    assert (run.gradient_method, run.instance_id, run.wandb_run_id) == (short, short, short)
    assert (run.model_name, run.dataset) == (p, p)
    objective = run.objective(name)
    assert objective is not None and objective.metric == p
    assert repo.update_objective_metric(rid, name, 0.5).value == 0.5
    TRIALS["insert_run fields, config keys and values, objective"] += 1

    assert repo.set_tags(rid, add=[p + "2"]).tags == tuple(sorted({tag, (p + "2").strip()}))
    TRIALS["set_tags"] += 1
    assert repo.set_final_metrics(rid, {p: 1.5}).final_metrics[p] == 1.5
    TRIALS["set_final_metrics key"] += 1
    repo.append_history(rid, {p: ([0, 1], [0.5, 0.25])})
    series = repo.get_history(rid, [p])[p]
    assert (list(series.steps), list(series.values)) == ([0, 1], [0.5, 0.25])
    assert p in repo.history_keys(rid)
    TRIALS["append_history key, get_history keys"] += 1
    report = repo.attach_crash_data(
        rid, message=p, excerpt=p, error_type=p, fingerprint=short, error_log_s3_key=p,
        analysis_summary=p, details={p: p},
    )  # fmt: skip
    assert (report.message, report.excerpt, report.error_type) == (p, p, p)
    assert (report.fingerprint, report.error_log_s3_key, report.details) == (short, p, {p: p})
    assert repo.get_run(rid).crash_reports[-1].message == p
    TRIALS["attach_crash_data texts"] += 1
    repo.update_run_status(rid, "running", reason=p, source=short)
    event = repo.record_event(rid, p, source=short, details={p: p})
    assert (event.reason, event.source, event.details) == (p, short, {p: p})
    assert repo.get_run(rid).events[-2].reason == p
    TRIALS["event reasons, sources, details"] += 1


def _run_id_writes(repo: RunRepository, p: str, _rid: str) -> None:
    """The payload as a run id (stripped, as documented for run ids)."""
    stripped = p.strip()
    if not stripped:
        return
    if not repo.run_exists(stripped):  # two payloads may differ only in outer blanks
        assert repo.insert_run(run_id=p).run_id == stripped
    assert repo.run_exists(stripped) and repo.get_run(stripped).run_id == stripped
    TRIALS["run id (insert, exists, get)"] += 1


def _filters(repo: RunRepository, p: str, rid: str) -> None:
    """Every filter position: exactly the run holding the payload comes back."""

    def ids(**criteria: object) -> list[str]:
        return sorted(r.run_id for r in repo.query_runs(**criteria))  # type: ignore[arg-type]

    q = _lang(p)
    stripped = p.strip()
    tag = stripped or "t"

    def tagged(found: list[str]) -> bool:  # payloads may share a tag once stripped
        return rid in found and all(tag in repo.get_run(r).tags for r in found)

    if stripped:
        assert ids(where=f"run_id = {_lang(stripped)}") == [stripped]
        TRIALS["where run_id = STRING"] += 1
    assert tagged(ids(where=f"tag = {_lang(tag)}"))
    assert rid in ids(where=f"tag in ({_lang(tag)}, {_lang(p + '2')})")
    TRIALS["where tag = / in STRING"] += 1
    assert ids(where=f"config.{q} = {q}") == [rid]
    assert ids(where=f"config.nested.{q} is not null") == [rid]
    TRIALS["where config.'KEY' = STRING"] += 1
    assert ids(where=f"metric.{q} > 1") == [rid]
    TRIALS["where metric.'KEY' > 1"] += 1
    assert ids(where=f"gradient_method = {_lang(p[:64])}") == [rid]
    TRIALS["where gradient_method = STRING"] += 1
    like = p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    assert ids(where=f"model_name like {_lang(like)}") == [rid]
    TRIALS["where like (wildcards escaped)"] += 1
    assert tagged(ids(tags=[tag]))
    assert ids(instance_id=p[:64]) == [rid] == ids(wandb_run_id=p[:64])
    assert ids(gradient_method=p[:64]) == [rid]
    TRIALS["keyword criteria (tags, instance_id, wandb_run_id, gradient_method)"] += 1
    assert all(r.startswith(p) for r in ids(name_prefix=p))
    TRIALS["name_prefix (no wildcard)"] += 1
    if "." not in p:  # a dot separates config path segments in keyword criteria
        assert ids(config={p: p}) == [rid]
        assert ids(metrics={p: (">", 1)}) == [rid]
        TRIALS["config / metrics criteria keys and values"] += 1
    assert repo.get_history(rid, [p, p + "missing"]).keys() == {p}
    TRIALS["get_history keys"] += 1
    name = stripped or "o"
    assert rid in [r.run_id for r in repo.query_runs_by_objectives({name: ("<", 1)})]
    [method] = repo.compare_gradient_methods(name, statuses=["running"], instance_id=p[:64])
    assert (method.gradient_method, method.n, method.best_run_id) == (p[:64], 1, rid)
    TRIALS["objective names (query_runs_by_objectives, compare_gradient_methods)"] += 1
    assert not repo.run_exists(p + "' OR '1'='1")
    TRIALS["run id lookups"] += 1


def test_injection_strings_are_data_everywhere(canary_url: URL) -> None:
    with RunRepository.connect(canary_url) as repo:
        for i, payload in enumerate(TRIED):
            rid = f"inj-{i:04d}"
            for check in (_writes, _run_id_writes, _filters):
                try:
                    check(repo, payload, rid)
                except AssertionError as error:
                    message = f"payload {payload!r} ({check.__name__}): {error}"
                    raise AssertionError(message) from error
    positions = len(TRIALS)
    tried = sum(TRIALS.values())
    print(f"\ninjection: {len(TRIED)} payloads x {positions} positions = {tried} trials "
          f"({canary_url.get_backend_name()})")  # fmt: skip
    record(
        f"SQL injection ({canary_url.get_backend_name()})",
        payloads=len(TRIED),
        positions=positions,
        trials=tried,
        executed=0,
        canary="intact",
    )
    TRIALS.clear()
