"""What mangodb stores from a W&B run equals what W&B recorded, checked against W&B's own reader
of the run (``wandb leet inspect --json``): the history mirrored live by ``track``, the history
imported from the ``.wandb`` file, and W&B's record agree key for key, step for step and value
for value, for every data type wandb logs (tables, custom charts, media) and with
``define_metric`` in play. Real wandb, offline.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_wandb_reader import same
from test_wandb_track import history_as_rows, run_log

from mangodb import RunRepository
from mangodb.integrations.wandb import import_run, track
from mangodb.integrations.wandb import mirror as hook
from mangodb.integrations.wandb.corerules import as_written
from mangodb.integrations.wandb.logfile import RunLog

wandb = pytest.importorskip("wandb")

Rows = dict[int, dict[str, Any]]
NOT_MIRRORED = {"_runtime"}  # wandb-core's own clock: only an import of the file has it


# -- W&B's own record ---------------------------------------------------------------------------
def wandb_cli() -> str:
    beside = Path(sys.executable).with_name("wandb")
    found = str(beside) if beside.exists() else shutil.which("wandb")
    if found is None:
        pytest.fail("the wandb command line (wandb leet) is not installed")
    return found


def leet_history(run_dir: Path) -> Rows:
    """``wandb leet inspect --json``: one JSON record per line; history rows have their
    nested keys joined with "." and NaN/±Infinity spelled as strings."""
    done = subprocess.run(
        [wandb_cli(), "leet", "inspect", "--json", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows: Rows = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if record.get("type") == "history":
            item = dict(record["history"]["item"])
            rows[int(item.pop("_step"))] = item
    return rows


def leet_flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A row with every nested dict (media included) joined with ".", as leet shows it."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            out.update(leet_flat(value, name))
        else:
            out[name] = value
    return out


def leet_same(ours: Any, theirs: Any) -> bool:
    """Our value equals leet's: leet writes NaN/±Inf as strings and big numbers as integers.
    mangodb's history stores a logged bool as the number 1.0/0.0 (``mangodb.history.packing``)."""
    if isinstance(theirs, bool) and type(ours) is float:
        return ours == float(theirs)
    if isinstance(ours, float) and not math.isfinite(ours):
        spelled = "NaN" if math.isnan(ours) else ("Infinity" if ours > 0 else "-Infinity")
        return theirs == spelled
    numbers = (int, float)
    if isinstance(ours, numbers) and not isinstance(ours, bool):
        return (
            isinstance(theirs, numbers)
            and not isinstance(theirs, bool)
            and float(ours) == float(theirs)
        )
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(leet_same, ours, theirs))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(leet_same(ours[k], theirs[k]) for k in ours)
    return type(ours) is type(theirs) and ours == theirs


def identical(a: Any, b: Any) -> bool:
    """Same JSON value and type (int is not float, bool is not int); NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(identical, a, b))
    return type(a) is type(b) and a == b


# -- one tracked run, read back three ways -------------------------------------------------------
def tracked_run(
    repo: RunRepository, root: Path, run_id: str, calls: Callable[[Any], None]
) -> tuple[list[tuple[int, dict[str, Any]]], RunLog]:
    """Run ``calls(run)`` under ``track``; returns the rows the live mirror emitted and the
    run's ``.wandb`` file once W&B finished writing it."""
    emitted: list[tuple[int, dict[str, Any]]] = []
    run = wandb.init(project="mangodb-fidelity", dir=str(root), config={"lr": 0.1})
    try:
        with track(run, repo, run_id, heartbeat_seconds=3600) as tracker:
            store = tracker._mirror.emit
            assert store is not None

            def spy(step: int, row: dict[str, Any]) -> None:
                emitted.append((step, row))
                store(step, row)

            tracker._mirror.emit = spy
            calls(run)
    finally:
        run.finish()
    return emitted, run_log(root)


def assert_three_records_agree(
    repo: RunRepository,
    live_id: str,
    emitted: list[tuple[int, dict[str, Any]]],
    log: RunLog,
) -> None:
    # 1. What the mirror emitted is exactly what W&B wrote in the file (types included).
    file_rows = [(row.step, row.values) for row in log.history]
    assert [step for step, _ in emitted] == [step for step, _ in file_rows]
    for (step, mine), (_, theirs) in zip(emitted, file_rows, strict=True):
        theirs = {k: v for k, v in theirs.items() if k not in NOT_MIRRORED}
        assert identical(mine, theirs), f"step {step}: mirror {mine} != file {theirs}"
    # 2. What mangodb stored live equals what an import of the file stores.
    imported_id = f"{live_id}-imported"
    import_run(repo, log.path, run_id=imported_id, set_status=False)
    live, imported = history_as_rows(repo, live_id), history_as_rows(repo, imported_id)
    assert sorted(live) == sorted(imported) == [row.step for row in log.history]
    for step, row in imported.items():
        theirs = {k: v for k, v in row.items() if k not in NOT_MIRRORED}
        assert same(live[step], theirs), f"step {step}: live {live[step]} != import {theirs}"
    # 3. Both equal W&B's own record, as its reader shows it.
    leet = leet_history(log.path.parent)
    assert sorted(leet) == sorted(imported)
    for step, row in imported.items():
        mine, theirs = leet_flat(row), leet[step]
        assert mine.keys() == theirs.keys(), f"step {step}: {sorted(mine)} != {sorted(theirs)}"
        for key, value in mine.items():
            assert leet_same(value, theirs[key]), f"step {step} {key}: {value!r} != {theirs[key]!r}"
    # Import after live tracking adds W&B's _runtime only: no key twice, nothing new.
    import_run(repo, log.path, run_id=live_id)
    assert set(repo.history_keys(live_id)) == set(repo.history_keys(imported_id))


# -- the data types wandb logs ------------------------------------------------------------------
def table() -> Any:
    return wandb.Table(columns=["label", "value"], data=[["a", 1], ["b", 2.5]])


MEDIA: dict[str, Callable[[], Any]] = {
    "table": table,
    "bar": lambda: wandb.plot.bar(table(), "label", "value", title="bars"),
    "line": lambda: wandb.plot.line(table(), "value", "value", title="line"),
    "histogram": lambda: wandb.Histogram(np_histogram=([1, 2], [0.0, 1.0, 2.0])),
    "histogram-auto": lambda: wandb.Histogram([0.1, 0.2, 0.2, 0.9], num_bins=4),
    "html": lambda: wandb.Html("<b>mangodb</b>"),
    "image": lambda: wandb.Image(np.full((4, 4, 3), 7, dtype=np.uint8), caption="c"),
}


def test_charts_tables_and_media_are_stored_as_wandb_stores_them(
    repo: RunRepository, tmp_path: Path
) -> None:
    def calls(run: Any) -> None:
        run.define_metric("val/*", step_metric="epoch")
        run.define_metric("train/loss", summary="min,max")
        run.log({"val/acc": 0.5})  # before any epoch: W&B writes epoch 0
        run.log({"epoch": 1, "train/loss": 2.0})
        run.log({"val/acc": 0.75, "val/loss": 1.5})  # W&B adds epoch 1
        run.log({key: make() for key, make in MEDIA.items()})
        run.log({"nested": {"a": 1.0, "b": {"c": -0.0}}, "big": 2**70, "n": math.nan})

    emitted, log = tracked_run(repo, tmp_path, "charts", calls)
    assert_three_records_agree(repo, "charts", emitted, log)
    rows = history_as_rows(repo, "charts")
    assert rows[0]["epoch"] == 0 and rows[2]["epoch"] == 1  # define_metric's step_sync
    media = rows[3]
    assert "bar" not in media and media["bar_table"]["_type"] == "table-file"
    assert media["line_table"]["_type"] == "table-file"
    assert media["table"]["_type"] == "table-file" and media["html"]["_type"] == "html-file"
    assert media["image"]["_type"] == "image-file" and media["histogram"]["_type"] == "histogram"
    for row in rows.values():  # never a Python repr of a logged object
        assert not any(isinstance(v, str) and "object at 0x" in v for v in row.values())
    stored = repo.get_run("charts")
    assert same(stored.final_metrics["train/loss"], log.summary["train/loss"])
    assert log.summary["train/loss"] == {"min": 2, "max": 2}


# -- the property -------------------------------------------------------------------------------
KEYS = ["a", "loss", "val/x", "val/y", "train/loss", "deep/a/b", "epoch", "batch"]
MEDIA_KEYS = ["chart", "val/media", "m"]
SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0.0, -0.0, 2.0, 1e6, 123456.0, 2**63, -(2**63), 1e300, 5e-324]),
    st.booleans(),
    st.none(),
    st.text(alphabet="ab/ \n\"\\é", max_size=4),
)
VALUES = st.one_of(
    SCALARS,
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(
        st.sampled_from(["p", "q"]),
        st.one_of(SCALARS, st.dictionaries(st.just("r"), SCALARS, max_size=1)),
        max_size=2,
    ),
)
LOG = st.tuples(
    st.just("log"),
    st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=0, max_size=3),
    st.one_of(st.none(), st.tuples(st.sampled_from(MEDIA_KEYS), st.sampled_from(sorted(MEDIA)))),
    st.one_of(st.none(), st.integers(min_value=-1, max_value=2)),  # explicit step: a delta
    st.sampled_from([None, None, True, False]),
    st.sampled_from(["run.log", "wandb.log"]),
)
DEFINE = st.tuples(
    st.just("define"),
    st.sampled_from(["val/*", "train/*", "loss", "val/x", "a"]),
    st.sampled_from([None, "epoch", "batch"]),
    st.sampled_from([None, True, False]),  # step_sync
    st.sampled_from([None, True]),  # hidden
    st.sampled_from([None, "min", "max,last", "mean", "none"]),
    st.sampled_from([None, True]),  # overwrite
)
CALLS = st.lists(st.one_of(LOG, LOG, DEFINE), min_size=1, max_size=14)


def replay(run: Any, calls: list[tuple[Any, ...]]) -> None:
    for call in calls:
        if call[0] == "define":
            _, name, step_metric, step_sync, hidden, summary, overwrite = call
            run.define_metric(
                name,
                step_metric=step_metric,
                step_sync=step_sync,
                hidden=hidden,
                summary=summary,
                overwrite=overwrite,
            )
            continue
        _, data, media, delta, commit, via = call
        data = dict(data)
        if media is not None:
            data[media[0]] = MEDIA[media[1]]()
        log = run.log if via == "run.log" else wandb.log
        step = None if delta is None else max(run._local_step + delta, 0)
        log(data, step=step, commit=commit)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=CALLS)
def test_live_mirror_import_and_wandb_agree(
    repo: RunRepository, tmp_path_factory: pytest.TempPathFactory, calls: list[tuple[Any, ...]]
) -> None:
    root = tmp_path_factory.mktemp("fidelity")
    run_id = f"prop-{root.name}"
    emitted, log = tracked_run(repo, root, run_id, lambda run: replay(run, calls))
    assert_three_records_agree(repo, run_id, emitted, log)
    drop = {"_runtime", "_wandb"}
    stored = repo.get_run(run_id).final_metrics
    assert same(
        {k: v for k, v in stored.items() if k not in drop},
        {k: v for k, v in log.summary.items() if k not in drop},
    )


# -- the rules, without wandb ---------------------------------------------------------------------
def test_numbers_read_back_as_wandb_core_writes_them() -> None:
    assert identical(as_written(2.0), 2) and identical(as_written(-0.0), 0)
    assert identical(as_written(999999.0), 999999) and identical(as_written(1e6), 1e6)
    assert identical(as_written(2**63), 9.223372036854776e18)
    assert identical(as_written(-(2**63)), -(2**63)) and identical(as_written(10**400), math.inf)
    mixed = [1.0, {"k": 2.5}, "s", None, True]
    assert identical(as_written(mixed), [1, {"k": 2.5}, "s", None, True])


def test_mirror_merges_objects_leaf_by_leaf_and_applies_step_sync() -> None:
    rows: list[tuple[int, dict[str, Any]]] = []
    mirror = hook.Mirror(lambda s, r: rows.append((s, r)))
    mirror.metrics.define(glob="val/*", step_metric="epoch", step_sync=True)
    mirror.observe({"n": {"a": 1}}, None, False)
    mirror.observe({"n": {"b": 2.0}, "e": {}})
    mirror.observe({"val/x": 1})
    mirror.observe({"epoch": 3.0})
    mirror.observe({"val/x": 2, "epoch": "late"})  # a string epoch: kept, not synced
    mirror.observe({"val/x": 3})
    assert rows == [
        (0, {"n.a": 1, "n.b": 2}),
        (1, {"val/x": 1, "epoch": 0}),
        (2, {"epoch": 3}),
        (3, {"val/x": 2, "epoch": "late"}),
        (4, {"val/x": 3, "epoch": 3}),
    ]


DEFINE_BEFORE_TRACK = """
import sys, wandb
from mangodb import RunRepository
from mangodb.integrations.wandb import track
run = wandb.init(project="mangodb-fidelity", dir=sys.argv[1])
run.define_metric("val/*", step_metric="epoch")  # before track(): the usual place
run.log({"epoch": 2})
with RunRepository.connect(sys.argv[2]) as repo, track(run, repo, "early"):
    run.log({"val/loss": 0.5})
run.finish()
"""


def test_define_metric_before_track_is_applied(sqlite_url: Any, tmp_path: Path) -> None:
    """A fresh process, as a training script is: wandb imported first, then mangodb."""
    url = sqlite_url.render_as_string()
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(
        [sys.executable, "-c", DEFINE_BEFORE_TRACK, str(tmp_path), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    log = run_log(tmp_path)
    assert [(row.step, row.values.get("epoch")) for row in log.history] == [(0, 2), (1, 2)]
    with RunRepository.connect(url) as repo:
        history = repo.get_history("early")
    assert history["val/loss"].steps == [1] and history["epoch"].steps == [1]
    assert history["epoch"].values == [2]
