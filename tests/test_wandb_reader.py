"""Our ``.wandb`` reader and the commit-rule mirror, against a real offline wandb run.

One wandb run (module fixture) is logged through every pattern W&B supports; the mirror's rows
must equal, row for row, what the reader finds in the file W&B wrote, and the reader's summary
and config must equal W&B's own.
"""

from __future__ import annotations

import math
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wandb  # a dev dependency: a missing wandb fails here, it does not skip
from hypothesis import given, settings
from hypothesis import strategies as st
from waiting import wait_for

from mangodb.errors import ValidationError
from mangodb.integrations.wandb import mirror as hook
from mangodb.integrations.wandb import snapshot
from mangodb.integrations.wandb.keys import SYSTEM_KEYS, flatten
from mangodb.integrations.wandb.logfile import (
    BLOCK,
    CHUNK_HEADER,
    FIRST,
    FULL,
    HEADER,
    LAST,
    MIDDLE,
    Framing,
    iter_payloads,
    read_run_log,
)


def log_every_pattern(run: Any) -> None:
    """The logging patterns of the issue: run.log, wandb.log, commit=False, step=, nested
    dicts, strings, media, numpy scalars, NaN, a step below the current one (dropped)."""
    run.log({"a": 1})
    run.log({"a": 2}, commit=False)
    run.log({"b": 2})
    wandb.log({"via_module": 1, "phase": "warmup", "nested": {"x": 1, "y": {"z": 2.5}}})
    run.log({"c": 1}, step=10)
    run.log({"d": np.float32(0.5)}, step=10)
    run.log({"e": 1}, step=11)
    run.log({"late": 1}, step=5)  # below the current step: W&B drops it
    run.log({"f": np.int64(7)})  # implicit call after explicit step: lands in step 11
    image = wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8))  # a media file under files/media
    histogram = wandb.Histogram(np_histogram=([1, 2], [0.0, 1.0, 2.0]))
    run.log({"hist": histogram, "g": math.nan, "sample": image})
    for i in range(40):
        run.log({"train/loss": 1.0 / (i + 1), "lr": 1e-3 * 0.9**i}, commit=i % 3 != 0)
    run.log({"val/acc": 0.75, "slash/key": -0.0, "inf": math.inf}, step=100)
    rng = random.Random(20261129)  # a seeded mix of every call shape, some steps dropped
    for _ in range(300):
        data = {rng.choice(("mix/a", "mix/b", "mix/c")): rng.random()}
        shape = rng.random()
        if shape < 0.3:
            run.log(data)
        elif shape < 0.5:
            run.log(data, commit=rng.choice((True, False)))
        else:
            target = run._local_step + rng.choice((-2, -1, 0, 0, 1, 1, 3))
            run.log(data, step=max(target, 0), commit=rng.choice((None, None, True, False)))
    run.summary["best_acc"] = 0.9
    run.config.update({"late_key": "after-start"})


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("wandb-reader")
    rows: list[tuple[int, dict[str, Any]]] = []
    run = wandb.init(
        project="mangodb-tests",
        dir=str(root),
        config={"lr": 1e-3, "model": {"depth": 4, "act": "relu"}},
    )
    mirror = hook.Mirror(lambda step, row: rows.append((step, row)), run=run)
    hook.install(run, mirror)
    try:
        log_every_pattern(run)
        mirror.commit(run)
        live_summary = snapshot.summary(run)
        live_config = snapshot.config(run)
    finally:
        hook.uninstall(run)
        run.finish()
    (path,) = root.glob("wandb/offline-run-*/run-*.wandb")
    # wandb-core may still be writing after finish()
    wait_for(lambda: read_run_log(path).has_exit, f"wandb-core to write the end of {path.name}")
    return {
        "path": path,
        "rows": rows,
        "summary": live_summary,
        "config": live_config,
        "run_id": run.id,
        "dropped": mirror.calls_dropped,
    }


def user_values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in SYSTEM_KEYS}


def same(a: Any, b: Any) -> bool:
    """JSON equality with NaN equal to NaN; W&B writes integral floats as integers (2.0 -> 2),
    so numbers compare by value."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if isinstance(b, bool):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_mirror_rows_equal_the_file_row_for_row(logged: dict[str, Any]) -> None:
    log = read_run_log(logged["path"])
    file_rows = [(row.step, user_values(row.values)) for row in log.history]
    mirrored = [(step, user_values(row)) for step, row in logged["rows"]]
    assert [s for s, _ in mirrored] == [s for s, _ in file_rows]
    for (step, mine), (_, theirs) in zip(mirrored, file_rows, strict=True):
        assert same(mine, theirs), f"step {step}: mirror {mine} != file {theirs}"
    assert logged["dropped"] > 1  # step=5 after 11, and some of the seeded mix
    assert all("_timestamp" in row for _, row in logged["rows"])
    by_step = dict(file_rows)
    assert by_step[2]["nested.y.z"] == 2.5 and by_step[2]["phase"] == "warmup"
    assert by_step[11] == {"e": 1, "f": 7}
    assert by_step[10] == {"c": 1, "d": 0.5}
    assert by_step[12]["hist"]["_type"] == "histogram"
    assert by_step[12]["sample"]["_type"] == "image-file"  # media mirrored as W&B writes it


def test_reader_summary_and_config_equal_wandbs(logged: dict[str, Any]) -> None:
    log = read_run_log(logged["path"])
    assert log.has_exit and log.exit_code == 0 and not log.torn
    assert log.run["run_id"] == logged["run_id"] and log.run["project"] == "mangodb-tests"
    drop = {"_runtime"}  # W&B's live summary has float seconds; the file has whole seconds
    assert same(
        {k: v for k, v in log.summary.items() if k not in drop},
        {k: v for k, v in logged["summary"].items() if k not in drop},
    )
    assert log.summary["best_acc"] == 0.9
    assert log.config == logged["config"]
    assert log.config["late_key"] == "after-start" and log.config["model"]["depth"] == 4


def truncated_copies(path: Path, tmp: Path, offsets: list[int]) -> list[tuple[int, Path]]:
    data = path.read_bytes()
    out = []
    for offset in offsets:
        target = tmp / f"cut-{offset}.wandb"
        target.write_bytes(data[:offset])
        out.append((offset, target))
    return out


def test_torn_tails_read_as_a_prefix(logged: dict[str, Any], tmp_path: Path) -> None:
    full = read_run_log(logged["path"])
    size = logged["path"].stat().st_size
    near_blocks = [b + d for b in range(BLOCK, size, BLOCK) for d in (-8, -7, -1, 0, 1, 6, 7, 8)]
    offsets = sorted({0, 3, 7, 8, 100, size - 1, size // 2, *near_blocks, *range(7, size, 997)})
    previous = -1
    for offset, copy in truncated_copies(logged["path"], tmp_path, offsets):
        log = read_run_log(copy)
        rows = [(r.step, r.values) for r in log.history]
        expected = [(r.step, r.values) for r in full.history[: len(rows)]]
        assert same(rows, expected), f"offset {offset}"
        assert log.framing.end <= offset
        assert len(rows) >= previous  # a longer prefix never reads fewer rows
        previous = len(rows)
        assert log.has_exit is (offset >= size)
        copy.unlink()
    # The longest prefixes read every row (a reader that read nothing would pass the above).
    assert previous == len(full.history) > 0


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=1 << 20), garbage=st.binary(max_size=64))
def test_torn_tail_with_garbage_never_raises(
    logged: dict[str, Any], cut: int, garbage: bytes
) -> None:
    data = logged["path"].read_bytes()
    cut = max(len(HEADER), cut % (len(data) + 1))  # a garbage header is rejected, rightly
    framing = Framing()
    payloads = list(iter_payloads(data[:cut] + garbage, framing))
    complete = list(iter_payloads(data))
    assert payloads == complete[: len(payloads)]
    assert framing.end <= cut + len(garbage)


def frame(payloads: list[bytes]) -> bytes:
    """Write payloads in W&B's log framing (the inverse of ``iter_payloads``)."""
    out = bytearray(HEADER)
    for payload in payloads:
        rest, first = payload, True
        while True:
            left = BLOCK - len(out) % BLOCK
            if left < CHUNK_HEADER:
                out += b"\x00" * left
                continue
            room = left - CHUNK_HEADER
            piece, rest = rest[:room], rest[room:]
            kind = (FULL if not rest else FIRST) if first else (LAST if not rest else MIDDLE)
            crc = zlib.crc32(piece, zlib.crc32(bytes([kind])))
            out += struct.pack("<IHB", crc, len(piece), kind) + piece
            first = False
            if not rest:
                break
    return bytes(out)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=70_000), max_size=6))
def test_framing_round_trip(payloads: list[bytes]) -> None:
    data = frame(payloads)
    framing = Framing()
    assert list(iter_payloads(data, framing)) == payloads
    assert framing.end == len(data) and not framing.torn


def test_not_a_wandb_file_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "run-x.wandb"
    bogus.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(ValidationError, match="not a W&B transaction log"):
        read_run_log(bogus)


def test_empty_and_header_only_files_read_as_empty(tmp_path: Path) -> None:
    for content in (b"", HEADER[:3], HEADER):
        path = tmp_path / "run-e.wandb"
        path.write_bytes(content)
        log = read_run_log(path)
        assert log.history == [] and not log.has_exit


def test_flatten_keeps_media_whole_and_joins_paths_with_dots() -> None:
    row = {"opt": {"lr": 1, "betas": {"b1": 0.9}}, "img": {"_type": "image-file", "path": "p"}}
    assert flatten(row) == {
        "opt.lr": 1,
        "opt.betas.b1": 0.9,
        "img": {"_type": "image-file", "path": "p"},
    }


def test_values_become_json() -> None:
    assert snapshot.to_json_value(np.float64(0.25)) == 0.25
    assert snapshot.to_json_value(np.array([1, 2])) == [1, 2]
    assert snapshot.to_json_value({"k": np.int8(3)}) == {"k": 3}

    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert snapshot.to_json_value(Opaque()) == "opaque"  # kept as text, never dropped


def test_mirror_rules_without_wandb() -> None:
    rows: list[tuple[int, dict[str, Any]]] = []
    mirror = hook.Mirror(lambda s, r: rows.append((s, r)))
    mirror.observe({"a": 1}, None, False)
    mirror.observe({"b": 2})
    mirror.observe({"c": 3}, 5)
    mirror.observe({"d": 4}, 5)
    mirror.observe({"late": 0}, 2, True)  # dropped, and its commit with it
    mirror.observe({"e": 5})
    mirror.observe({"f": 6}, None, False)
    assert rows == [(0, {"a": 1, "b": 2}), (5, {"c": 3, "d": 4, "e": 5})]
    assert mirror.pending and mirror.step == 6
    mirror.flush()
    assert rows[-1] == (6, {"f": 6}) and mirror.calls_dropped == 1


def test_missing_wandb_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mangodb.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "wandb", None)  # what an install without the extra sees
    path = tmp_path / "run-x.wandb"
    path.write_bytes(HEADER)
    with pytest.raises(MissingExtra, match=r"mangodb\[wandb\]") as info:
        read_run_log(path)
    assert info.value.extra == "wandb"


def test_importing_the_integration_and_cli_does_not_import_wandb() -> None:
    code = (
        "import sys, mangodb.integrations.wandb, mangodb.cli.app; "
        "print(sorted(m for m in sys.modules if m == 'wandb' or m.startswith('wandb.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
